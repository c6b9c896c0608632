"""The payment-plan flow: offer the plans the rules allow, adjust, confirm, save a card."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

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
    on_web_chat,
    request_key,
    reset_flow,
    verified_customer_id,
    yes_no_buttons,
)
from actions.goals import with_invoice
from actions.router import proceed
from settle import plans
from settle.adapters.payments import PaymentGatewayError
from settle.app import runtime
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
        customer_id, invoice_id = verified_customer_id(tracker), tracker.get_slot("invoice_id")
        if customer_id and invoice_id and tracker.get_slot("stage") == "awaiting_plan_confirmation":
            current = int(tracker.get_slot("plan_count") or 0) or None
            return await offer_plan(dispatcher, tracker, customer_id, invoice_id, current)
        return await proceed(dispatcher, tracker, "plan")


async def offer_plan(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    customer_id: str,
    invoice_id: str,
    current: int | None = None,
) -> list[EventType]:
    """Read back the plan that fits what the customer asked for, inside the rules."""
    settle = runtime.current()
    found = await blocking(plans.plan_offer, settle.store, settle.policy, customer_id, invoice_id)
    lang, where = language(tracker), locale(tracker)
    if found is None:
        dispatcher.utter_message(response="utter_nothing_to_pay", invoice_number=invoice_id)
        return reset_flow()
    offer, invoice, today = found.offer, found.invoice, found.today
    balance = format_money(invoice.balance_minor, invoice.currency, where)
    if not offer.eligible or not offer.options:
        dispatcher.utter_message(
            response="utter_plan_not_available",
            amount=balance,
            invoice_number=invoice.id,
            reason=plan_refusal(offer.reason, lang, where, invoice.currency),
            buttons=yes_no_buttons(tracker),
            json_message=for_voice(tracker, keypad="yes_no"),
        )
        # "Yes" now means: text me a link to pay it all (the pay flow's confirmation).
        return reset_flow() + [
            SlotSet("goal", "pay"),
            SlotSet("stage", "awaiting_confirmation"),
            SlotSet("invoice_id", invoice.id),
        ]

    counts = sorted(option.count for option in offer.options)
    asked = installment_request(latest_text(tracker), lang)
    chosen, note = _choose(offer, counts, asked, current, lang)
    others = [str(count) for count in counts if count != chosen.count]
    dispatcher.utter_message(
        response="utter_offer_plan",
        note=note,
        total=balance,
        invoice_number=invoice.id,
        schedule=describe_schedule(chosen, lang, where, invoice.currency, today),
        alternatives=(
            i18n.text("plan_other_counts", lang, counts=_join(others, lang)) if others else ""
        ),
        buttons=yes_no_buttons(tracker),
        json_message=for_voice(tracker, keypad="yes_no"),
    )
    return [
        SlotSet("stage", "awaiting_plan_confirmation"),
        SlotSet("invoice_id", invoice.id),
        SlotSet("plan_count", float(chosen.count)),
    ]


@with_invoice("plan", list_response="utter_plan_invoice_list")
async def offer_plan_for_invoice(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    customer_id: str,
    invoice: billing.OpenInvoice,
    single: bool = False,
) -> list[EventType]:
    """The invoice is known (the only one, or the one picked): offer a plan for it."""
    return await offer_plan(dispatcher, tracker, customer_id, invoice.id)


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
        return by_count[closest], i18n.text("plan_count_not_allowed", lang, requested=number)
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


def plan_refusal(reason: str | None, lang: str, where: str, currency: str) -> str:
    """Why no plan can be offered, in a sentence the customer understands."""
    key = f"plan_reason_{reason}"
    if key not in i18n.MESSAGES.get(lang, {}):
        key = "plan_reason_other"
    rules = runtime.current().policy.plans
    return i18n.text(key, lang, minimum=format_money(rules.min_balance_minor, currency, where))


def _join(items: Sequence[str], lang: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {i18n.text('word_or', lang)} {items[-1]}"


class ActionSetUpPlan(Action):
    """After an explicit yes: the plan is recorded and a card-saving link is sent."""

    def name(self) -> str:
        return "action_set_up_plan"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id, invoice_id = verified_customer_id(tracker), tracker.get_slot("invoice_id")
        count = int(tracker.get_slot("plan_count") or 0)
        if not (customer_id and invoice_id and count):
            return await proceed(dispatcher, tracker, "plan")
        settle, web, lang, where = (
            runtime.current(),
            on_web_chat(tracker),
            language(tracker),
            locale(tracker),
        )
        try:
            result = await blocking(
                plans.start_plan_in_conversation,
                settle.store,
                settle.gateway,
                settle.settings,
                settle.policy,
                customer_id,
                invoice_id,
                count,
                request_key(tracker),
                actor(tracker),
                tracker.sender_id,
                tracker.get_latest_input_channel(),
                not web,
            )
        except plans.PlanNotAvailable as refused:
            dispatcher.utter_message(
                response="utter_plan_failed_reason",
                reason=plan_refusal(
                    getattr(refused, "reason", None), lang, where, settle.settings.business.currency
                ),
            )
            return reset_flow()
        except PaymentGatewayError as error:
            log.error("Plan set-up for %s failed: %s", invoice_id, error)
            dispatcher.utter_message(response="utter_plan_failed")
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
            dispatcher.utter_message(
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
        settle.request_delivery()
        if started.message_status == "refused":
            dispatcher.utter_message(
                response="utter_payment_link_refused", phone_last4=started.phone_last_digits
            )
        else:
            dispatcher.utter_message(
                response="utter_plan_link_sent",
                phone_last4=started.phone_last_digits,
                first_amount=first_amount,
                first=first_when,
            )
        return reset_flow()
