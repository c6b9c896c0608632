"""Reminders customers ask for ("text me on Friday"), kept and sent once.

Once the conversation has confirmed the date (`settle.reminders.request_parsing`),
`schedule_requested_reminder` keeps it, once per request, and the scheduler sends it at
`send_time` in the customer's day, inside their contact hours — unless the invoice was paid
by then.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle.adapters.email import queue_email
from settle.billing.checkout import ensure_links
from settle.core import audit
from settle.core.clock import local_time, zone_of
from settle.messaging.outbox import queue_sms
from settle.reminders.contact_rules import region_for
from settle.reminders.decisions import Decision
from settle.reminders.holds import still_remindable
from settle.reminders.records import RequestedReminder
from settle.reminders.texts import reminder_texts
from settle.rules.cadence import ReminderCadence
from settle.store.db import Store
from settle.store.models import Customer, Invoice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestedReminderInfo:
    """A reminder the customer asked for, as kept: its id, the day asked for, the channel and
    when it goes out (inside their contact hours)."""

    id: int
    on: dt.date
    channel: str
    send_at: dt.datetime  # UTC


def requested_send_at(cadence: ReminderCadence, customer: Customer, on: dt.date) -> dt.datetime:
    """send_time on that day in the customer's zone, moved into their contact window."""
    tzinfo = zone_of(customer.timezone)
    window = cadence.window_for(region_for(customer.phone, customer.postal_code))
    local = dt.datetime.combine(on, cadence.send_time, tzinfo=tzinfo)
    if local.time() >= window.end:
        local = dt.datetime.combine(on, window.start, tzinfo=tzinfo)
    return window.next_opening(local).astimezone(dt.timezone.utc)


def schedule_requested_reminder(
    session: Session,
    customer_id: str,
    invoice_id: str | None,
    on: dt.date,
    channel: str,
    request_key: str,
    actor: str,
    cadence: ReminderCadence,
) -> RequestedReminderInfo:
    """Keep the reminder the customer asked for; once per request_key (a repeat returns the
    first). invoice_id None means all their open invoices at the time."""
    existing = session.scalar(
        select(RequestedReminder).where(RequestedReminder.request_key == request_key)
    )
    if existing is not None:
        return RequestedReminderInfo(
            existing.id, existing.on_date, existing.channel, existing.send_at
        )
    if channel not in ("sms", "call", "email"):
        raise ValueError(f"channel must be sms, call or email, not {channel!r}")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise ValueError(f"no customer {customer_id!r}")
    if invoice_id is not None:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None or invoice.customer_id != customer_id:
            raise ValueError(f"invoice {invoice_id} is not an invoice of customer {customer_id}")
    send_at = requested_send_at(cadence, customer, on)
    row = RequestedReminder(
        request_key=request_key,
        customer_id=customer_id,
        invoice_id=invoice_id,
        on_date=on,
        channel=channel,
        send_at=send_at,
        status="scheduled",
        actor=actor,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same request scheduled concurrently
        row = session.scalar(
            select(RequestedReminder).where(RequestedReminder.request_key == request_key)
        )
        return RequestedReminderInfo(row.id, row.on_date, row.channel, row.send_at)
    audit.record(
        session,
        actor,
        "reminder.requested",
        f"customer:{customer_id}",
        invoice_id=invoice_id,
        on=on.isoformat(),
        channel=channel,
        send_at=send_at.isoformat(),
        request_key=request_key,
    )
    return RequestedReminderInfo(row.id, on, channel, send_at)


def requested_decisions(
    session: Session, cadence: ReminderCadence, now: dt.datetime
) -> list[Decision]:
    """Preview lines for asked-for reminders due by now (nothing is written)."""
    rows = session.execute(
        select(RequestedReminder, Customer)
        .join(Customer, Customer.id == RequestedReminder.customer_id)
        .where(RequestedReminder.status == "scheduled", RequestedReminder.send_at <= now)
    ).all()
    decisions = []
    for request, customer in rows:
        window = cadence.window_for(region_for(customer.phone, customer.postal_code))
        local_now = local_time(now, customer.timezone)
        allowed = window.allows(local_now)
        decisions.append(
            Decision(
                request.invoice_id or "(all open)",
                customer.id,
                f"requested:{request.id}",
                (request.channel,),
                "send" if allowed else "hold",
                "asked for" if allowed else f"quiet hours ({local_now:%a %H:%M} local)",
                request.send_at,
            )
        )
    return decisions


def send_requested_reminders(
    store: Store, app, now: dt.datetime, worker: str, message_ids: list[int]
) -> int:
    """Send asked-for reminders due by now, each once; cancelled when nothing is left to pay."""
    from settle.adapters.calls import CallRefused, place_call
    from settle.config import ConfigError

    cadence: ReminderCadence = app.cadence
    with store.unit_of_work() as session:
        due = session.scalars(
            select(RequestedReminder.id)
            .where(RequestedReminder.status == "scheduled", RequestedReminder.send_at <= now)
            .order_by(RequestedReminder.send_at)
        ).all()
    sent = 0
    for request_id in due:
        call_about: Sequence[str] | None = None
        with store.unit_of_work() as session:  # the links first, with no transaction open
            request = session.get(RequestedReminder, request_id)
            wanted = (
                [request.invoice_id]
                if request.invoice_id
                else list(
                    session.scalars(
                        select(Invoice.id).where(
                            Invoice.customer_id == request.customer_id, Invoice.status == "open"
                        )
                    )
                )
            )
        ensure_links(store, app.gateway, app.settings, wanted, worker, now=now)
        with store.unit_of_work() as session:
            request = session.get(RequestedReminder, request_id)
            customer = session.get(Customer, request.customer_id)
            window = cadence.window_for(region_for(customer.phone, customer.postal_code))
            if not window.allows(local_time(now, customer.timezone)):
                continue
            # Of several workers, one moves it from scheduled; the others see rowcount 0.
            if not session.execute(
                update(RequestedReminder)
                .where(RequestedReminder.id == request_id, RequestedReminder.status == "scheduled")
                .values(status="sent", finished_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount:
                continue
            session.refresh(request)
            if request.invoice_id:
                invoice = session.get(Invoice, request.invoice_id)
                why_not = still_remindable(session, invoice)
                invoices = [] if why_not else [invoice]
            else:
                invoices = [
                    i
                    for i in session.scalars(
                        select(Invoice)
                        .where(Invoice.customer_id == customer.id, Invoice.status == "open")
                        .order_by(Invoice.due_on)
                    )
                    if not still_remindable(session, i)
                ]
                why_not = None if invoices else "nothing left to pay"
            if not why_not and request.channel == "email" and not customer.email:
                why_not = "no e-mail address on file"
            if why_not:
                request.status, request.reason = "cancelled", why_not
                audit.record(
                    session,
                    worker,
                    "reminder.request_cancelled",
                    f"customer:{customer.id}",
                    request_id=request.id,
                    reason=why_not,
                )
                continue
            key = f"reminder:request:{request.id}"
            texts = reminder_texts(session, app, customer, invoices, "reminder_requested", now)
            if request.channel == "sms":
                message = queue_sms(
                    session,
                    customer.phone,
                    texts["sms"],
                    key=key,
                    actor=worker,
                    customer_id=customer.id,
                )
                if message.status == "queued":
                    message_ids.append(message.id)
            elif request.channel == "email" and customer.email:
                queue_email(
                    session,
                    customer.email,
                    texts["subject"],
                    texts["email"],
                    key=f"{key}:email",
                    actor=worker,
                    customer_id=customer.id,
                )
            elif request.channel == "call":
                call_about = [invoice.id for invoice in invoices]
            audit.record(
                session,
                worker,
                "reminder.request_sent",
                f"customer:{customer.id}",
                request_id=request.id,
                channel=request.channel,
            )
        sent += 1
        if call_about and app.settings.uses_twilio:
            try:
                place_call(
                    store,
                    app.settings,
                    request.customer_id,
                    "reminder",
                    call_about[0],
                    actor=worker,
                    now=now,
                    invoice_ids=call_about,
                )
            except (CallRefused, ConfigError) as error:
                with store.unit_of_work() as session:
                    row = session.get(RequestedReminder, request_id)
                    row.status, row.reason = "failed", str(error)
    return sent
