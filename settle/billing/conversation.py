"""What a conversation reads and records of a customer's account, each call in a unit of
work of its own: open invoices, the phone and language on file, the latest payment, a
keypad payment offered, a dispute, a hand-off and a stop to messages.

Plain arguments in, plain values out (never an ORM object that outlives its session), so
the Rasa actions can run these off the event loop and know nothing of the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from settle.billing import disputes, handoff, identity
from settle.billing import ledger as billing
from settle.config import Settings
from settle.core import audit
from settle.messaging.consent import record_opt_out
from settle.privacy.cards import mask_card_numbers
from settle.store.db import Store
from settle.store.models import Customer, Invoice, Payment


def open_invoices(store: Store, customer_id: str) -> list[billing.OpenInvoice]:
    """The customer's open invoices."""
    with store.unit_of_work() as session:
        return billing.open_invoices(session, customer_id)


def phone_on_file(store: Store, customer_id: str) -> str:
    """The customer's phone number on file (E.164)."""
    with store.unit_of_work() as session:
        return session.get(Customer, customer_id).phone


def language_on_file(store: Store, phone: str | None, region: str) -> str | None:
    """The language stored for the customer with this number, if there is one."""
    with store.unit_of_work() as session:
        customer = identity.customer_by_phone(session, phone, region)
        return customer.language if customer else None


@dataclass(frozen=True)
class LatestPayment:
    """The customer's most recent payment and what its invoice still owes."""

    amount_minor: int
    currency: str
    invoice_id: str
    balance_minor: int


def latest_payment(store: Store, customer_id: str) -> LatestPayment | None:
    """The customer's most recent payment, on any of their invoices."""
    with store.unit_of_work() as session:
        payment = session.scalars(
            select(Payment)
            .join(Invoice)
            .where(Invoice.customer_id == customer_id)
            .order_by(Payment.id.desc())
        ).first()
        if payment is None:
            return None
        return LatestPayment(
            payment.amount_minor,
            payment.currency,
            payment.invoice_id,
            payment.invoice.balance_minor,
        )


def record_keypad_offer(store: Store, actor: str, invoice: billing.OpenInvoice) -> None:
    """Audit that a caller was put through to pay invoice by keypad."""
    with store.unit_of_work() as session:
        audit.record(
            session,
            actor,
            "payment.keypad_started",
            f"invoice:{invoice.id}",
            amount_minor=invoice.balance_minor,
            currency=invoice.currency,
        )


def record_dispute(
    store: Store,
    actor: str,
    customer_id: str,
    invoice_id: str,
    reason: str,
    settings: Settings | None = None,
) -> int:
    """Record the customer's dispute of invoice_id in their own words; returns its id.
    With settings, staff are alerted."""
    with store.unit_of_work() as session:
        # The customer's words are kept for the person who reviews it, minus any card number.
        dispute = disputes.open_dispute(
            session, customer_id, invoice_id, mask_card_numbers(reason), actor, settings
        )
        session.flush()
        return dispute.id


def record_handoff(
    store: Store, actor: str, reason: str, summary: dict[str, Any], settings: Settings | None = None
) -> int:
    """Record a hand-off to a person with the conversation's summary; returns its reference.
    With settings, staff are alerted."""
    with store.unit_of_work() as session:
        return handoff.record_handoff(session, actor, reason, summary, settings)


def stop_messages_to(store: Store, phone: str, source: str, actor: str) -> None:
    """The number gets no more messages."""
    with store.unit_of_work() as session:
        record_opt_out(session, phone, source, actor)


def stop_messages_to_customer(store: Store, customer_id: str, source: str, actor: str) -> str:
    """The phone on file of the customer gets no more messages; returns that phone."""
    phone = phone_on_file(store, customer_id)
    stop_messages_to(store, phone, source, actor)
    return phone
