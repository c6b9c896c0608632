"""The refund flow: recent payments → the customer picks → reason → policy → refund or a person."""

from __future__ import annotations

import logging

from babel.dates import format_date
from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from actions.conversation import blocking, hand_off, put_through, reset_flow
from actions.goals import with_customer
from actions.router import proceed
from actions.turn import Turn
from settle import refunds
from settle.adapters.payments import PaymentGatewayError
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
        return await refund_asked(Turn.read(dispatcher, tracker))


async def refund_asked(turn: Turn) -> list[EventType]:
    """The answer to the question of the moment (which payment? why?), or the start."""
    customer_id, stage = turn.customer_id, turn.slot("stage")
    if customer_id and stage == "awaiting_refund_choice":
        payments = await blocking(
            refunds.offered_payments, turn.store, customer_id, turn.slot("payment_choices") or []
        )
        picked = _pick(turn, payments)
        if picked is None:
            turn.say("utter_which_payment")
            return []
        return await consider(turn, customer_id, picked)
    if customer_id and stage == "awaiting_refund_reason" and turn.slot("payment_id"):
        payments = await blocking(
            refunds.offered_payments, turn.store, customer_id, [turn.slot("payment_id")]
        )
        if payments:
            # Asked once: an answer we cannot place is a reason the policy does not list.
            reason = refund_reason(turn.latest_text, turn.language) or "other"
            return await consider(turn, customer_id, payments[0], reason)
    return await proceed(turn, "refund")


@with_customer("refund")
async def offer_payments(turn: Turn, customer_id: str) -> list[EventType]:
    """After verification: the recent payments a refund could be about."""
    payments = await blocking(refunds.payments_to_refund, turn.store, customer_id)
    if not payments:
        turn.say("utter_no_refundable_payments")
        return reset_flow()
    if len(payments) == 1:
        return await consider(turn, customer_id, payments[0])
    shown = payments[:PAYMENTS_READ_BACK]
    lang, where = turn.language, turn.locale
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
    turn.say(
        "utter_refund_payment_list",
        count=len(shown),
        payment_list=lines,
        buttons=turn.buttons(
            [
                {
                    "title": i18n.text(
                        "payment_button", lang, amount=_amount(p, where), paid=_paid_on(p, where)
                    ),
                    "payload": f'/choose_invoice{{"invoice": "{p.invoice_id}"}}',
                }
                for p in shown
            ]
        ),
        json_message=turn.voice(keypad="choice"),
    )
    return [
        SlotSet("stage", "awaiting_refund_choice"),
        SlotSet("payment_choices", [str(p.id) for p in shown]),
    ]


async def consider(
    turn: Turn, customer_id: str, payment, reason: str | None = None
) -> list[EventType]:
    """The payment is known: find out why, then ask the policy."""
    lang, where = turn.language, turn.locale
    reason = reason or refund_reason(turn.texts_since(("request_refund",)), lang)
    if reason is None:
        turn.say(
            "utter_ask_refund_reason",
            amount=_amount(payment, where),
            invoice_number=payment.invoice_id,
        )
        return [
            SlotSet("stage", "awaiting_refund_reason"),
            SlotSet("payment_id", str(payment.id)),
            SlotSet("payment_choices", None),
        ]
    decision = await blocking(refunds.decide_refund, turn.store, turn.policy, payment.id, reason)
    amount = format_money(decision.amount_minor or payment.amount_minor, payment.currency, where)
    if decision.rule == "already_refunded":
        turn.say("utter_refund_already")
        return reset_flow()
    if decision.outcome == "approve":
        turn.say(
            "utter_confirm_refund",
            amount=amount,
            invoice_number=payment.invoice_id,
            buttons=turn.yes_no_buttons(),
            json_message=turn.voice(keypad="yes_no"),
        )
        return [
            SlotSet("stage", "awaiting_refund_confirmation"),
            SlotSet("payment_id", str(payment.id)),
            SlotSet("refund_reason", reason),
            SlotSet("payment_choices", None),
        ]
    if decision.outcome == "refuse":
        turn.say("utter_refund_refused", why=refund_rule_text(turn, decision.rule))
    else:
        turn.say("utter_refund_needs_person", amount=amount)
    return await _hand_over(turn, f"refund_{decision.outcome}:{decision.rule}", payment, reason)


def refund_rule_text(turn: Turn, rule: str | None) -> str:
    """Which rule of the refund policy said no, said plainly."""
    key = f"refund_rule_{rule}"
    if f"{key}_one" in i18n.MESSAGES["en"]:  # it counts the policy's days
        return i18n.plural(key, turn.policy.refunds.window_days, turn.language)
    if key not in i18n.MESSAGES["en"]:
        key = "refund_rule_other"
    return i18n.text(key, turn.language)


async def _hand_over(
    turn: Turn, reason: str, payment, refund_reason_code: str | None
) -> list[EventType]:
    reference = await blocking(
        hand_off,
        turn,
        reason,
        {"payment": payment.id, "invoice": payment.invoice_id, "refund_reason": refund_reason_code},
    )
    put_through(turn, reference, "refunds")
    return reset_flow()


class ActionIssueRefund(Action):
    """After an explicit yes: the refund is issued once, however often this runs."""

    def name(self) -> str:
        return "action_issue_refund"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await issue_refund(Turn.read(dispatcher, tracker))


async def issue_refund(turn: Turn) -> list[EventType]:
    customer_id, payment_id = turn.customer_id, turn.slot("payment_id")
    reason = turn.slot("refund_reason")
    if not (customer_id and payment_id and reason):
        return await proceed(turn, "refund")
    payments = await blocking(refunds.offered_payments, turn.store, customer_id, [payment_id])
    if not payments:
        turn.say("utter_refund_already")
        return reset_flow()
    payment, where = payments[0], turn.locale
    try:
        result = await blocking(_issue, turn, customer_id, payment.id, reason)
    except PaymentGatewayError as error:
        log.error("Refund of payment %s failed: %s", payment.id, error)
        turn.say("utter_refund_failed")
        return await _hand_over(turn, "refund_failed", payment, reason)
    amount = format_money(result.amount_minor or payment.amount_minor, payment.currency, where)
    if result.status == "issued":
        turn.say("utter_refund_issued", amount=amount, invoice_number=payment.invoice_id)
        return reset_flow()
    if result.status == "already_refunded":
        turn.say("utter_refund_already")
        return reset_flow()
    if result.status == "failed":  # recorded as failed: a person finishes it
        log.error("Refund of payment %s failed at the provider", payment.id)
        turn.say("utter_refund_failed")
        return await _hand_over(turn, "refund_failed", payment, reason)
    if result.status == "refused":
        turn.say("utter_refund_refused", why=refund_rule_text(turn, result.rule))
    else:
        turn.say("utter_refund_needs_person", amount=amount)
    return await _hand_over(turn, f"refund_{result.status}:{result.rule}", payment, reason)


def _pick(turn: Turn, payments: list):
    """The payment the customer means: by position, amount, date or invoice number."""
    stand_ins = [
        billing.OpenInvoice(
            p.invoice_id, p.amount_minor, p.currency, _local_date(p), _local_date(p), ""
        )
        for p in payments
    ]
    formats = turn.settings.business.invoice_numbers
    chosen = billing.resolve_choice(turn.latest_text, stand_ins, turn.language, formats)
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


def _issue(turn: Turn, customer_id: str, payment_id, reason: str):
    return refunds.issue_refund(
        turn.store,
        turn.app.gateway,
        turn.settings,
        turn.policy,
        customer_id,
        int(payment_id),
        reason,
        turn.actor,
    )
