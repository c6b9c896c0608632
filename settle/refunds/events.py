"""What happens as Stripe reports a refund: the refund moves to Stripe's status, what was
paid drops once it has succeeded (reopening a paid invoice for staff when a balance is left),
and the customer is texted. refund.* and charge.refunded webhooks land here, and so does
Stripe's answer to Settle's own request (settle.refunds.issue).

A refund made outside Settle (the Stripe dashboard) is recorded from charge.refunded's
running total, so paid = payments - refunds holds whoever refunded.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.billing import disputes
from settle.billing.ledger import add_to_paid
from settle.config import Settings
from settle.core import audit
from settle.messaging.notify import notify_customer
from settle.refunds.records import OUTSIDE, outside_refunds_of, settle_refund_of
from settle.store.models import Customer, Invoice, Payment, Refund


def apply_refund_status(
    session: Session,
    settings: Settings,
    refund: Refund,
    status: str,
    actor: str,
    error: str | None = None,
) -> str:
    """Move the refund to Stripe's status; the first time it succeeds, text the customer."""
    mapped = {"succeeded": "succeeded", "failed": "failed", "canceled": "canceled"}.get(
        status, "pending"
    )
    # Locked and re-read: two webhooks for one refund (refund.updated, charge.refunded) apply
    # one after the other, so paid is lowered once, on the one move into succeeded.
    refund = session.get(Refund, refund.id, with_for_update=True, populate_existing=True)
    if refund.status == mapped or refund.status in ("succeeded", "canceled"):
        return "unchanged"
    refund.status = mapped
    if error:
        refund.error = error
    payment = session.get(Payment, refund.payment_id)
    if mapped == "succeeded":  # before the entry: what it reports (sync) is the invoice after
        _lower_paid(session, settings, payment, refund, actor)
    audit.record(
        session,
        actor,
        f"refund.{mapped}",
        f"payment:{refund.payment_id}",
        refund_id=refund.id,
        provider_ref=refund.provider_ref,
    )
    if mapped == "succeeded":
        notify_customer(
            session,
            settings,
            session.get(Customer, refund.customer_id),
            "refund_confirmed",
            idempotency_key=f"refund_confirmed:{refund.id}",
            actor=actor,
            money={"amount": (refund.amount_minor, refund.currency)},
            invoice=payment.invoice_id,
        )
    return f"refund_{mapped}"


def handle_refund_event(
    session: Session, settings: Settings, event_type: str, obj: dict, provider: str, event_id: str
) -> str | None:
    """refund.created / refund.updated / refund.failed and charge.refunded; None when the
    event is not about a refund Settle issued."""
    if event_type in ("refund.created", "refund.updated", "refund.failed"):
        refund = session.scalar(select(Refund).where(Refund.provider_ref == obj.get("id")))
        refund_id = (obj.get("metadata") or {}).get("refund_id")
        if refund is None and refund_id and str(refund_id).isdigit():
            refund = session.get(Refund, int(refund_id))
        if refund is None:
            return None
        if not refund.provider_ref and obj.get("id"):
            refund.provider_ref = obj["id"]
        status = "failed" if event_type == "refund.failed" else obj.get("status") or "pending"
        return apply_refund_status(
            session, settings, refund, status, provider, error=obj.get("failure_reason")
        )
    if event_type == "charge.refunded":
        payment = session.scalar(
            select(Payment).where(Payment.provider_ref == obj.get("payment_intent"))
        )
        if payment is None:
            return None
        return _charge_refunded(
            session, settings, payment, int(obj.get("amount_refunded") or 0), provider, event_id
        )
    return None


def _charge_refunded(
    session: Session,
    settings: Settings,
    payment: Payment,
    total_minor: int,
    provider: str,
    event_id: str,
) -> str:
    """Stripe's amount_refunded is the charge's running total. Settle's own refund counts
    toward it once it is covered; what the total holds beyond the refunds on record was
    refunded outside Settle (the Stripe dashboard) and is recorded all the same, as one more
    refund, however many partial ones there were."""
    session.get(Payment, payment.id, with_for_update=True)  # one report at a time per payment
    ours = settle_refund_of(session, payment.id)
    outcome = "unchanged"
    if (
        ours is not None
        and ours.status in ("requested", "pending")
        and total_minor >= ours.amount_minor
    ):
        outcome = apply_refund_status(session, settings, ours, "succeeded", provider)
    elif ours is not None and ours.status in ("requested", "pending"):
        return "refund_pending"
    counted = (ours.amount_minor if ours is not None and ours.status == "succeeded" else 0) + sum(
        r.amount_minor for r in outside_refunds_of(session, payment.id)
    )
    if total_minor <= counted:
        return outcome
    refund = Refund(
        payment_id=payment.id,
        customer_id=payment.invoice.customer_id,
        amount_minor=total_minor - counted,
        currency=payment.currency,
        reason=OUTSIDE,
        status="pending",
        idempotency_key=f"outside:{event_id}",
        provider_ref=None,
    )
    session.add(refund)
    session.flush()
    audit.record(
        session,
        provider,
        "refund.recorded_from_outside",
        f"payment:{payment.id}",
        refund_id=refund.id,
        amount_minor=refund.amount_minor,
        event_id=event_id,
        refunded_total_minor=total_minor,
    )
    return apply_refund_status(session, settings, refund, "succeeded", provider)


def _lower_paid(
    session: Session, settings: Settings, payment: Payment, refund: Refund, actor: str
) -> None:
    """What was paid drops by the refund (paid = payments − refunds). A refund that leaves a
    balance on a paid invoice reopens it, held for staff (an open dispute): its reminders
    and plan do not start again until a person decides."""
    was = session.get(
        Invoice, payment.invoice_id, with_for_update=True, populate_existing=True
    ).status
    invoice = add_to_paid(session, payment.invoice_id, -refund.amount_minor)
    if was == "paid" and invoice.balance_minor > 0:
        invoice.status = "open"
        disputes.open_dispute(
            session,
            invoice.customer_id,
            invoice.id,
            f"Refunded {refund.amount_minor} ({refund.reason}): the invoice has a "
            "balance again. Reminders wait until staff decide.",
            actor,
            settings,
        )
        audit.record(
            session,
            actor,
            "invoice.reopened",
            f"invoice:{invoice.id}",
            refund_id=refund.id,
            balance_minor=invoice.balance_minor,
        )
