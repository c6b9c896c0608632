"""Refunds inside the business's refund policy, never twice for one payment.

The refund row is written first, under UNIQUE(payment_id): of two racing requests (or an
action that runs twice) one inserts it and asks Stripe, the other finds it and answers
"already_refunded". Stripe is asked with an idempotency key made of the payment id, so even
a crash between Stripe's answer and our commit cannot refund twice. The customer is told
by text once Stripe reports the refund succeeded (its answer, or the refund.* /
charge.refunded webhooks, settle.refunds.events).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle.adapters.payments import PaymentGateway, PaymentGatewayError, RefundRequest
from settle.config import Settings
from settle.core import audit
from settle.messaging import staff
from settle.refunds.decision import RefundDecision, decide, decide_unknown_payment
from settle.refunds.events import apply_refund_status
from settle.refunds.records import load_facts, refund_key, settle_refund_of
from settle.rules.policy import STRIPE_REFUND_REASONS, Policy
from settle.store.db import Store
from settle.store.models import AuditEntry, Customer, Invoice, Payment, Refund, utcnow


@dataclass(frozen=True)
class RefundResult:
    status: str  # issued | already_refunded | refused | person | failed
    refund_id: int | None
    rule: str
    amount_minor: int


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
    approved: bool = False,
) -> RefundResult:
    """Refund payment_id (in full, or amount_minor) when the policy approves it.

    refused / person come back with the rule, for the conversation to explain and hand over;
    issued means Stripe accepted it (the customer is texted once it has succeeded). Three
    short steps, with no database lock held while Stripe answers: the decision and the
    refund row (the claim, with its idempotency key), the call, the answer. approved: a
    person (the console's work queue) approved what the policy left to a person.
    """
    with store.unit_of_work() as session:
        result, request = _claim_refund(
            session,
            gateway,
            settings,
            policy,
            customer_id,
            payment_id,
            reason,
            actor,
            amount_minor,
            now,
            approved,
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
        apply_refund_status(session, settings, refund, receipt.status, gateway.provider)
    return result


def _claim_refund(
    session: Session,
    gateway: PaymentGateway,
    settings: Settings,
    policy: Policy,
    customer_id: str,
    payment_id: int,
    reason: str,
    actor: str,
    amount_minor: int | None,
    now: dt.datetime | None,
    approved: bool = False,
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
    existing = settle_refund_of(session, payment_id)
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
    facts = load_facts(session, policy, payment_id, reason, amount_minor, now, gateway.provider)
    decision = decide(facts, policy, now) if facts else decide_unknown_payment(policy, amount_minor)
    if decision.rule == "other_provider":  # a person refunds it where it was paid
        audit.record(
            session,
            actor,
            "refund.person",
            f"payment:{payment_id}",
            rule="other_provider",
            provider=payment.provider,
        )
        return RefundResult("person", None, "other_provider", decision.amount_minor), None
    if decision.outcome == "person" and approved:
        decision = RefundDecision("approve", "approved_by_person", decision.amount_minor)
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
        if status == "person":
            staff.alert_staff(
                session,
                settings,
                "refund",
                _first_undecided_request(session, payment_id),
                customer_id=customer_id,
                invoice_id=payment.invoice_id,
                actor=actor,
            )
        return RefundResult(
            status, existing.id if existing else None, decision.rule, decision.amount_minor
        ), None

    key = refund_key(payment_id)
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
        winner = settle_refund_of(session, payment_id)
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


def _first_undecided_request(session: Session, payment_id: int) -> int:
    """The work-queue item a refund left to a person is (settle.console.queue): the first
    refund.person entry for the payment since a person last decided on it, so a customer
    who asks again is alerted about once."""
    subject = f"payment:{payment_id}"
    decided = select(func.max(AuditEntry.id)).where(
        AuditEntry.action.in_(("refund.approved", "refund.declined")), AuditEntry.subject == subject
    )
    return session.scalar(
        select(func.min(AuditEntry.id)).where(
            AuditEntry.action == "refund.person",
            AuditEntry.subject == subject,
            AuditEntry.id > func.coalesce(decided.scalar_subquery(), 0),
        )
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
