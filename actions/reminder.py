"""Asked-for reminders: "remind me Friday", "call me tomorrow" — a date, confirmed, sent once."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import (
    actor,
    blocking,
    for_voice,
    language,
    latest_text,
    locale,
    on_call,
    request_key,
    request_text,
    reset_flow,
    verified_customer_id,
    yes_no_buttons,
)
from actions.goals import with_open_invoices
from actions.router import proceed
from settle import reminders
from settle.app import runtime
from settle.billing import conversation as account
from settle.billing import ledger as billing
from settle.core.money import format_money

# Further ahead than this, a reminder is a new due date: that is for a person or a plan.
MAX_DAYS_AHEAD = 60


class ActionReminder(Action):
    """Works out when to remind the customer, from the request or the answer to "when?"."""

    def name(self) -> str:
        return "action_reminder"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id = verified_customer_id(tracker)
        if customer_id and tracker.get_slot("stage") in (
            "awaiting_reminder_date",
            "awaiting_reminder_confirmation",
        ):
            invoices = await blocking(account.open_invoices, runtime.current().store, customer_id)
            if invoices:
                return await ask_when(
                    dispatcher,
                    tracker,
                    customer_id,
                    invoices,
                    text=latest_text(tracker),
                    asked_before=True,
                )
        return await proceed(dispatcher, tracker, "reminder")


@with_open_invoices("reminder")
async def ask_when(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    customer_id: str,
    invoices: list[billing.OpenInvoice],
    text: str | None = None,
    asked_before: bool = False,
) -> list[EventType]:
    """Confirm the date the customer gave, or ask for one."""
    lang, where = language(tracker), locale(tracker)
    if text is None:
        text = _request_text(tracker)
    today, zone = await blocking(
        reminders.customer_today_and_zone, runtime.current().store, customer_id
    )
    when = reminders.parse_reminder_request(text, lang, today, zone)
    previous = tracker.get_slot("reminder_channel")
    channel = when.channel or previous or _default_channel(tracker)
    useful = (
        when.on is not None
        and not when.ambiguous
        and today < when.on <= today + dt.timedelta(days=MAX_DAYS_AHEAD)
    )
    if not useful or when.on is None:  # (useful says when.on is set; the type checker can't)
        dispatcher.utter_message(
            response="utter_reminder_date_again" if asked_before else "utter_ask_reminder_date"
        )
        return [SlotSet("stage", "awaiting_reminder_date"), SlotSet("reminder_channel", channel)]
    total = sum(i.balance_minor for i in invoices)
    dispatcher.utter_message(
        response=f"utter_confirm_reminder_{channel}",
        date=say_date(when.on, where),
        total=format_money(total, invoices[0].currency, where),
        buttons=yes_no_buttons(tracker),
        json_message=for_voice(tracker, keypad="yes_no"),
    )
    return [
        SlotSet("stage", "awaiting_reminder_confirmation"),
        SlotSet("reminder_on", when.on.isoformat()),
        SlotSet("reminder_channel", channel),
        SlotSet("invoice_id", invoices[0].id if len(invoices) == 1 else None),
    ]


def say_date(day: dt.date, where: str) -> str:
    """ "Friday, November 27, 2026" / "viernes, 27 de noviembre de 2026": the weekday the
    customer said and the date it means, in full."""
    return format_date(day, format="full", locale=where)


def _default_channel(tracker: Tracker) -> str:
    return "call" if on_call(tracker) else "sms"


def _request_text(tracker: Tracker) -> str:
    """The request itself ("remind me Friday"), even when verification came in between."""
    return request_text(tracker, ("request_reminder",)) or latest_text(tracker)


class ActionScheduleReminder(Action):
    """After an explicit yes: the reminder is scheduled once for this request."""

    def name(self) -> str:
        return "action_schedule_reminder"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id, on = verified_customer_id(tracker), tracker.get_slot("reminder_on")
        channel = tracker.get_slot("reminder_channel") or "sms"
        if not (customer_id and on):
            return await ActionReminder().run(dispatcher, tracker, domain)
        scheduled = await blocking(
            reminders.schedule_reminder,
            runtime.current().store,
            customer_id,
            tracker.get_slot("invoice_id"),
            dt.date.fromisoformat(on),
            channel,
            request_key(tracker),
            actor(tracker),
            runtime.current().cadence,
        )
        dispatcher.utter_message(
            response=f"utter_reminder_scheduled_{channel}",
            date=say_date(scheduled.on, locale(tracker)),
        )
        return reset_flow()
