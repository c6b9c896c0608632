"""An installment's charge answered: paid (one Payment, the balance lowered, a receipt, the
plan completed with its last installment) or declined (a retry scheduled, or the plan
failed). The charge pass and the webhooks both record through here, exactly once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.billing.ledger import add_to_paid
from settle.config import Settings
from settle.core import audit
from settle.messaging.notify import notify_customer
from settle.rules.policy import Policy
from settle.store.models import Customer, Invoice, Payment, Plan, utcnow


def record_installment_paid(
    session: Session,
    settings: Settings,
    installment,
    intent_id: str,
    provider: str,
    actor: str,
    amount_minor: int | None = None,
) -> str:
    """A successful charge: one Payment (provider_ref = the PaymentIntent, so a webhook for
    the same charge is a no-op), the invoice balance lowered, a receipt; the last one closes
    the plan and the invoice."""
    if session.scalar(select(Payment.id).where(Payment.provider_ref == intent_id)) is not None:
        return "duplicate"
    plan: Plan = installment.plan
    invoice = session.get(Invoice, plan.invoice_id)
    amount_minor = installment.amount_minor if amount_minor is None else amount_minor
    payment = Payment(
        invoice_id=invoice.id,
        amount_minor=amount_minor,
        currency=plan.currency,
        provider=provider,
        provider_ref=intent_id,
    )
    session.add(payment)
    invoice = add_to_paid(session, invoice.id, amount_minor)
    installment.status, installment.paid_at = "paid", utcnow()
    installment.provider_ref, installment.next_attempt_at, installment.error = intent_id, None, None
    session.flush()
    audit.record(
        session,
        actor,
        "installment.paid",
        f"invoice:{invoice.id}",
        plan_id=plan.id,
        installment_id=installment.id,
        seq=installment.seq,
        payment_id=payment.id,
        amount_minor=installment.amount_minor,
        provider_ref=intent_id,
        balance_minor=invoice.balance_minor,
    )
    # After the installment's entry: the billing system hears it paid, then the plan done.
    completed = complete_plan_if_paid(session, plan, invoice, actor)
    notify_customer(
        session,
        settings,
        session.get(Customer, plan.customer_id),
        "plan_completed" if completed else "installment_paid",
        idempotency_key=f"installment_paid:{installment.id}",
        actor=actor,
        money={
            "amount": (installment.amount_minor, plan.currency),
            "balance": (invoice.balance_minor, plan.currency),
        },
        invoice=invoice.id,
        seq=installment.seq,
        count=plan.installment_count,
    )
    return "plan_completed" if completed else "installment_paid"


def complete_plan_if_paid(session: Session, plan: Plan, invoice: Invoice, actor: str) -> bool:
    """Complete the plan (and mark the invoice paid when nothing is left) once every
    installment is paid; whether it did."""
    if any(i.status != "paid" for i in plan.installments):
        return False
    plan.status = "completed"
    if invoice.balance_minor == 0:
        invoice.status = "paid"
    audit.record(
        session,
        actor,
        "plan.completed",
        f"invoice:{invoice.id}",
        plan_id=plan.id,
        invoice_status=invoice.status,
    )
    return True


def record_installment_failed(
    session: Session,
    settings: Settings,
    policy: Policy,
    installment,
    intent_id: str | None,
    error: str,
    actor: str,
    now: dt.datetime | None = None,
) -> str:
    """A declined charge: the attempt is marked failed, and another attempt is scheduled while
    retries are left (else the plan fails and a person follows up). The customer's text, with
    a link to pay that installment by hand, follows from send_decline_notices, after this
    transaction: no Stripe call is made while it holds its locks."""
    now = now or utcnow()
    if installment.status == "paid" or (
        installment.status == "failed" and installment.provider_ref == intent_id
    ):
        return "duplicate"
    plan: Plan = installment.plan
    retries_left = installment.attempts <= policy.plans.retry_attempts
    installment.status, installment.error = "failed", error
    if intent_id:
        installment.provider_ref = intent_id
    installment.next_attempt_at = (
        now + dt.timedelta(days=policy.plans.retry_days) if retries_left else None
    )
    if not retries_left:
        plan.status = "failed"
    audit.record(
        session,
        actor,
        "installment.failed",
        f"invoice:{plan.invoice_id}",
        plan_id=plan.id,
        installment_id=installment.id,
        attempt=installment.attempts,
        provider_ref=intent_id,
        error=error,
        next_attempt_at=installment.next_attempt_at.isoformat()
        if installment.next_attempt_at
        else None,
        plan_status=plan.status,
    )
    return "installment_failed" if retries_left else "plan_failed"
