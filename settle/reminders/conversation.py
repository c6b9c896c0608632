"""What a conversation asks of reminders, each call in a unit of work of its own: the
customer's today (to read "Friday" right), an asked-for reminder kept once, and a phone
conversation noted so reminder calls about those invoices hold off (Reg F)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from settle.core.clock import customer_today
from settle.reminders.engine import record_phone_conversation
from settle.reminders.requests import RequestedReminderInfo, schedule_requested_reminder
from settle.rules.cadence import ReminderCadence
from settle.store.db import Store
from settle.store.models import Customer, utcnow


def customer_today_and_zone(store: Store, customer_id: str) -> tuple[dt.date, str]:
    """The customer's date today and their time zone (IANA name) on file."""
    with store.unit_of_work() as session:
        customer = session.get(Customer, customer_id)
        return customer_today(customer.timezone), customer.timezone


def schedule_reminder(
    store: Store,
    customer_id: str,
    invoice_id: str | None,
    on: dt.date,
    channel: str,
    request_key: str,
    actor: str,
    cadence: ReminderCadence,
) -> RequestedReminderInfo:
    """Keep the reminder the customer asked for, once for this request, sent at the time
    `cadence` (the loaded settings) gives."""
    with store.unit_of_work() as session:
        return schedule_requested_reminder(
            session, customer_id, invoice_id, on, channel, request_key, actor, cadence
        )


def note_phone_conversation(store: Store, customer_id: str, invoice_ids: Sequence[str]) -> None:
    """A call about these invoices holds off reminder calls about them for a while (Reg F)."""
    with store.unit_of_work() as session:
        record_phone_conversation(session, customer_id, invoice_ids, utcnow())
