"""The pay and balance flows: the balance read back; for paying, the invoice confirmed,
then a link (texted, or a button in the web chat) or a keypad payment on a call. Who the
customer is and which invoice they mean come first (actions.router)."""

from __future__ import annotations

import asyncio
import logging

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from actions.conversation import blocking, reset_flow
from actions.goals import with_invoice, with_open_invoices
from actions.router import PAY, proceed
from actions.turn import Turn
from settle.adapters.payments import PaymentGatewayError
from settle.billing import conversation as account
from settle.billing import ledger as billing
from settle.billing.checkout import NotPayable
from settle.billing.link_texts import send_payment_link
from settle.core import i18n
from settle.core.money import format_money
from settle.core.phones import last_digits
from settle.observability import metrics

log = logging.getLogger(__name__)


class ActionPayInvoice(Action):
    def name(self) -> str:
        return "action_pay_invoice"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await proceed(Turn.read(dispatcher, tracker), PAY)


class ActionCheckBalance(Action):
    def name(self) -> str:
        return "action_check_balance"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await proceed(Turn.read(dispatcher, tracker), "balance")


@with_open_invoices("balance")
async def read_balance(
    turn: Turn, customer_id: str, invoices: list[billing.OpenInvoice]
) -> list[EventType]:
    """What the customer owes in all, and the invoice due first."""
    where = turn.locale
    total = sum(i.balance_minor for i in invoices)
    earliest = min(invoices, key=lambda i: i.due_on)
    turn.say(
        "utter_balance" if len(invoices) > 1 else "utter_balance_one",
        total=format_money(total, earliest.currency, where),
        count=len(invoices),
        invoice_number=earliest.id,
        amount=earliest.amount_text(where),
        due_date=earliest.due_text(where),
    )
    return reset_flow()


@with_invoice(PAY)
async def ask_confirmation(
    turn: Turn, customer_id: str, invoice: billing.OpenInvoice, single: bool = False
) -> list[EventType]:
    """Read the invoice back (the only one, or the one picked) and ask for a yes."""
    phone = await blocking(account.phone_on_file, turn.store, customer_id)
    where = turn.locale
    turn.say(
        "utter_one_invoice" if single else "utter_confirm_payment",
        invoice_number=invoice.id,
        amount=invoice.amount_text(where),
        due_date=invoice.due_text(where),
        phone_last4=last_digits(phone),
        buttons=turn.yes_no_buttons(),
        json_message=turn.voice(keypad="yes_no"),
    )
    return [SlotSet("stage", "awaiting_confirmation"), SlotSet("invoice_id", invoice.id)]


# How long a customer waits for a payment link before hearing that it did not work out.
LINK_TURN_SECONDS = 10.0


class ActionSendPaymentLink(Action):
    """After an explicit yes: a checkout for the balance from the database, texted to the
    phone on file."""

    def name(self) -> str:
        return "action_send_payment_link"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await send_link(Turn.read(dispatcher, tracker))


async def send_link(turn: Turn) -> list[EventType]:
    """The link as a button in the web chat; texted on every other channel."""
    customer_id, invoice_id = turn.customer_id, turn.slot("invoice_id")
    if customer_id is None or not invoice_id:
        return await proceed(turn, PAY)
    web = turn.on_web_chat
    try:
        # A slow Stripe holds no database lock (settle.checkout) and this customer waits
        # LINK_TURN_SECONDS at most; a link it makes later is reused when they ask again.
        sent = await asyncio.wait_for(
            blocking(_send_link, turn, customer_id, invoice_id, not web), timeout=LINK_TURN_SECONDS
        )
    except NotPayable:
        turn.say("utter_nothing_to_pay", invoice_number=invoice_id)
        return reset_flow()
    except (PaymentGatewayError, asyncio.TimeoutError) as error:
        log.error("Payment link for %s failed: %s", invoice_id, error or "no answer in time")
        turn.say("utter_payment_link_failed")
        return reset_flow()
    amount = format_money(sent.amount_minor, sent.currency, turn.locale)
    if web:  # a button in the chat; by text only if they want it
        lang = turn.language
        turn.say(
            json_message={
                "data": {
                    "text": i18n.text(
                        "web_link_ready",
                        lang,
                        amount=amount,
                        invoice=sent.invoice_id,
                        phone_last4=sent.phone_last_digits,
                    ),
                    "quick_replies": [
                        {
                            "type": "web_url",
                            "url": sent.url,
                            "title": i18n.text("pay_button", lang, amount=amount),
                        }
                    ],
                }
            }
        )
        return reset_flow() + [SlotSet("stage", "link_shown"), SlotSet("invoice_id", invoice_id)]
    turn.app.request_delivery()
    _say_texted(turn, sent, amount)
    return reset_flow()


def _say_texted(turn: Turn, sent, amount: str) -> None:
    turn.say(
        "utter_payment_link_sent"
        if sent.message_status != "refused"
        else "utter_payment_link_refused",
        amount=amount,
        invoice_number=sent.invoice_id,
        phone_last4=sent.phone_last_digits,
    )


def _send_link(turn: Turn, customer_id: str, invoice_id: str, text_it: bool = True):
    sent = send_payment_link(
        turn.store,
        turn.app.gateway,
        turn.settings,
        customer_id,
        invoice_id,
        turn.request_key,
        turn.actor,
        conversation_id=turn.sender_id,
        channel=turn.channel,
        text_it=text_it,
    )
    if sent.message_status != "refused":  # texted, or shown as a button
        metrics.LINKS_SENT.labels(metrics.channel_label(turn.channel)).inc()
    return sent


class ActionTextPaymentLink(Action):
    """Web chat: the link shown as a button, texted too because the customer asked."""

    def name(self) -> str:
        return "action_text_payment_link"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await text_link(Turn.read(dispatcher, tracker))


async def text_link(turn: Turn) -> list[EventType]:
    customer_id, invoice_id = turn.customer_id, turn.slot("invoice_id")
    if customer_id is None or not invoice_id:
        return await proceed(turn, PAY)
    try:
        sent = await asyncio.wait_for(
            blocking(_send_link, turn, customer_id, invoice_id), timeout=LINK_TURN_SECONDS
        )
    except (NotPayable, PaymentGatewayError, asyncio.TimeoutError):
        turn.say("utter_nothing_to_pay", invoice_number=invoice_id)
        return reset_flow()
    turn.app.request_delivery()
    _say_texted(turn, sent, format_money(sent.amount_minor, sent.currency, turn.locale))
    return reset_flow()


class ActionPaymentReceived(Action):
    """Told by the Settle service that a payment arrived (web chat): say so, from the database."""

    def name(self) -> str:
        return "action_payment_received"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await payment_received(Turn.read(dispatcher, tracker))


async def payment_received(turn: Turn) -> list[EventType]:
    if turn.customer_id is None:
        return []
    payment = await blocking(account.latest_payment, turn.store, turn.customer_id)
    if payment is not None:
        where = turn.locale
        turn.say(
            "utter_payment_received",
            amount=format_money(payment.amount_minor, payment.currency, where),
            invoice_number=payment.invoice_id,
            balance=format_money(payment.balance_minor, payment.currency, where),
        )
    return reset_flow()


class ActionCancelPayment(Action):
    def name(self) -> str:
        return "action_cancel_payment"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        Turn.read(dispatcher, tracker).say("utter_payment_cancelled")
        return reset_flow()


class ActionPayByPhone(Action):
    """A caller who cannot get texts pays the confirmed invoice by keypad, with Twilio <Pay>."""

    def name(self) -> str:
        return "action_pay_by_phone"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await pay_by_phone(Turn.read(dispatcher, tracker))


async def pay_by_phone(turn: Turn) -> list[EventType]:
    customer_id, invoice_id = turn.customer_id, turn.slot("invoice_id")
    if not turn.on_call or not (customer_id and invoice_id):
        turn.say("utter_pay_by_phone_unavailable")
        return []
    invoices = await blocking(account.open_invoices, turn.store, customer_id)
    invoice = next((i for i in invoices if i.id == invoice_id), None)
    if invoice is None:
        turn.say("utter_nothing_to_pay", invoice_number=invoice_id)
        return reset_flow()
    await blocking(account.record_keypad_offer, turn.store, turn.actor, invoice)
    turn.say(
        "utter_pay_by_keypad",
        amount=invoice.amount_text(turn.locale),
        invoice_number=invoice.id,
        json_message=turn.voice(
            pay={
                "invoice_id": invoice.id,
                "currency": invoice.currency,
                "amount_minor": invoice.balance_minor,
            }
        ),
    )
    return reset_flow()
