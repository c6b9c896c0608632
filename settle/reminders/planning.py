"""What a reminder pass would do: the open invoices whose sequence may have a step due, the
facts the rules need (claims, disputes, plans, opt-outs, recent contacts) read in a few
queries for the whole pass, and `plan` — every decision, writing nothing."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.reminders.decisions import Decision, OpenInvoice, PassContext, plan_invoice
from settle.reminders.holds import disputed_invoices, invoices_on_plan
from settle.reminders.records import CallAttempt, PhoneConversation, ReminderClaim
from settle.rules.cadence import ReminderCadence
from settle.store.models import Customer, Invoice, OptOut


def _due_window(cadence: ReminderCadence, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """Due dates whose sequence can have something to do today (a day's slack for zones)."""
    today = now.date()
    first = min(s.offset_days for s in cadence.steps)
    last = max(s.offset_days for s in cadence.steps)
    return (
        today - dt.timedelta(days=last + cadence.still_useful_days + 1),
        today + dt.timedelta(days=-first + 1),
    )


def _open_invoices(
    session: Session,
    cadence: ReminderCadence,
    now: dt.datetime,
    customer_ids: Sequence[str] | None = None,
) -> list[OpenInvoice]:
    low, high = _due_window(cadence, now)
    query = (
        select(
            Invoice.id,
            Invoice.customer_id,
            Invoice.due_on,
            Customer.phone,
            Customer.email,
            Customer.timezone,
            Customer.postal_code,
        )
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.status == "open",
            Invoice.amount_paid_minor < Invoice.amount_minor,
            Invoice.due_on >= low,
            Invoice.due_on <= high,
        )
        .order_by(Invoice.customer_id, Invoice.due_on, Invoice.id)
    )
    if customer_ids is not None:
        query = query.where(Invoice.customer_id.in_(customer_ids))
    return [OpenInvoice(*row) for row in session.execute(query)]


def _context(session: Session, cadence: ReminderCadence, now: dt.datetime) -> PassContext:
    low, high = _due_window(cadence, now)
    claims, abandoned = {}, set()
    for invoice, step, status, lease_until in session.execute(
        select(
            ReminderClaim.invoice_id,
            ReminderClaim.step,
            ReminderClaim.status,
            ReminderClaim.lease_until,
        )
        .join(Invoice, Invoice.id == ReminderClaim.invoice_id)
        .where(Invoice.status == "open", Invoice.due_on >= low, Invoice.due_on <= high)
    ):
        claims[(invoice, step)] = status
        if status == "claimed" and lease_until is not None and lease_until < now:
            abandoned.add((invoice, step))
    disputed = disputed_invoices(session)
    on_plan = invoices_on_plan(session)
    opted_out = {
        (address, channel)
        for address, channel in session.execute(select(OptOut.phone, OptOut.channel))
    }
    since = now - dt.timedelta(days=2)
    messaged: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for customer_id, channels, at in session.execute(
        select(ReminderClaim.customer_id, ReminderClaim.channels, ReminderClaim.finished_at).where(
            ReminderClaim.status.in_(("sent", "calling")), ReminderClaim.finished_at >= since
        )
    ):
        for channel in channels.split(","):
            messaged[(customer_id, channel)].append(at)
    calls: dict[str, list[dt.datetime]] = defaultdict(list)
    for invoice_id, at in session.execute(
        select(CallAttempt.invoice_id, CallAttempt.at).where(
            CallAttempt.at >= now - dt.timedelta(days=cadence.call_attempts_days)
        )
    ):
        calls[invoice_id].append(at)
    conversations: dict[str, list] = defaultdict(list)
    for customer_id, invoice_id, at in session.execute(
        select(
            PhoneConversation.customer_id, PhoneConversation.invoice_id, PhoneConversation.at
        ).where(
            PhoneConversation.at
            >= now - dt.timedelta(days=cadence.no_calls_after_conversation_days)
        )
    ):
        conversations[customer_id].append((invoice_id, at))
    return PassContext(
        claims, abandoned, disputed, on_plan, opted_out, messaged, calls, conversations
    )


def plan(
    session: Session,
    cadence: ReminderCadence,
    now: dt.datetime,
    customer_ids: Sequence[str] | None = None,
) -> list[Decision]:
    """Every decision a pass at now would take (nothing is written)."""
    if not cadence.enabled:
        return []
    context = _context(session, cadence, now)
    decisions: list[Decision] = []
    for invoice in _open_invoices(session, cadence, now, customer_ids):
        decisions.extend(plan_invoice(invoice, context, cadence, now))
    return decisions
