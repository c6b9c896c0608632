"""Asked-for reminders: "remind me Friday", "call me tomorrow" — a date, confirmed, sent once."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date
from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from actions.conversation import blocking, reset_flow
from actions.goals import with_open_invoices
from actions.router import proceed
from actions.turn import Turn
from settle import reminders
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
        return await reminder_asked(Turn.read(dispatcher, tracker))


async def reminder_asked(turn: Turn) -> list[EventType]:
    """The answer to "when?" (or a new date for the one proposed), or the start."""
    customer_id = turn.customer_id
    if customer_id and turn.slot("stage") in (
        "awaiting_reminder_date",
        "awaiting_reminder_confirmation",
    ):
        invoices = await blocking(account.open_invoices, turn.store, customer_id)
        if invoices:
            return await ask_when(
                turn, customer_id, invoices, text=turn.latest_text, asked_before=True
            )
    return await proceed(turn, "reminder")


@with_open_invoices("reminder")
async def ask_when(
    turn: Turn,
    customer_id: str,
    invoices: list[billing.OpenInvoice],
    text: str | None = None,
    asked_before: bool = False,
) -> list[EventType]:
    """Confirm the date the customer gave, or ask for one."""
    lang, where = turn.language, turn.locale
    if text is None:
        text = _request_text(turn)
    today, zone = await blocking(reminders.customer_today_and_zone, turn.store, customer_id)
    when = reminders.parse_reminder_request(text, lang, today, zone)
    previous = turn.slot("reminder_channel")
    channel = when.channel or previous or _default_channel(turn)
    useful = (
        when.on is not None
        and not when.ambiguous
        and today < when.on <= today + dt.timedelta(days=MAX_DAYS_AHEAD)
    )
    if not useful or when.on is None:  # (useful says when.on is set; the type checker can't)
        turn.say("utter_reminder_date_again" if asked_before else "utter_ask_reminder_date")
        return [SlotSet("stage", "awaiting_reminder_date"), SlotSet("reminder_channel", channel)]
    total = sum(i.balance_minor for i in invoices)
    turn.say(
        f"utter_confirm_reminder_{channel}",
        date=say_date(when.on, where),
        total=format_money(total, invoices[0].currency, where),
        buttons=turn.yes_no_buttons(),
        json_message=turn.voice(keypad="yes_no"),
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


def _default_channel(turn: Turn) -> str:
    return "call" if turn.on_call else "sms"


def _request_text(turn: Turn) -> str:
    """The request itself ("remind me Friday"), even when verification came in between."""
    return turn.request_text(("request_reminder",)) or turn.latest_text


class ActionScheduleReminder(Action):
    """After an explicit yes: the reminder is scheduled once for this request."""

    def name(self) -> str:
        return "action_schedule_reminder"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await schedule_reminder(Turn.read(dispatcher, tracker))


async def schedule_reminder(turn: Turn) -> list[EventType]:
    customer_id, on = turn.customer_id, turn.slot("reminder_on")
    channel = turn.slot("reminder_channel") or "sms"
    if not (customer_id and on):
        return await reminder_asked(turn)
    scheduled = await blocking(
        reminders.schedule_reminder,
        turn.store,
        customer_id,
        turn.slot("invoice_id"),
        dt.date.fromisoformat(on),
        channel,
        turn.request_key,
        turn.actor,
        turn.app.cadence,
    )
    turn.say(f"utter_reminder_scheduled_{channel}", date=say_date(scheduled.on, turn.locale))
    return reset_flow()
