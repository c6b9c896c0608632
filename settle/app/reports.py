"""Reports for operators: what the business's rules (settle.rules.policy) mean for one customer,
for `settle policy explain`. Reads plans and refunds, so it sits above them, in the app."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.plans import plan_options
from settle.refunds import decide_payment, refundable_payments
from settle.rules.policy import SKILLS, Policy
from settle.store.models import Customer, Invoice


def explain(
    session: Session,
    policy: Policy,
    customer_id: str,
    invoice_id: str | None = None,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """What the rules mean for one customer: the plans each open invoice (or the one given)
    would be offered and why not, and whether each recent payment's refund would be approved,
    refused (and by which rule) or handed to a person."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise LookupError(f"no customer {customer_id!r}")
    now = now or dt.datetime.now(dt.timezone.utc)
    today = today or now.date()
    query = select(Invoice).where(Invoice.customer_id == customer_id)
    if invoice_id:
        query = query.where(Invoice.id == invoice_id)
    else:
        query = query.where(Invoice.status == "open")
    invoices = session.scalars(query.order_by(Invoice.due_on, Invoice.id)).all()
    if invoice_id and not invoices:
        raise LookupError(f"no invoice {invoice_id!r} for customer {customer_id!r}")
    result: dict[str, Any] = {
        "customer_id": customer_id,
        "today": today.isoformat(),
        "skills": {s: policy.skills.enabled(s) for s in SKILLS},
        "invoices": [],
        "payments": [],
    }
    for invoice in invoices:
        offer = plan_options(session, policy, invoice.id, today)
        result["invoices"].append(
            {
                "invoice_id": invoice.id,
                "status": invoice.status,
                "balance_minor": invoice.balance_minor,
                "currency": invoice.currency,
                "plans_eligible": offer.eligible,
                "reason": offer.reason,
                "options": [option.describe() for option in offer.options],
                "default_count": offer.default.count if offer.default else None,
            }
        )
    for payment in refundable_payments(session, customer_id, now):
        if invoice_id and payment.invoice_id != invoice_id:
            continue
        decision = decide_payment(session, policy, payment.id, _first_reason(policy), now=now)
        result["payments"].append(
            {
                "payment_id": payment.id,
                "invoice_id": payment.invoice_id,
                "amount_minor": payment.amount_minor,
                "currency": payment.currency,
                "paid_at": payment.paid_at.isoformat(),
                "refunded_minor": payment.refunded_minor,
                "refund": decision.outcome,
                "rule": decision.rule,
                "handoff_phone": policy.handoff.phone_for("refunds")
                if decision.outcome == "person"
                else None,
            }
        )
    return result


def _first_reason(policy: Policy) -> str:
    """explain() judges each payment for a reason the policy accepts (or, if none, any)."""
    return policy.refunds.reasons[0] if policy.refunds.reasons else "duplicate"
