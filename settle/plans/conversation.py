"""What a conversation asks of payment plans: the plans an invoice of the customer's is
offered today (with the invoice and their today, to read the schedule aloud), and a plan
started with what the confirmation needs to say.

Plain arguments in, plain values out, so the Rasa actions know nothing of the database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from settle.adapters.payments import PaymentGateway
from settle.billing import ledger as billing
from settle.config import Settings
from settle.core.clock import customer_today
from settle.plans.eligibility import PlanOffer, plan_options
from settle.plans.setup import PlanStarted, start_plan
from settle.rules.policy import Policy
from settle.store.db import Store
from settle.store.models import Invoice


@dataclass(frozen=True)
class InvoicePlanOffer:
    """The plans offered for one of the customer's invoices, that invoice, and their today."""

    offer: PlanOffer
    invoice: billing.OpenInvoice
    today: dt.date


@dataclass(frozen=True)
class StartedPlan:
    """A plan started, the invoice's currency and the customer's today (to say the first
    installment's amount and day)."""

    started: PlanStarted
    currency: str
    today: dt.date


def plan_offer(
    store: Store, policy: Policy, customer_id: str, invoice_id: str
) -> InvoicePlanOffer | None:
    """The plans the rules allow for invoice_id today; None unless it is the customer's
    and something is owed on it."""
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None or invoice.customer_id != customer_id or invoice.balance_minor <= 0:
            return None
        today = customer_today(invoice.customer.timezone)
        offer = plan_options(session, policy, invoice_id, today)
        return InvoicePlanOffer(
            offer,
            billing.OpenInvoice(
                invoice.id,
                invoice.balance_minor,
                invoice.currency,
                invoice.due_on,
                invoice.issued_on,
                invoice.description,
            ),
            today,
        )


def start_plan_in_conversation(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    policy: Policy,
    customer_id: str,
    invoice_id: str,
    count: int,
    request_key: str,
    actor: str,
    conversation_id: str | None,
    channel: str | None,
    text_it: bool,
) -> StartedPlan:
    """Start the plan (settle.plans.setup.start_plan) and read what the answer needs.
    Raises PlanNotAvailable or PaymentGatewayError as start_plan does."""
    started = start_plan(
        store,
        gateway,
        settings,
        policy,
        customer_id,
        invoice_id,
        count,
        request_key,
        actor,
        conversation_id=conversation_id,
        channel=channel,
        text_it=text_it,
    )
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, invoice_id)
        return StartedPlan(started, invoice.currency, customer_today(invoice.customer.timezone))
