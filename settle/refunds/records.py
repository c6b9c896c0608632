"""What is on record about refunds: a customer's refundable payments, a payment's refunds,
an invoice's refunds document, and the facts the refund policy decides on.

Reads only: the session is read here and nowhere in the decision itself
(`settle.refunds.decision`), so the policy can be judged without a database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from settle.refunds.decision import (
    PriorRefund,
    RefundDecision,
    RefundFacts,
    decide,
    decide_unknown_payment,
)
from settle.rules.policy import Policy
from settle.store.models import Credit, Invoice, Payment, Refund, utcnow

# Refunds that count against the per-customer limit (a failed or canceled one moved no money).
COUNTED = ("requested", "pending", "succeeded")
OUTSIDE = "outside_settle"  # the reason of a refund made outside Settle (the Stripe dashboard)


@dataclass(frozen=True)
class PaymentSummary:
    id: int
    invoice_id: str
    amount_minor: int
    currency: str
    paid_at: dt.datetime
    refunded_minor: int


def refundable_payments(
    session: Session, customer_id: str, now: dt.datetime | None = None, limit: int = 10
) -> list[PaymentSummary]:
    """The customer's payments, most recent first, with what was already refunded."""
    now = now or utcnow()
    refunded = (
        select(Refund.payment_id, func.sum(Refund.amount_minor).label("minor"))
        .where(Refund.status.in_(COUNTED))
        .group_by(Refund.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(Payment, func.coalesce(refunded.c.minor, 0))
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .outerjoin(refunded, refunded.c.payment_id == Payment.id)
        .where(Invoice.customer_id == customer_id, Payment.created_at <= now)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    ).all()
    return [
        PaymentSummary(p.id, p.invoice_id, p.amount_minor, p.currency, p.created_at, int(minor))
        for p, minor in rows
    ]


def refund_key(payment_id: int) -> str:
    """The idempotency key of Settle's refund of a payment (one per payment)."""
    return f"settle:refund:{payment_id}"


def settle_refund_of(session: Session, payment_id: int) -> Refund | None:
    """The refund Settle asked Stripe for (one per payment, by its idempotency key)."""
    return session.scalar(select(Refund).where(Refund.idempotency_key == refund_key(payment_id)))


def outside_refunds_of(session: Session, payment_id: int) -> list[Refund]:
    """The payment's refunds made outside Settle that did not fail or get canceled."""
    return list(
        session.scalars(
            select(Refund).where(
                Refund.payment_id == payment_id,
                Refund.reason == OUTSIDE,
                Refund.status.not_in(("failed", "canceled")),
            )
        )
    )


def load_facts(
    session: Session,
    policy: Policy,
    payment_id: int,
    reason: str,
    amount_minor: int | None,
    now: dt.datetime,
    refunds_through: str | None = None,
) -> RefundFacts | None:
    """The facts the policy decides a refund of payment_id on; None when there is no such
    payment. refunds_through: the provider the refund would go through, when one would."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        return None
    customer_id = session.get(Invoice, payment.invoice_id).customer_id
    ours = settle_refund_of(session, payment_id)
    refunded = ((PriorRefund(ours.status, by_settle=True),) if ours is not None else ()) + tuple(
        PriorRefund(r.status, by_settle=False) for r in outside_refunds_of(session, payment_id)
    )
    recent = session.scalar(
        select(func.count(Refund.id)).where(
            Refund.customer_id == customer_id,
            Refund.status.in_(COUNTED),
            Refund.created_at >= now - dt.timedelta(days=policy.refunds.period_days),
        )
    )
    # What staff kept of it as the customer's credit (settle.billing.credits) is no longer
    # the payment's to refund: the credit pays their invoices instead.
    kept = session.scalar(select(Credit.amount_minor).where(Credit.payment_id == payment_id))
    return RefundFacts(
        payment_minor=payment.amount_minor - (kept or 0),
        paid_at=payment.created_at,
        provider=payment.provider,
        refunded=refunded,
        recent_refunds=int(recent or 0),
        reason=reason,
        requested_minor=amount_minor,
        refunds_through=refunds_through,
    )


def decide_payment(
    session: Session,
    policy: Policy,
    payment_id: int,
    reason: str,
    amount_minor: int | None = None,
    now: dt.datetime | None = None,
) -> RefundDecision:
    """What the refund policy says about refunding payment_id (all of it, or amount_minor)."""
    now = now or utcnow()
    facts = load_facts(session, policy, payment_id, reason, amount_minor, now)
    if facts is None:
        return decide_unknown_payment(policy, amount_minor)
    return decide(facts, policy, now)


def refunds_document(session: Session, invoice_id: str) -> list:
    """The invoice's refunds, for `settle invoice show --json`."""
    rows = session.scalars(
        select(Refund)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Payment.invoice_id == invoice_id)
        .order_by(Refund.id)
    ).all()
    return [
        {
            "id": r.id,
            "payment_id": r.payment_id,
            "amount": r.amount_minor,
            "currency": r.currency,
            "reason": r.reason,
            "status": r.status,
            "provider_ref": r.provider_ref,
            "error": r.error,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]
