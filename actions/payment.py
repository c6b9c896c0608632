"""The pay and balance flows: verify, read back, pick, confirm, then a link or a keypad payment."""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.conversation import (
    actor, blocking, for_voice, hand_off, language, latest_text, locale, on_web_chat,
    request_key, reset_flow, transfer, verified_customer_id, web_buttons, yes_no_buttons,
)
from settle import audit, billing, i18n, identity, reminders, runtime
from settle.checkout import NotPayable, send_payment_link
from settle.messaging import record_opt_out
from settle.money import format_money
from settle.payments import PaymentGatewayError
from settle.phones import last_digits, maybe_e164
from settle.store.models import Customer, Invoice, Payment, utcnow

log = logging.getLogger(__name__)

class ActionPayInvoice(Action):
    def name(self) -> Text:
        return "action_pay_invoice"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        return await proceed(dispatcher, tracker, "pay")


class ActionCheckBalance(Action):
    def name(self) -> Text:
        return "action_check_balance"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        return await proceed(dispatcher, tracker, "balance")


class ActionOptOut(Action):
    def name(self) -> Text:
        return "action_opt_out"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        # On a signed phone channel the sender is the number to stop: no questions first.
        if tracker.get_latest_input_channel() in identity.SIGNED_PHONE_CHANNELS:
            phone = maybe_e164(tracker.sender_id)
            if phone:
                await blocking(_opt_out, tracker, phone)
                dispatcher.utter_message(response="utter_opted_out",
                                         phone_last4=last_digits(phone))
                return reset_flow()
        return await proceed(dispatcher, tracker, "opt_out")


async def proceed(dispatcher: CollectingDispatcher, tracker: Tracker, goal: str) -> List[EventType]:
    """Start what the customer came for: verify them first, unless the channel already did."""
    events: List[EventType] = [SlotSet("goal", goal)] + reset_flow()
    if not skill_enabled(goal):
        dispatcher.utter_message(response="utter_skill_unavailable")
        reference = await blocking(hand_off, tracker, f"{goal}_disabled")
        dispatcher.utter_message(response="utter_handoff",
                                 json_message=transfer(tracker, reference, GOAL_SKILLS.get(goal)))
        return events
    customer_id = verified_customer_id(tracker)
    if customer_id is None:
        customer = await blocking(_caller_id_customer, tracker)
        if customer is None:
            dispatcher.utter_message(response="utter_ask_identity")
            return events + [SlotSet("stage", "awaiting_identity"),
                             SlotSet("claimed_invoice_number", None),
                             SlotSet("claimed_postal_code", None)]
        events += _verified_events(customer)
        customer_id = customer["id"]
    return events + await continue_goal(dispatcher, tracker, goal, customer_id)


def _caller_id_customer(tracker: Tracker) -> Optional[Dict[str, str]]:
    settle = runtime.current()
    with settle.store.unit_of_work() as session:
        customer = identity.customer_by_caller_id(
            session, tracker.get_latest_input_channel(), tracker.sender_id,
            settle.settings.business.default_region)
        if customer is None:
            return None
        record_audit_in(session, tracker, "identity.verified", customer, method="caller_id")
        return _customer_facts(customer)


def record_audit_in(session, tracker: Tracker, action: str, customer: Customer, **detail) -> None:
    audit.record(session, actor(tracker), action, f"customer:{customer.id}",
                 channel=tracker.get_latest_input_channel(), **detail)


def _customer_facts(customer: Customer) -> Dict[str, str]:
    return {"id": customer.id, "name": customer.name, "language": customer.language,
            "phone": customer.phone}


def _verified_events(customer: Dict[str, str]) -> List[EventType]:
    return [SlotSet("verified", True), SlotSet("customer_id", customer["id"]),
            SlotSet("verification_failures", 0.0), SlotSet("claimed_invoice_number", None),
            SlotSet("claimed_postal_code", None)]


async def continue_goal(dispatcher: CollectingDispatcher, tracker: Tracker, goal: str,
                        customer_id: str) -> List[EventType]:
    """After verification: do what the customer came for."""
    if goal == "opt_out":
        phone = await blocking(_opt_out_customer, tracker, customer_id)
        dispatcher.utter_message(response="utter_opted_out", phone_last4=last_digits(phone))
        return reset_flow()

    if goal == "refund":
        from actions.refund import offer_payments
        return await offer_payments(dispatcher, tracker, customer_id)

    invoices = await blocking(_open_invoices, customer_id)
    if not invoices:
        dispatcher.utter_message(response="utter_no_open_invoices")
        return reset_flow()
    if tracker.get_latest_input_channel() == "twilio_voice":
        await blocking(_note_phone_conversation, customer_id, [i.id for i in invoices])
    if goal == "reminder":
        from actions.reminder import ask_when
        return await ask_when(dispatcher, tracker, customer_id, invoices)
    where = locale(tracker)
    if goal == "balance":
        total = sum(i.balance_minor for i in invoices)
        earliest = min(invoices, key=lambda i: i.due_on)
        dispatcher.utter_message(
            response="utter_balance" if len(invoices) > 1 else "utter_balance_one",
            total=format_money(total, earliest.currency, where), count=len(invoices),
            invoice_number=earliest.id, amount=earliest.amount_text(where),
            due_date=earliest.due_text(where))
        return reset_flow()

    if len(invoices) == 1:
        return await act_on_invoice(dispatcher, tracker, goal, invoices[0], customer_id, single=True)
    shown = invoices[: runtime.current().settings.business.invoices_read_back]
    lines = "\n".join(
        i18n.text("invoice_line", language(tracker), position=n,
                  amount=invoice.amount_text(where), due=invoice.due_text(where),
                  invoice=invoice.id)
        for n, invoice in enumerate(shown, start=1))
    if goal in LIST_RESPONSES:
        list_response = LIST_RESPONSES[goal]
    else:
        list_response = ("utter_invoice_list" if len(shown) == len(invoices)
                         else "utter_invoice_list_recent")
    dispatcher.utter_message(
        response=list_response,
        count=len(invoices), shown=len(shown), invoice_list=lines,
        buttons=web_buttons(tracker, [
            {"title": i18n.text("invoice_button", language(tracker),
                                amount=invoice.amount_text(where), due=invoice.due_text(where)),
             "payload": f'/choose_invoice{{"invoice": "{invoice.id}"}}'} for invoice in shown]),
        json_message=for_voice(tracker, keypad="choice"))
    return [SlotSet("stage", "awaiting_choice"),
            SlotSet("invoice_choices", [i.id for i in shown]), SlotSet("invoice_id", None)]


# What the list of open invoices asks, per goal; paying is the default question.
LIST_RESPONSES = {"plan": "utter_plan_invoice_list", "dispute": "utter_dispute_invoice_list"}

# Which switch of the settings file (policy.skills) each goal needs.
GOAL_SKILLS = {"pay": "payments", "balance": "payments", "plan": "plans", "refund": "refunds",
               "dispute": "disputes", "reminder": "reminders"}


def skill_enabled(goal: str) -> bool:
    skill = GOAL_SKILLS.get(goal)
    skills = getattr(getattr(runtime.current(), "policy", None), "skills", None)
    return skill is None or skills is None or bool(getattr(skills, skill, True))


async def act_on_invoice(dispatcher: CollectingDispatcher, tracker: Tracker, goal: str,
                         invoice: billing.OpenInvoice, customer_id: str,
                         single: bool = False) -> List[EventType]:
    """The invoice is known: do the goal's next step for it."""
    if goal == "plan":
        from actions.plan import offer_plan
        return await offer_plan(dispatcher, tracker, customer_id, invoice.id)
    if goal == "dispute":
        from actions.dispute import ask_reason
        return await ask_reason(dispatcher, tracker, invoice)
    return await ask_confirmation(dispatcher, tracker, invoice, customer_id, single=single)


def _note_phone_conversation(customer_id: str, invoice_ids: List[str]) -> None:
    """A call about these invoices holds off reminder calls about them for a while (Reg F)."""
    with runtime.current().store.unit_of_work() as session:
        reminders.record_phone_conversation(session, customer_id, invoice_ids, utcnow())


def _open_invoices(customer_id: str) -> List[billing.OpenInvoice]:
    with runtime.current().store.unit_of_work() as session:
        return billing.open_invoices(session, customer_id)


async def ask_confirmation(dispatcher: CollectingDispatcher, tracker: Tracker,
                           invoice: billing.OpenInvoice, customer_id: str,
                           single: bool = False) -> List[EventType]:
    phone = await blocking(_phone_on_file, customer_id)
    where = locale(tracker)
    dispatcher.utter_message(
        response="utter_one_invoice" if single else "utter_confirm_payment",
        invoice_number=invoice.id, amount=invoice.amount_text(where),
        due_date=invoice.due_text(where), phone_last4=last_digits(phone),
        buttons=yes_no_buttons(tracker), json_message=for_voice(tracker, keypad="yes_no"))
    return [SlotSet("stage", "awaiting_confirmation"), SlotSet("invoice_id", invoice.id)]


def _phone_on_file(customer_id: str) -> str:
    with runtime.current().store.unit_of_work() as session:
        return session.get(Customer, customer_id).phone


class ActionVerifyIdentity(Action):
    """Invoice number + postal code, collected over one or more messages; three misses hand over."""

    def name(self) -> Text:
        return "action_verify_identity"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        text = latest_text(tracker)
        number = identity.find_invoice_number(text) or tracker.get_slot("claimed_invoice_number")
        postal = identity.find_postal_code(text) or tracker.get_slot("claimed_postal_code")
        if not number and not postal:
            dispatcher.utter_message(response="utter_ask_identity")
            return []
        if not postal:
            dispatcher.utter_message(response="utter_ask_postal_code")
            return [SlotSet("claimed_invoice_number", number)]
        if not number:
            dispatcher.utter_message(response="utter_ask_invoice_number")
            return [SlotSet("claimed_postal_code", postal)]

        customer = await blocking(_check_claim, tracker, number, postal)
        if customer is not None:
            events = _verified_events(customer)
            goal = tracker.get_slot("goal") or "pay"
            dispatcher.utter_message(response="utter_identity_verified",
                                     first_name=customer["name"].split()[0])
            return events + [SlotSet("stage", None)] + await continue_goal(
                dispatcher, tracker, goal, customer["id"])

        failures = int(tracker.get_slot("verification_failures") or 0) + 1
        events = [SlotSet("verification_failures", float(failures)),
                  SlotSet("claimed_invoice_number", None), SlotSet("claimed_postal_code", None)]
        if failures >= runtime.current().settings.business.max_verification_attempts:
            reference = await blocking(hand_off, tracker, "identity_not_verified")
            dispatcher.utter_message(response="utter_handoff_unverified",
                                     json_message=for_voice(tracker, handoff={"ref": reference}))
            return events + reset_flow()
        dispatcher.utter_message(response="utter_identity_failed")
        return events


def _check_claim(tracker: Tracker, number: str, postal: str) -> Optional[Dict[str, str]]:
    with runtime.current().store.unit_of_work() as session:
        customer = identity.customer_by_invoice(session, number, postal)
        if customer is None:
            # The claim is not logged verbatim: it may be someone else's real details.
            audit.record(session, actor(tracker), "identity.failed", "",
                         channel=tracker.get_latest_input_channel())
            return None
        record_audit_in(session, tracker, "identity.verified", customer, method="invoice_postal")
        return _customer_facts(customer)


class ActionChooseInvoice(Action):
    """The customer picks one of the invoices read back: by position, amount, date or number."""

    def name(self) -> Text:
        return "action_choose_invoice"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        customer_id = verified_customer_id(tracker)
        if customer_id is None:
            return await proceed(dispatcher, tracker, "pay")
        choices = tracker.get_slot("invoice_choices") or []
        # Only what this customer was offered, re-read from the database: never a slot's amount.
        offered = [i for i in await blocking(_open_invoices, customer_id) if i.id in choices]
        offered.sort(key=lambda i: choices.index(i.id))
        picked = billing.resolve_choice(latest_text(tracker), offered, language(tracker))
        if picked is None:
            dispatcher.utter_message(response="utter_which_invoice")
            return []
        return await act_on_invoice(dispatcher, tracker, tracker.get_slot("goal") or "pay",
                                    picked, customer_id)


class ActionSendPaymentLink(Action):
    """After an explicit yes: a checkout for the balance from the database, texted to the phone on file."""

    def name(self) -> Text:
        return "action_send_payment_link"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        customer_id = verified_customer_id(tracker)
        invoice_id = tracker.get_slot("invoice_id")
        if customer_id is None or not invoice_id:
            return await proceed(dispatcher, tracker, "pay")
        settle = runtime.current()
        web = on_web_chat(tracker)
        try:
            sent = await blocking(_send_link, settle, tracker, customer_id, invoice_id, not web)
        except NotPayable:
            dispatcher.utter_message(response="utter_nothing_to_pay", invoice_number=invoice_id)
            return reset_flow()
        except PaymentGatewayError as error:
            log.error("Payment link for %s failed: %s", invoice_id, error)
            dispatcher.utter_message(response="utter_payment_link_failed")
            return reset_flow()
        amount = format_money(sent.amount_minor, sent.currency, locale(tracker))
        if web:  # a button in the chat; by text only if they want it
            lang = language(tracker)
            dispatcher.utter_message(json_message={"data": {
                "text": i18n.text("web_link_ready", lang, amount=amount, invoice=sent.invoice_id,
                                  phone_last4=sent.phone_last_digits),
                "quick_replies": [{"type": "web_url", "url": sent.url,
                                   "title": i18n.text("pay_button", lang, amount=amount)}]}})
            return reset_flow() + [SlotSet("stage", "link_shown"), SlotSet("invoice_id", invoice_id)]
        await blocking(settle.deliver_messages)
        _say_texted(dispatcher, sent, amount)
        return reset_flow()


def _say_texted(dispatcher: CollectingDispatcher, sent, amount: str) -> None:
    dispatcher.utter_message(
        response="utter_payment_link_sent" if sent.message_status != "refused"
        else "utter_payment_link_refused",
        amount=amount, invoice_number=sent.invoice_id, phone_last4=sent.phone_last_digits)


def _send_link(settle, tracker: Tracker, customer_id: str, invoice_id: str, text_it: bool = True):
    with settle.store.unit_of_work() as session:
        return send_payment_link(session, settle.gateway, settle.settings, customer_id,
                                 invoice_id, request_key(tracker), actor(tracker),
                                 conversation_id=tracker.sender_id,
                                 channel=tracker.get_latest_input_channel(), text_it=text_it)


class ActionTextPaymentLink(Action):
    """Web chat: the link shown as a button, texted too because the customer asked."""

    def name(self) -> Text:
        return "action_text_payment_link"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        customer_id, invoice_id = verified_customer_id(tracker), tracker.get_slot("invoice_id")
        if customer_id is None or not invoice_id:
            return await proceed(dispatcher, tracker, "pay")
        settle = runtime.current()
        try:
            sent = await blocking(_send_link, settle, tracker, customer_id, invoice_id)
        except (NotPayable, PaymentGatewayError):
            dispatcher.utter_message(response="utter_nothing_to_pay", invoice_number=invoice_id)
            return reset_flow()
        await blocking(settle.deliver_messages)
        _say_texted(dispatcher, sent, format_money(sent.amount_minor, sent.currency, locale(tracker)))
        return reset_flow()


class ActionPaymentReceived(Action):
    """Told by the Settle service that a payment arrived (web chat): say so, from the database."""

    def name(self) -> Text:
        return "action_payment_received"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        customer_id = verified_customer_id(tracker)
        if customer_id is None:
            return []
        payment = await blocking(_latest_payment, customer_id)
        if payment is not None:
            amount_minor, currency, invoice_id, balance = payment
            where = locale(tracker)
            dispatcher.utter_message(response="utter_payment_received",
                                     amount=format_money(amount_minor, currency, where),
                                     invoice_number=invoice_id,
                                     balance=format_money(balance, currency, where))
        return reset_flow()


def _latest_payment(customer_id: str):
    with runtime.current().store.unit_of_work() as session:
        payment = session.scalars(
            select(Payment).join(Invoice).where(Invoice.customer_id == customer_id)
            .order_by(Payment.id.desc())).first()
        if payment is None:
            return None
        return payment.amount_minor, payment.currency, payment.invoice_id, payment.invoice.balance_minor


class ActionCancelPayment(Action):
    def name(self) -> Text:
        return "action_cancel_payment"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        dispatcher.utter_message(response="utter_payment_cancelled")
        return reset_flow()


class ActionPayByPhone(Action):
    """A caller who cannot get texts pays the confirmed invoice by keypad, with Twilio <Pay>."""

    def name(self) -> Text:
        return "action_pay_by_phone"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        customer_id, invoice_id = verified_customer_id(tracker), tracker.get_slot("invoice_id")
        if tracker.get_latest_input_channel() != "twilio_voice" or not (customer_id and invoice_id):
            dispatcher.utter_message(response="utter_pay_by_phone_unavailable")
            return []
        invoice = next((i for i in await blocking(_open_invoices, customer_id) if i.id == invoice_id),
                       None)
        if invoice is None:
            dispatcher.utter_message(response="utter_nothing_to_pay", invoice_number=invoice_id)
            return reset_flow()
        await blocking(_audit_keypad_offer, tracker, invoice)
        dispatcher.utter_message(
            response="utter_pay_by_keypad", amount=invoice.amount_text(locale(tracker)),
            invoice_number=invoice.id,
            json_message=for_voice(tracker, pay={"invoice_id": invoice.id, "currency": invoice.currency,
                                                 "amount_minor": invoice.balance_minor}))
        return reset_flow()


def _audit_keypad_offer(tracker: Tracker, invoice: billing.OpenInvoice) -> None:
    with runtime.current().store.unit_of_work() as session:
        audit.record(session, actor(tracker), "payment.keypad_started", f"invoice:{invoice.id}",
                     amount_minor=invoice.balance_minor, currency=invoice.currency)


def _opt_out(tracker: Tracker, phone: str) -> None:
    with runtime.current().store.unit_of_work() as session:
        record_opt_out(session, phone, f"conversation:{tracker.get_latest_input_channel()}",
                       actor(tracker))


def _opt_out_customer(tracker: Tracker, customer_id: str) -> str:
    phone = _phone_on_file(customer_id)
    _opt_out(tracker, phone)
    return phone
