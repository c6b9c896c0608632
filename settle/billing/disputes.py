"""Disputes: the customer says they do not owe an invoice. Settle records why, stops
chasing it (the reminder engine skips invoices with an open dispute, and no plan is
offered for one) and hands it to a person."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.config import Settings
from settle.core import audit
from settle.messaging import staff
from settle.store.models import Dispute, Invoice, utcnow


class NotDisputable(Exception):
    """The invoice is not this customer's."""


def open_dispute(
    session: Session,
    customer_id: str,
    invoice_id: str,
    reason_text: str,
    actor: str,
    settings: Settings | None = None,
) -> Dispute:
    """Record the customer's dispute of invoice_id; one open dispute per invoice (a second
    request returns the first, its reason kept). With settings, staff are alerted
    (settle.messaging.staff)."""
    # Locked, so two racing requests record one dispute (SQLite locks the database anyway).
    invoice = session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None or invoice.customer_id != customer_id:
        raise NotDisputable(f"invoice {invoice_id} is not an invoice of customer {customer_id}")
    existing = open_dispute_of(session, invoice_id)
    if existing is not None:
        return existing
    dispute = Dispute(
        invoice_id=invoice_id,
        customer_id=customer_id,
        reason=(reason_text or "").strip()[:2000],
        status="open",
    )
    session.add(dispute)
    session.flush()
    audit.record(
        session,
        actor,
        "dispute.opened",
        f"invoice:{invoice_id}",
        dispute_id=dispute.id,
        reason=dispute.reason,
    )
    if settings is not None:
        staff.alert_staff(
            session,
            settings,
            "dispute",
            dispute.id,
            customer_id=customer_id,
            invoice_id=invoice_id,
            actor=actor,
        )
    return dispute


def open_dispute_of(session: Session, invoice_id: str) -> Dispute | None:
    return session.scalar(
        select(Dispute)
        .where(Dispute.invoice_id == invoice_id, Dispute.status == "open")
        .order_by(Dispute.id)
        .limit(1)
    )


def resolve_dispute(
    session: Session, dispute_id: int, actor: str, note: str = "", outcome: str = ""
) -> Dispute:
    """A person settled it: reminders (and plans) resume for the invoice, unless the
    customer was right (outcome "upheld"): then the invoice is void, so reminders stop and
    a plan on it is cancelled at its next charge."""
    dispute = session.get(Dispute, dispute_id, with_for_update=True)
    if dispute is None:
        raise LookupError(f"no dispute {dispute_id}")
    if dispute.status != "resolved":
        dispute.status = "resolved"
        if outcome == "upheld":
            invoice = session.get(Invoice, dispute.invoice_id, with_for_update=True)
            if invoice.status == "open":
                invoice.status = "void"
        audit.record(
            session,
            actor,
            "dispute.resolved",
            f"invoice:{dispute.invoice_id}",
            dispute_id=dispute.id,
            note=note,
            outcome=outcome,
            at=utcnow().isoformat(),
        )
    return dispute


def disputes_document(session: Session, invoice_id: str) -> list:
    rows = session.scalars(
        select(Dispute).where(Dispute.invoice_id == invoice_id).order_by(Dispute.id)
    ).all()
    return [
        {"id": d.id, "status": d.status, "reason": d.reason, "created_at": d.created_at.isoformat()}
        for d in rows
    ]
