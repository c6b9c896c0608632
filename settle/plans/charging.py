"""The plan engine's pass: each installment due is claimed, then charged off-session.

Each installment is charged **off-session** on its date by the Settle service: a
PaymentIntent with `off_session=true, confirm=true` and an idempotency key made of the
installment's id and attempt number, after the installment row has been claimed, so two
workers (or a retried pass) never charge it twice, and a crash mid-call is repeated with
the same key and gets Stripe's first answer back.

Not a Stripe Subscription Schedule: installments differ by a few cents (the remainder goes on
the first), belong to one invoice rather than to a product price, and must stop, retry or be
paid by hand per the business's rules. With a schedule, Stripe would own the dates and the
amounts would need one price object per installment; here the billing store owns the
schedule, the retry rules and the reminders, and each charge is one plain payment that the
existing reconciliation records exactly once (Payment.provider_ref is the PaymentIntent id).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from settle.adapters.payments import OffSessionCharge, PaymentGateway, PaymentGatewayError
from settle.billing.disputes import open_dispute_of
from settle.config import Settings
from settle.core import audit
from settle.core.clock import customer_today
from settle.plans.installment_outcomes import record_installment_failed, record_installment_paid
from settle.plans.notices import send_decline_notices, send_installment_reminders
from settle.rules.policy import Policy
from settle.store import models
from settle.store.db import Store
from settle.store.models import Customer, Invoice, Plan, utcnow

log = logging.getLogger(__name__)

# A claimed installment whose charge got no answer (a crash, a timeout) is tried again after
# this long, with the same idempotency key: Stripe answers with the first result.
CLAIM_LEASE = dt.timedelta(minutes=15)
# A charge Stripe reports as processing is settled by its webhook; asked again after this.
PROCESSING_RECHECK = dt.timedelta(hours=6)


@dataclass
class ChargeSummary:
    """What one pass of charge_due_installments did (for logs, the CLI and tests)."""

    charged: int = 0
    failed: int = 0
    processing: int = 0
    unanswered: int = 0
    reminded: int = 0
    notified: int = 0  # decline texts queued (each with its pay-by-hand link)


def charge_due_installments(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    policy: Policy,
    now: dt.datetime | None = None,
    plan_id: int | None = None,
) -> ChargeSummary:
    """One pass of the plan engine: remind before upcoming installments, then charge each
    installment due today (in the customer's time zone) or due for a retry. Each charge is
    claimed in its own transaction first, so concurrent passes never charge one twice."""
    now = now or utcnow()
    summary = ChargeSummary()
    summary.reminded = send_installment_reminders(store, settings, policy, now, plan_id)
    for installment_id in _due_installments(store, now, plan_id):
        claim = _claim(store, installment_id, now)
        if claim is None:
            continue  # another pass took it, or it changed
        charge = OffSessionCharge(
            stripe_customer_id=claim["stripe_customer_id"],
            payment_method_id=claim["payment_method_id"],
            amount_minor=claim["amount_minor"],
            currency=claim["currency"],
            description=f"Invoice {claim['invoice_id']} installment {claim['seq']} of "
            f"{claim['count']}",
            idempotency_key=f"settle:installment:{installment_id}:{claim['attempt']}",
            metadata={
                "invoice_id": claim["invoice_id"],
                "plan_id": str(claim["plan_id"]),
                "installment_id": str(installment_id),
                "attempt": str(claim["attempt"]),
            },
        )
        try:
            result = gateway.charge_off_session(charge)
        except PaymentGatewayError as error:
            # Unknown whether it went through: the lease expires and the same key asks again.
            log.warning("Installment %s: no answer from the gateway: %s", installment_id, error)
            with store.unit_of_work() as session:
                audit.record(
                    session,
                    "settle",
                    "installment.charge_unanswered",
                    f"installment:{installment_id}",
                    error=str(error),
                    idempotency_key=charge.idempotency_key,
                )
            summary.unanswered += 1
            continue
        try:
            with store.unit_of_work() as session:
                installment = session.get(models.Installment, installment_id)
                if result.status == "succeeded" and result.id:
                    record_installment_paid(
                        session,
                        settings,
                        installment,
                        result.id,
                        gateway.provider,
                        "settle",
                        claim["amount_minor"],
                    )
                    summary.charged += 1
                elif result.status == "processing":
                    installment.provider_ref = result.id
                    installment.next_attempt_at = now + PROCESSING_RECHECK
                    summary.processing += 1
                else:
                    record_installment_failed(
                        session,
                        settings,
                        policy,
                        installment,
                        result.id,
                        result.error or "declined",
                        "settle",
                        now,
                    )
                    summary.failed += 1
        except IntegrityError:
            # Stripe's webhook for this very charge was recorded in between (same
            # provider_ref): the payment exists once, which is all that matters.
            log.info("Installment %s was settled by its webhook first", installment_id)
    summary.notified = send_decline_notices(store, gateway, settings, policy, now)
    return summary


def _due_installments(store: Store, now: dt.datetime, plan_id: int | None) -> list[int]:
    I = models.Installment  # noqa: E741 - short alias in the query
    with store.unit_of_work() as session:
        query = (
            select(I, Customer)
            .join(Plan, Plan.id == I.plan_id)
            .join(Customer, Customer.id == Plan.customer_id)
            .where(
                Plan.status == "active",
                I.due_on <= now.date() + dt.timedelta(days=1),  # time zones: filtered below
                or_(
                    and_(
                        I.status == "scheduled",
                        or_(I.next_attempt_at.is_(None), I.next_attempt_at <= now),
                    ),
                    and_(
                        I.status.in_(("failed", "processing")),
                        I.next_attempt_at.is_not(None),
                        I.next_attempt_at <= now,
                    ),
                ),
            )
            .order_by(I.due_on, I.id)
        )
        if plan_id is not None:
            query = query.where(Plan.id == plan_id)
        return [
            i.id
            for i, customer in session.execute(query).all()
            if i.due_on <= customer_today(customer.timezone, now)
        ]


def _claim(store: Store, installment_id: int, now: dt.datetime) -> dict | None:
    """Take the installment for one charge attempt (compare-and-set on status and attempts);
    None when another worker took it first."""
    I = models.Installment  # noqa: E741
    with store.unit_of_work() as session:
        installment = session.get(I, installment_id)
        if installment is None:
            return None
        plan = installment.plan
        status, attempts, due_at = (
            installment.status,
            installment.attempts,
            installment.next_attempt_at,
        )
        # Still due now? Another pass may have claimed (or settled) it since the list was made.
        if (
            plan.status != "active"
            or status == "paid"
            or (due_at is None and status != "scheduled")
            or (due_at is not None and due_at > now)
        ):
            return None
        # Never a charge for an invoice paid by other means, void or disputed, nor for more
        # than its balance.
        invoice = session.get(Invoice, plan.invoice_id, with_for_update=True)
        if invoice.status != "open" or invoice.balance_minor <= 0:
            plan.status = "completed" if invoice.status == "paid" else "cancelled"
            audit.record(
                session,
                "settle",
                "plan.stopped",
                f"invoice:{invoice.id}",
                plan_id=plan.id,
                reason=f"invoice {invoice.status}, nothing left to pay",
            )
            return None
        if open_dispute_of(session, invoice.id) is not None:
            return None  # paused while disputed: charged (or stopped) once a person decides
        if installment.amount_minor > invoice.balance_minor:  # never more than is owed
            audit.record(
                session,
                "settle",
                "installment.reduced",
                f"installment:{installment_id}",
                planned_minor=installment.amount_minor,
                balance_minor=invoice.balance_minor,
            )
            installment.amount_minor = invoice.balance_minor
        amount = installment.amount_minor
        # An unanswered attempt is asked again under its own number (same idempotency key).
        attempt = attempts if status == "processing" else attempts + 1
        unchanged = I.next_attempt_at.is_(None) if due_at is None else I.next_attempt_at == due_at
        claimed = session.execute(
            update(I)
            .where(I.id == installment_id, I.status == status, I.attempts == attempts, unchanged)
            .values(status="processing", attempts=attempt, next_attempt_at=now + CLAIM_LEASE)
        ).rowcount
        if claimed != 1:
            return None
        audit.record(
            session,
            "settle",
            "installment.claimed",
            f"installment:{installment_id}",
            attempt=attempt,
        )
        return {
            "attempt": attempt,
            "plan_id": plan.id,
            "invoice_id": plan.invoice_id,
            "seq": installment.seq,
            "count": plan.installment_count,
            "amount_minor": amount,
            "currency": plan.currency,
            "stripe_customer_id": plan.stripe_customer_id,
            "payment_method_id": plan.payment_method_id,
        }
