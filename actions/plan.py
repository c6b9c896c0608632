"""The payment-plan flow: offer the plans the rules allow, adjust, confirm, save a card."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from babel.dates import format_date
from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from actions.conversation import blocking, reset_flow
from actions.goals import with_invoice
from actions.router import proceed
from actions.turn import Turn
from settle import plans
from settle.adapters.payments import PaymentGatewayError
from settle.billing import ledger as billing
from settle.core import i18n
from settle.core.money import format_money
from settle.understanding.answers import installment_request

log = logging.getLogger(__name__)


class ActionPaymentPlan(Action):
    """ "Can I pay in installments?" — and, once a plan is offered, "can I do six?"."""

    def name(self) -> str:
        return "action_payment_plan"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await plan_asked(Turn.read(dispatcher, tracker))


async def plan_asked(turn: Turn) -> list[EventType]:
    """A plan for the invoice in question; once one is offered, the one asked for instead."""
    customer_id, invoice_id = turn.customer_id, turn.slot("invoice_id")
    if customer_id and invoice_id and turn.slot("stage") == "awaiting_plan_confirmation":
        current = int(turn.slot("plan_count") or 0) or None
        return await offer_plan(turn, customer_id, invoice_id, current)
    return await proceed(turn, "plan")


async def offer_plan(
    turn: Turn, customer_id: str, invoice_id: str, current: int | None = None
) -> list[EventType]:
    """Read back the plan that fits what the customer asked for, inside the rules."""
    found = await blocking(plans.plan_offer, turn.store, turn.policy, customer_id, invoice_id)
    lang, where = turn.language, turn.locale
    if found is None:
        turn.say("utter_nothing_to_pay", invoice_number=invoice_id)
        return reset_flow()
    offer, invoice, today = found.offer, found.invoice, found.today
    balance = format_money(invoice.balance_minor, invoice.currency, where)
    if not offer.eligible or not offer.options:
        turn.say(
            "utter_plan_not_available",
            amount=balance,
            invoice_number=invoice.id,
            reason=plan_refusal(turn, offer.reason, invoice.currency),
            buttons=turn.yes_no_buttons(),
            json_message=turn.voice(keypad="yes_no"),
        )
        # "Yes" now means: text me a link to pay it all (the pay flow's confirmation).
        return reset_flow() + [
            SlotSet("goal", "pay"),
            SlotSet("stage", "awaiting_confirmation"),
            SlotSet("invoice_id", invoice.id),
        ]

    counts = sorted(option.count for option in offer.options)
    asked = installment_request(turn.latest_text, lang)
    chosen, note = _choose(offer, counts, asked, current, lang)
    others = [str(count) for count in counts if count != chosen.count]
    turn.say(
        "utter_offer_plan",
        note=note,
        total=balance,
        invoice_number=invoice.id,
        schedule=describe_schedule(chosen, lang, where, invoice.currency, today),
        alternatives=(
            i18n.text("plan_other_counts", lang, counts=_join(others, lang)) if others else ""
        ),
        buttons=turn.yes_no_buttons(),
        json_message=turn.voice(keypad="yes_no"),
    )
    return [
        SlotSet("stage", "awaiting_plan_confirmation"),
        SlotSet("invoice_id", invoice.id),
        SlotSet("plan_count", float(chosen.count)),
    ]


@with_invoice("plan", list_response="utter_plan_invoice_list")
async def offer_plan_for_invoice(
    turn: Turn, customer_id: str, invoice: billing.OpenInvoice, single: bool = False
) -> list[EventType]:
    """The invoice is known (the only one, or the one picked): offer a plan for it."""
    return await offer_plan(turn, customer_id, invoice.id)


def _choose(offer, counts: list[int], asked, current: int | None, lang: str):
    by_count = {option.count: option for option in offer.options}
    default = offer.default or by_count[counts[0]]
    if asked is None:
        return by_count.get(current, default), ""
    kind, number = asked
    if kind == "count":
        if number in by_count:
            return by_count[number], ""
        closest = min(counts, key=lambda c: (abs(c - number), c))
        return by_count[closest], i18n.plural("plan_count_not_allowed", number, lang)
    base = current or default.count
    if kind == "fewer":
        smaller = [c for c in counts if c < base]
        return by_count[smaller[-1] if smaller else counts[0]], ""
    larger = [c for c in counts if c > base]
    return by_count[larger[0] if larger else counts[-1]], ""


def describe_schedule(option, lang: str, where: str, currency: str, today: dt.date) -> str:
    """ "3 monthly payments of $95.00, the first today" in the customer's language."""
    amounts = [i.amount_minor for i in option.installments]
    first, rest = amounts[0], amounts[1:]
    when = (
        i18n.text("plan_today", lang)
        if option.first_due_on <= today
        else i18n.text(
            "plan_on_date", lang, date=format_date(option.first_due_on, format="long", locale=where)
        )
    )
    interval = i18n.text(f"plan_interval_{option.interval}", lang)
    if all(amount == first for amount in rest):
        return i18n.text(
            "plan_schedule_even",
            lang,
            count=option.count,
            interval=interval,
            amount=format_money(first, currency, where),
            first=when,
        )
    return i18n.text(
        "plan_schedule_uneven",
        lang,
        count=option.count,
        interval=interval,
        first_amount=format_money(first, currency, where),
        first=when,
        amount=format_money(rest[0], currency, where),
    )


def plan_refusal(turn: Turn, reason: str | None, currency: str) -> str:
    """Why no plan can be offered, in a sentence the customer understands."""
    key = f"plan_reason_{reason}"
    if key not in i18n.MESSAGES.get(turn.language, {}):
        key = "plan_reason_other"
    minimum = format_money(turn.policy.plans.min_balance_minor, currency, turn.locale)
    return i18n.text(key, turn.language, minimum=minimum)


def _join(items: Sequence[str], lang: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {i18n.text('word_or', lang)} {items[-1]}"


class ActionSetUpPlan(Action):
    """After an explicit yes: the plan is recorded and a card-saving link is sent."""

    def name(self) -> str:
        return "action_set_up_plan"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await set_up_plan(Turn.read(dispatcher, tracker))


async def set_up_plan(turn: Turn) -> list[EventType]:
    """The plan is recorded; the card-saving link is a button in the web chat, texted
    elsewhere."""
    customer_id, invoice_id = turn.customer_id, turn.slot("invoice_id")
    count = int(turn.slot("plan_count") or 0)
    if not (customer_id and invoice_id and count):
        return await proceed(turn, "plan")
    web, lang, where = turn.on_web_chat, turn.language, turn.locale
    try:
        result = await blocking(
            plans.start_plan_in_conversation,
            turn.store,
            turn.app.gateway,
            turn.settings,
            turn.policy,
            customer_id,
            invoice_id,
            count,
            turn.request_key,
            turn.actor,
            turn.sender_id,
            turn.channel,
            not web,
        )
    except plans.PlanNotAvailable as refused:
        turn.say(
            "utter_plan_failed_reason",
            reason=plan_refusal(
                turn, getattr(refused, "reason", None), turn.settings.business.currency
            ),
        )
        return reset_flow()
    except PaymentGatewayError as error:
        log.error("Plan set-up for %s failed: %s", invoice_id, error)
        turn.say("utter_plan_failed")
        return reset_flow()
    started, currency, today = result.started, result.currency, result.today
    first = started.option.installments[0]
    first_amount = format_money(first.amount_minor, currency, where)
    first_when = (
        i18n.text("plan_today", lang)
        if first.due_on <= today
        else i18n.text(
            "plan_on_date", lang, date=format_date(first.due_on, format="long", locale=where)
        )
    )
    if web:
        turn.say(
            json_message={
                "data": {
                    "text": i18n.text(
                        "plan_link_ready", lang, first_amount=first_amount, first=first_when
                    ),
                    "quick_replies": [
                        {
                            "type": "web_url",
                            "url": started.url,
                            "title": i18n.text("save_card_button", lang),
                        }
                    ],
                }
            }
        )
        return reset_flow()
    turn.app.request_delivery()
    if started.message_status == "refused":
        turn.say("utter_payment_link_refused", phone_last4=started.phone_last_digits)
    else:
        turn.say(
            "utter_plan_link_sent",
            phone_last4=started.phone_last_digits,
            first_amount=first_amount,
            first=first_when,
        )
    return reset_flow()
