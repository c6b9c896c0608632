"""Refunds inside the business's refund policy, never twice for one payment.

The refund row is written first, under UNIQUE(payment_id): of two racing requests (or an
action that runs twice) one inserts it and asks Stripe, the other finds it and answers
"already_refunded". Stripe is asked with an idempotency key made of the payment id, so even
a crash between Stripe's answer and our commit cannot refund twice. The customer is told
by text once Stripe reports the refund succeeded (its answer, or the refund.* /
charge.refunded webhooks).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle.adapters.payments import PaymentGateway, PaymentGatewayError, RefundRequest
from settle.billing import disputes
from settle.billing.ledger import add_to_paid
from settle.config import Settings
from settle.core import audit, i18n
from settle.core.money import format_money
from settle.messaging.outbox import queue_sms
from settle.policy import STRIPE_REFUND_REASONS, Policy
from settle.store.db import Store
from settle.store.models import Customer, Invoice, Payment, Refund, utcnow

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class RefundDecision:
    outcome: str  # approve | refuse | person
    rule: str  # which rule decided, e.g. "outside_window"
    amount_minor: int


@dataclass(frozen=True)
class RefundResult:
    status: str  # issued | already_refunded | refused | person | failed
    refund_id: int | None
    rule: str
    amount_minor: int


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


def _settle_refund_of(session: Session, payment_id: int) -> Refund | None:
    """The refund Settle asked Stripe for (one per payment, by its idempotency key)."""
    return session.scalar(select(Refund).where(Refund.idempotency_key == _refund_key(payment_id)))


def _refund_key(payment_id: int) -> str:
    return f"settle:refund:{payment_id}"


def _outside_refunds_of(session: Session, payment_id: int) -> list[Refund]:
    return list(
        session.scalars(
            select(Refund).where(
                Refund.payment_id == payment_id,
                Refund.reason == OUTSIDE,
                Refund.status.not_in(("failed", "canceled")),
            )
        )
    )


def decide(
    session: Session,
    policy: Policy,
    payment_id: int,
    reason: str,
    amount_minor: int | None = None,
    now: dt.datetime | None = None,
) -> RefundDecision:
    """What the refund policy says about refunding payment_id (all of it, or amount_minor)."""
    now = now or utcnow()
    rules = policy.refunds
    payment = session.get(Payment, payment_id)
    amount = payment.amount_minor if payment and amount_minor is None else (amount_minor or 0)
    if not policy.skills.refunds:
        return RefundDecision("person", "refunds_disabled", amount)
    if payment is None:
        return RefundDecision("refuse", "unknown_payment", amount)
    customer_id = session.get(Invoice, payment.invoice_id).customer_id
    existing = _settle_refund_of(session, payment_id)
    if (existing is not None and existing.status != "failed") or _outside_refunds_of(
        session, payment_id
    ):
        return RefundDecision("refuse", "already_refunded", amount)
    if reason not in rules.reasons:
        return RefundDecision("refuse", "reason_not_accepted", amount)
    if now - payment.created_at > dt.timedelta(days=rules.window_days):
        return RefundDecision("refuse", "outside_window", amount)
    if amount <= 0 or amount > payment.amount_minor:
        return RefundDecision("refuse", "invalid_amount", amount)
    if amount < payment.amount_minor and not rules.partial_allowed:
        return RefundDecision("refuse", "partial_not_allowed", amount)
    recent = session.scalar(
        select(func.count(Refund.id)).where(
            Refund.customer_id == customer_id,
            Refund.status.in_(COUNTED),
            Refund.created_at >= now - dt.timedelta(days=rules.period_days),
        )
    )
    if recent >= rules.max_per_customer:
        return RefundDecision("refuse", "too_many_refunds", amount)
    if amount > rules.auto_approve_limit_minor:
        return RefundDecision("person", "over_auto_approve_limit", amount)
    if existing is not None:  # an earlier attempt failed at Stripe: a person looks at it
        return RefundDecision("person", "previous_refund_failed", amount)
    return RefundDecision("approve", "within_policy", amount)


# A refund left "requested" longer than this was cut off before Stripe answered (a crash):
# the next request for it sends the same key again, and Stripe answers as it did the first time.
CUT_OFF_AFTER = dt.timedelta(minutes=2)


def issue_refund(
    store: Store,
    gateway: PaymentGateway,
    settings: Settings,
    policy: Policy,
    customer_id: str,
    payment_id: int,
    reason: str,
    actor: str,
    amount_minor: int | None = None,
    now: dt.datetime | None = None,
) -> RefundResult:
    """Refund payment_id (in full, or amount_minor) when the policy approves it.

    refused / person come back with the rule, for the conversation to explain and hand over;
    issued means Stripe accepted it (the customer is texted once it has succeeded). Three
    short steps, with no database lock held while Stripe answers: the decision and the
    refund row (the claim, with its idempotency key), the call, the answer.
    """
    with store.unit_of_work() as session:
        result, request = _claim_refund(
            session, gateway, policy, customer_id, payment_id, reason, actor, amount_minor, now
        )
    if request is None:
        return result
    try:
        receipt = gateway.refund(request)
    except PaymentGatewayError as error:
        with store.unit_of_work() as session:
            refund = session.get(Refund, result.refund_id, with_for_update=True)
            if refund.status == "requested":  # a webhook may have settled it meanwhile
                refund.status, refund.error = "failed", str(error)
            audit.record(
                session,
                actor,
                "refund.failed",
                f"payment:{payment_id}",
                refund_id=refund.id,
                error=str(error),
            )
        return RefundResult("failed", result.refund_id, "gateway_error", result.amount_minor)
    with store.unit_of_work() as session:
        refund = session.get(Refund, result.refund_id)
        refund.provider_ref = refund.provider_ref or receipt.id
        if refund.status == "requested":
            refund.status = "pending"
        audit.record(
            session,
            actor,
            "refund.issued",
            f"payment:{payment_id}",
            refund_id=refund.id,
            provider_ref=receipt.id,
            provider_status=receipt.status,
        )
        _apply_status(session, settings, refund, receipt.status, gateway.provider)
    return result


def _claim_refund(
    session: Session,
    gateway: PaymentGateway,
    policy: Policy,
    customer_id: str,
    payment_id: int,
    reason: str,
    actor: str,
    amount_minor: int | None,
    now: dt.datetime | None,
) -> tuple:
    """(result, the request to send, or None when there is nothing to send)."""
    now = now or utcnow()
    # One refund decision per customer at a time (the per-customer cap counts the others).
    session.get(Customer, customer_id, with_for_update=True)
    payment = session.get(Payment, payment_id)
    if payment is None or session.get(Invoice, payment.invoice_id).customer_id != customer_id:
        audit.record(
            session,
            actor,
            "refund.refused",
            f"payment:{payment_id}",
            rule="not_your_payment",
            customer_id=customer_id,
        )
        return RefundResult("refused", None, "not_your_payment", amount_minor or 0), None
    existing = _settle_refund_of(session, payment_id)
    if (
        existing is not None
        and existing.status == "requested"
        and existing.created_at < now - CUT_OFF_AFTER
    ):
        return (
            RefundResult("issued", existing.id, "within_policy", existing.amount_minor),
            _request(existing, payment, customer_id),
        )
    if existing is not None and existing.status != "failed":
        return RefundResult(
            "already_refunded", existing.id, "already_refunded", existing.amount_minor
        ), None
    decision = decide(session, policy, payment_id, reason, amount_minor, now)
    if decision.outcome != "approve":
        status = "refused" if decision.outcome == "refuse" else "person"
        audit.record(
            session,
            actor,
            f"refund.{status}",
            f"payment:{payment_id}",
            rule=decision.rule,
            reason=reason,
            amount_minor=decision.amount_minor,
        )
        return RefundResult(
            status, existing.id if existing else None, decision.rule, decision.amount_minor
        ), None
    if payment.provider != gateway.provider:
        audit.record(
            session,
            actor,
            "refund.person",
            f"payment:{payment_id}",
            rule="other_provider",
            provider=payment.provider,
        )
        return RefundResult("person", None, "other_provider", decision.amount_minor), None

    key = _refund_key(payment_id)
    refund = Refund(
        payment_id=payment_id,
        customer_id=customer_id,
        amount_minor=decision.amount_minor,
        currency=payment.currency,
        reason=reason,
        status="requested",
        idempotency_key=key,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(refund)
    except IntegrityError:  # a racing request inserted it first: it asks Stripe, not us
        winner = _settle_refund_of(session, payment_id)
        return RefundResult(
            "already_refunded",
            winner.id if winner else None,
            "already_refunded",
            decision.amount_minor,
        ), None
    audit.record(
        session,
        actor,
        "refund.requested",
        f"payment:{payment_id}",
        refund_id=refund.id,
        amount_minor=refund.amount_minor,
        reason=reason,
        idempotency_key=key,
    )
    return (
        RefundResult("issued", refund.id, "within_policy", refund.amount_minor),
        _request(refund, payment, customer_id),
    )


def _request(refund: Refund, payment: Payment, customer_id: str) -> RefundRequest:
    """Always the same request for the same refund row: its key goes with these values."""
    return RefundRequest(
        payment_intent=payment.provider_ref,
        amount_minor=refund.amount_minor,
        reason=STRIPE_REFUND_REASONS.get(refund.reason, "requested_by_customer"),
        idempotency_key=refund.idempotency_key,
        metadata={
            "refund_id": str(refund.id),
            "payment_id": str(payment.id),
            "invoice_id": payment.invoice_id,
            "customer_id": customer_id,
            "reason": refund.reason,
        },
    )


def _apply_status(
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
    audit.record(
        session,
        actor,
        f"refund.{mapped}",
        f"payment:{refund.payment_id}",
        refund_id=refund.id,
        provider_ref=refund.provider_ref,
    )
    if mapped == "succeeded":
        payment = session.get(Payment, refund.payment_id)
        _lower_paid(session, payment, refund, actor)
        customer = session.get(Customer, refund.customer_id)
        locale = i18n.locale_for(customer.language, settings.business.default_region)
        queue_sms(
            session,
            customer.phone,
            i18n.text(
                "refund_confirmed",
                customer.language,
                business=settings.business.name,
                invoice=payment.invoice_id,
                amount=format_money(refund.amount_minor, refund.currency, locale),
            ),
            key=f"refund_confirmed:{refund.id}",
            actor=actor,
            customer_id=customer.id,
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
        return _apply_status(
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
    ours = _settle_refund_of(session, payment.id)
    outcome = "unchanged"
    if (
        ours is not None
        and ours.status in ("requested", "pending")
        and total_minor >= ours.amount_minor
    ):
        outcome = _apply_status(session, settings, ours, "succeeded", provider)
    elif ours is not None and ours.status in ("requested", "pending"):
        return "refund_pending"
    counted = (ours.amount_minor if ours is not None and ours.status == "succeeded" else 0) + sum(
        r.amount_minor for r in _outside_refunds_of(session, payment.id)
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
    return _apply_status(session, settings, refund, "succeeded", provider)


def _lower_paid(session: Session, payment: Payment, refund: Refund, actor: str) -> None:
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
        )
        audit.record(
            session,
            actor,
            "invoice.reopened",
            f"invoice:{invoice.id}",
            refund_id=refund.id,
            balance_minor=invoice.balance_minor,
        )


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
