"""Reminder sequences before and after due dates, on every channel, within the rules.

Public entry points (the Rasa actions and the scheduler call these):

* `load_cadence(path=None) -> ReminderCadence` — settle.yml `reminders:`
* `run_due_reminders(store, app, now) -> RunSummary` — one scheduler pass
* `preview(store, cadence, now) -> [Decision]` — what a pass would do, and why not
* `parse_reminder_request(text, language, today, tz) -> ReminderWhen`
* `schedule_requested_reminder(session, customer_id, invoice_id, on, channel, request_key, actor)
  -> RequestedReminderInfo`
* `record_phone_conversation(session, customer_id, invoice_ids, at)`
* for a conversation (`conversation`, one unit of work each): `customer_today_and_zone`,
  `schedule_reminder`, `note_phone_conversation`

Inside, a pass (`engine`) plans (`planning`, by the rules of `decisions`, which do no I/O),
claims (`claims`) and sends (`sending`: wording in `texts`, what stops a reminder in
`holds`); asked-for reminders are read by `request_parsing`, kept and sent by `requests`.
"""

from settle.reminders.conversation import (
    customer_today_and_zone,
    note_phone_conversation,
    schedule_reminder,
)
from settle.reminders.decisions import Decision
from settle.reminders.engine import (
    RunSummary,
    preview,
    record_phone_conversation,
    run_due_reminders,
)
from settle.reminders.request_parsing import ReminderWhen, parse_reminder_request
from settle.reminders.requests import RequestedReminderInfo, schedule_requested_reminder
from settle.rules.cadence import ContactWindow, ReminderCadence, ReminderStep, load_cadence

__all__ = [
    "ContactWindow",
    "Decision",
    "ReminderCadence",
    "ReminderStep",
    "ReminderWhen",
    "RequestedReminderInfo",
    "RunSummary",
    "customer_today_and_zone",
    "load_cadence",
    "note_phone_conversation",
    "parse_reminder_request",
    "preview",
    "record_phone_conversation",
    "run_due_reminders",
    "schedule_reminder",
    "schedule_requested_reminder",
]
