"""The refund flow: recent payments → the customer picks → reason → policy → refund or a person."""

from __future__ import annotations

import logging

from babel.dates import format_date
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import (
    actor,
    blocking,
    for_voice,
    hand_off,
    language,
    latest_text,
    locale,
    reset_flow,
    transfer,
    user_texts_since,
    verified_customer_id,
    web_buttons,
    yes_no_buttons,
)
from actions.goals import with_customer
from actions.router import proceed
from settle import refunds
from settle.adapters.payments import PaymentGatewayError
from settle.app import runtime
from settle.billing import ledger as billing
from settle.core import i18n
from settle.core.money import format_money
from settle.understanding.answers import refund_reason

log = logging.getLogger(__name__)

PAYMENTS_READ_BACK = 5


class ActionRefund(Action):
    """Every step before the confirmation: which payment, and why."""

    def name(self) -> str:
        return "action_refund"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id, stage = verified_customer_id(tracker), tracker.get_slot("stage")
        if customer_id and stage == "awaiting_refund_choice":
            payments = await blocking(
                refunds.offered_payments,
                runtime.current().store,
                customer_id,
                tracker.get_slot("payment_choices") or [],
            )
            picked = _pick(latest_text(tracker), payments, tracker)
            if picked is None:
                dispatcher.utter_message(response="utter_which_payment")
                return []
            return await consider(dispatcher, tracker, customer_id, picked)
        if customer_id and stage == "awaiting_refund_reason" and tracker.get_slot("payment_id"):
            payments = await blocking(
                refunds.offered_payments,
                runtime.current().store,
                customer_id,
                [tracker.get_slot("payment_id")],
            )
            if payments:
                # Asked once: an answer we cannot place is a reason the policy does not list.
                reason = refund_reason(latest_text(tracker), language(tracker)) or "other"
                return await consider(dispatcher, tracker, customer_id, payments[0], reason)
        return await proceed(dispatcher, tracker, "refund")


@with_customer("refund")
async def offer_payments(
    dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: str
) -> list[EventType]:
    """After verification: the recent payments a refund could be about."""
    payments = await blocking(refunds.payments_to_refund, runtime.current().store, customer_id)
    if not payments:
        dispatcher.utter_message(response="utter_no_refundable_payments")
        return reset_flow()
    if len(payments) == 1:
        return await consider(dispatcher, tracker, customer_id, payments[0])
    shown = payments[:PAYMENTS_READ_BACK]
    lang, where = language(tracker), locale(tracker)
    lines = "\n".join(
        i18n.text(
            "payment_line",
            lang,
            position=n,
            amount=_amount(p, where),
            paid=_paid_on(p, where),
            invoice=p.invoice_id,
        )
        for n, p in enumerate(shown, start=1)
    )
    dispatcher.utter_message(
        response="utter_refund_payment_list",
        count=len(shown),
        payment_list=lines,
        buttons=web_buttons(
            tracker,
            [
                {
                    "title": i18n.text(
                        "payment_button", lang, amount=_amount(p, where), paid=_paid_on(p, where)
                    ),
                    "payload": f'/choose_invoice{{"invoice": "{p.invoice_id}"}}',
                }
                for p in shown
            ],
        ),
        json_message=for_voice(tracker, keypad="choice"),
    )
    return [
        SlotSet("stage", "awaiting_refund_choice"),
        SlotSet("payment_choices", [str(p.id) for p in shown]),
    ]


async def consider(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    customer_id: str,
    payment,
    reason: str | None = None,
) -> list[EventType]:
    """The payment is known: find out why, then ask the policy."""
    lang, where = language(tracker), locale(tracker)
    reason = reason or refund_reason(user_texts_since(tracker, ("request_refund",)), lang)
    if reason is None:
        dispatcher.utter_message(
            response="utter_ask_refund_reason",
            amount=_amount(payment, where),
            invoice_number=payment.invoice_id,
        )
        return [
            SlotSet("stage", "awaiting_refund_reason"),
            SlotSet("payment_id", str(payment.id)),
            SlotSet("payment_choices", None),
        ]
    settle = runtime.current()
    decision = await blocking(
        refunds.decide_refund, settle.store, settle.policy, payment.id, reason
    )
    amount = format_money(decision.amount_minor or payment.amount_minor, payment.currency, where)
    if decision.rule == "already_refunded":
        dispatcher.utter_message(response="utter_refund_already")
        return reset_flow()
    if decision.outcome == "approve":
        dispatcher.utter_message(
            response="utter_confirm_refund",
            amount=amount,
            invoice_number=payment.invoice_id,
            buttons=yes_no_buttons(tracker),
            json_message=for_voice(tracker, keypad="yes_no"),
        )
        return [
            SlotSet("stage", "awaiting_refund_confirmation"),
            SlotSet("payment_id", str(payment.id)),
            SlotSet("refund_reason", reason),
            SlotSet("payment_choices", None),
        ]
    if decision.outcome == "refuse":
        dispatcher.utter_message(
            response="utter_refund_refused", why=refund_rule_text(decision.rule, lang)
        )
    else:
        dispatcher.utter_message(response="utter_refund_needs_person", amount=amount)
    return await _hand_over(
        dispatcher, tracker, f"refund_{decision.outcome}:{decision.rule}", payment, reason
    )


def refund_rule_text(rule: str | None, lang: str) -> str:
    """Which rule of the refund policy said no, said plainly."""
    key = f"refund_rule_{rule}"
    if key not in i18n.MESSAGES.get(lang, {}):
        key = "refund_rule_other"
    return i18n.text(key, lang, days=runtime.current().policy.refunds.window_days)


async def _hand_over(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    reason: str,
    payment,
    refund_reason_code: str | None,
) -> list[EventType]:
    reference = await blocking(
        hand_off,
        tracker,
        reason,
        {"payment": payment.id, "invoice": payment.invoice_id, "refund_reason": refund_reason_code},
    )
    dispatcher.utter_message(
        response="utter_handoff", json_message=transfer(tracker, reference, "refunds")
    )
    return reset_flow()


class ActionIssueRefund(Action):
    """After an explicit yes: the refund is issued once, however often this runs."""

    def name(self) -> str:
        return "action_issue_refund"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id, payment_id = verified_customer_id(tracker), tracker.get_slot("payment_id")
        reason = tracker.get_slot("refund_reason")
        if not (customer_id and payment_id and reason):
            return await proceed(dispatcher, tracker, "refund")
        payments = await blocking(
            refunds.offered_payments, runtime.current().store, customer_id, [payment_id]
        )
        if not payments:
            dispatcher.utter_message(response="utter_refund_already")
            return reset_flow()
        payment, where = payments[0], locale(tracker)
        try:
            result = await blocking(_issue, tracker, customer_id, payment.id, reason)
        except PaymentGatewayError as error:
            log.error("Refund of payment %s failed: %s", payment.id, error)
            dispatcher.utter_message(response="utter_refund_failed")
            return await _hand_over(dispatcher, tracker, "refund_failed", payment, reason)
        amount = format_money(result.amount_minor or payment.amount_minor, payment.currency, where)
        if result.status == "issued":
            dispatcher.utter_message(
                response="utter_refund_issued", amount=amount, invoice_number=payment.invoice_id
            )
            return reset_flow()
        if result.status == "already_refunded":
            dispatcher.utter_message(response="utter_refund_already")
            return reset_flow()
        if result.status == "failed":  # recorded as failed: a person finishes it
            log.error("Refund of payment %s failed at the provider", payment.id)
            dispatcher.utter_message(response="utter_refund_failed")
            return await _hand_over(dispatcher, tracker, "refund_failed", payment, reason)
        if result.status == "refused":
            dispatcher.utter_message(
                response="utter_refund_refused",
                why=refund_rule_text(result.rule, language(tracker)),
            )
        else:
            dispatcher.utter_message(response="utter_refund_needs_person", amount=amount)
        return await _hand_over(
            dispatcher, tracker, f"refund_{result.status}:{result.rule}", payment, reason
        )


def _pick(text: str, payments: list, tracker: Tracker):
    """The payment the customer means: by position, amount, date or invoice number."""
    stand_ins = [
        billing.OpenInvoice(
            p.invoice_id, p.amount_minor, p.currency, _local_date(p), _local_date(p), ""
        )
        for p in payments
    ]
    chosen = billing.resolve_choice(text, stand_ins, language(tracker))
    for stand_in, payment in zip(stand_ins, payments, strict=False):
        if stand_in is chosen:
            return payment
    return None


def _local_date(payment):
    return payment.paid_at.date()


def _amount(payment, where: str) -> str:
    return format_money(
        payment.amount_minor - (payment.refunded_minor or 0), payment.currency, where
    )


def _paid_on(payment, where: str) -> str:
    return format_date(_local_date(payment), format="long", locale=where)


def _issue(tracker: Tracker, customer_id: str, payment_id, reason: str):
    settle = runtime.current()
    return refunds.issue_refund(
        settle.store,
        settle.gateway,
        settle.settings,
        settle.policy,
        customer_id,
        int(payment_id),
        reason,
        actor(tracker),
    )
