"""An invoice's latest plan as JSON, for `settle invoice show --json`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.store.models import Plan


def plan_document(session: Session, invoice_id: str) -> dict | None:
    """The invoice's latest plan with its installments, for `settle invoice show --json`."""
    plan = session.scalar(
        select(Plan).where(Plan.invoice_id == invoice_id).order_by(Plan.id.desc()).limit(1)
    )
    if plan is None:
        return None
    return {
        "id": plan.id,
        "status": plan.status,
        "installment_count": plan.installment_count,
        "interval": plan.interval,
        "total": plan.total_minor,
        "currency": plan.currency,
        "setup_session_id": plan.setup_session_id,
        "setup_url": plan.setup_url,
        "payment_method_id": plan.payment_method_id,
        "created_at": plan.created_at.isoformat(),
        "activated_at": plan.activated_at.isoformat() if plan.activated_at else None,
        "installments": [
            {
                "id": i.id,
                "seq": i.seq,
                "due_on": i.due_on.isoformat(),
                "amount": i.amount_minor,
                "status": i.status,
                "attempts": i.attempts,
                "provider_ref": i.provider_ref,
                "error": i.error,
                "paid_at": i.paid_at.isoformat() if i.paid_at else None,
                "next_attempt_at": i.next_attempt_at.isoformat() if i.next_attempt_at else None,
                "reminded_at": i.reminded_at.isoformat() if i.reminded_at else None,
            }
            for i in plan.installments
        ],
    }
