"""What stops reminders about an open invoice: an open dispute, an active payment plan, or
nothing left to pay. Read when a pass plans and again at send time."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.store.models import ACTIVE_PLAN_STATUSES, Invoice

# Plans and disputes (migration 0004) matter here only by their status: read as plain tables.
_plans = sa.table("plans", sa.column("invoice_id"), sa.column("status"))
_disputes = sa.table("disputes", sa.column("invoice_id"), sa.column("status"))


def disputed_invoices(session: Session, invoice_ids: Sequence[str] | None = None) -> set[str]:
    """Invoices with an open dispute (among invoice_ids when given)."""
    query = select(_disputes.c.invoice_id).where(_disputes.c.status == "open")
    if invoice_ids is not None:
        query = query.where(_disputes.c.invoice_id.in_(invoice_ids))
    return set(session.scalars(query))


def invoices_on_plan(session: Session, invoice_ids: Sequence[str] | None = None) -> set[str]:
    """Invoices with a payment plan waiting for its card or running (among invoice_ids)."""
    query = select(_plans.c.invoice_id).where(_plans.c.status.in_(ACTIVE_PLAN_STATUSES))
    if invoice_ids is not None:
        query = query.where(_plans.c.invoice_id.in_(invoice_ids))
    return set(session.scalars(query))


def blocked_invoices(session: Session, invoice_ids: Sequence[str]) -> dict[str, str]:
    """Invoices that must get no reminder now although open: disputed or on a plan."""
    blocked = {i: "on a payment plan" for i in invoices_on_plan(session, invoice_ids)}
    blocked.update({i: "disputed" for i in disputed_invoices(session, invoice_ids)})
    return blocked


def still_remindable(
    session: Session, invoice: Invoice | None, blocked: dict[str, str] | None = None
) -> str | None:
    """Why invoice must get no reminder now (read at send time), or None."""
    if invoice is None:
        return "invoice gone"
    if invoice.status != "open" or invoice.balance_minor <= 0:
        return f"invoice {invoice.status if invoice.status != 'open' else 'paid'}"
    if blocked is None:
        blocked = blocked_invoices(session, [invoice.id])
    return blocked.get(invoice.id)
