"""The pay and balance flows: verify, read back, pick, confirm, then a link or a keypad payment."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.conversation import (
    actor,
    blocking,
    channel_proof,
    for_voice,
    hand_off,
    language,
    latest_text,
    locale,
    on_call,
    on_web_chat,
    request_key,
    reset_flow,
    transfer,
    verified_customer_id,
    web_buttons,
    yes_no_buttons,
)
from settle import reminders
from settle.access import lockout
from settle.access import proof as proofs
from settle.access.proof import ChannelProof
from settle.adapters.payments import PaymentGatewayError
from settle.app import runtime
from settle.billing import identity
from settle.billing import ledger as billing
from settle.billing.checkout import NotPayable, send_payment_link
from settle.core import audit, i18n
from settle.core.money import format_money
from settle.core.phones import last_digits, maybe_e164
from settle.messaging.consent import record_opt_out
from settle.store.models import Customer, Invoice, Payment, utcnow

log = logging.getLogger(__name__)


class ActionPayInvoice(Action):
    def name(self) -> str:
        return "action_pay_invoice"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await proceed(dispatcher, tracker, "pay")


class ActionCheckBalance(Action):
    def name(self) -> str:
        return "action_check_balance"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await proceed(dispatcher, tracker, "balance")


class ActionOptOut(Action):
    def name(self) -> str:
        return "action_opt_out"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        # A number the channel proved (a signed text, an attested call) is the number to
        # stop: no questions first. Anyone else says who they are, so that nobody can stop
        # someone else's messages.
        proof = channel_proof(tracker)
        phone = maybe_e164(proof.phone or "") if proof.phone_proven else None
        if phone:
            await blocking(_opt_out, tracker, phone)
            dispatcher.utter_message(response="utter_opted_out", phone_last4=last_digits(phone))
            return reset_flow()
        return await proceed(dispatcher, tracker, "opt_out")


async def proceed(dispatcher: CollectingDispatcher, tracker: Tracker, goal: str) -> list[EventType]:
    """Start what the customer came for: verify them first, unless the channel already did."""
    events: list[EventType] = [SlotSet("goal", goal)] + reset_flow()
    if not skill_enabled(goal):
        dispatcher.utter_message(response="utter_skill_unavailable")
        reference = await blocking(hand_off, tracker, f"{goal}_disabled")
        dispatcher.utter_message(
            response="utter_handoff",
            json_message=transfer(tracker, reference, GOAL_SKILLS.get(goal)),
        )
        return events
    customer_id = verified_customer_id(tracker)
    if customer_id is None:
        customer = await blocking(_caller_id_customer, tracker)
        if customer is None:
            return events + await ask_identity(dispatcher, tracker)
        events += _verified_events(customer, proofs.binding(channel_proof(tracker), by_phone=True))
        customer_id = customer["id"]
    return events + await continue_goal(dispatcher, tracker, goal, customer_id)


async def ask_identity(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Ask who they are: invoice number and postal code (on a call we placed, the postal
    code of the customer we called), unless this conversation may not guess any more."""
    proof = channel_proof(tracker)
    lock, called = await blocking(_before_asking, tracker, proof)
    if lock is not None:
        return await _locked_out(dispatcher, tracker, lock)
    if called:
        dispatcher.utter_message(
            response="utter_confirm_postal_code",
            json_message=for_voice(tracker, keypad=_postal_keypad()),
        )
    else:
        dispatcher.utter_message(
            response="utter_ask_identity", json_message=for_voice(tracker, keypad="identity")
        )
    return [
        SlotSet("stage", "awaiting_identity"),
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ]


def _postal_keypad() -> str:
    """Postal codes of digits can be typed; letters (Canada, the UK) must be said."""
    region = runtime.current().settings.business.default_region
    return "none" if identity.postal_codes_have_letters(region) else "postal"


def _before_asking(tracker: Tracker, proof: ChannelProof):
    """(a lock on this conversation or client, whether we called a known customer)."""
    with runtime.current().store.unit_of_work() as session:
        called = _called_customer(session, proof) is not None
        lock = lockout.active_lock(session, _conversation_keys(tracker, proof, called))
        return lock, called


def _called_customer(session, proof: ChannelProof) -> Customer | None:
    """On a call Settle placed, the customer whose number on file we dialled."""
    if proof.kind != proofs.VOICE or not proof.outbound:
        return None
    return identity.customer_by_phone(
        session, proof.phone, runtime.current().settings.business.default_region
    )


async def _locked_out(
    dispatcher: CollectingDispatcher, tracker: Tracker, lock: lockout.Lock
) -> list[EventType]:
    """No more guesses: say so in the customer's language and hand over to a person."""
    reference = await blocking(hand_off, tracker, "identity_locked", {"lock": lock.scope})
    response = (
        "utter_handoff_unverified" if lock.scope == "conversation" else "utter_identity_locked"
    )
    dispatcher.utter_message(
        response=response, json_message=for_voice(tracker, handoff={"ref": reference})
    )
    return [
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ] + reset_flow()


def _caller_id_customer(tracker: Tracker) -> dict[str, str] | None:
    """The customer whose number on file the channel proved (a signed text from it, or a
    call the carrier attested); nobody for any other message."""
    proof = channel_proof(tracker)
    if not proof.phone_proven:
        return None
    settle = runtime.current()
    with settle.store.unit_of_work() as session:
        customer = identity.customer_by_phone(
            session, proof.phone, settle.settings.business.default_region
        )
        if customer is None:
            return None
        record_audit_in(
            session, tracker, "identity.verified", customer, method="caller_id", proof=proof.kind
        )
        return _customer_facts(customer)


def record_audit_in(session, tracker: Tracker, action: str, customer: Customer, **detail) -> None:
    detail.setdefault("channel", tracker.get_latest_input_channel())
    audit.record(session, actor(tracker), action, f"customer:{customer.id}", **detail)


def _customer_facts(customer: Customer) -> dict[str, str]:
    return {
        "id": customer.id,
        "name": customer.name,
        "language": customer.language,
        "phone": customer.phone,
    }


def _verified_events(customer: dict[str, str], bound_to: str) -> list[EventType]:
    return [
        SlotSet("verified", True),
        SlotSet("customer_id", customer["id"]),
        SlotSet("identity_binding", bound_to),
        SlotSet("verification_failures", 0.0),
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ]


async def continue_goal(
    dispatcher: CollectingDispatcher, tracker: Tracker, goal: str, customer_id: str
) -> list[EventType]:
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
    if on_call(tracker):
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
            total=format_money(total, earliest.currency, where),
            count=len(invoices),
            invoice_number=earliest.id,
            amount=earliest.amount_text(where),
            due_date=earliest.due_text(where),
        )
        return reset_flow()

    if len(invoices) == 1:
        return await act_on_invoice(
            dispatcher, tracker, goal, invoices[0], customer_id, single=True
        )
    shown = invoices[: runtime.current().settings.business.invoices_read_back]
    lines = "\n".join(
        i18n.text(
            "invoice_line",
            language(tracker),
            position=n,
            amount=invoice.amount_text(where),
            due=invoice.due_text(where),
            invoice=invoice.id,
        )
        for n, invoice in enumerate(shown, start=1)
    )
    if goal in LIST_RESPONSES:
        list_response = LIST_RESPONSES[goal]
    else:
        list_response = (
            "utter_invoice_list" if len(shown) == len(invoices) else "utter_invoice_list_recent"
        )
    dispatcher.utter_message(
        response=list_response,
        count=len(invoices),
        shown=len(shown),
        invoice_list=lines,
        buttons=web_buttons(
            tracker,
            [
                {
                    "title": i18n.text(
                        "invoice_button",
                        language(tracker),
                        amount=invoice.amount_text(where),
                        due=invoice.due_text(where),
                    ),
                    "payload": f'/choose_invoice{{"invoice": "{invoice.id}"}}',
                }
                for invoice in shown
            ],
        ),
        json_message=for_voice(tracker, keypad="choice"),
    )
    return [
        SlotSet("stage", "awaiting_choice"),
        SlotSet("invoice_choices", [i.id for i in shown]),
        SlotSet("invoice_id", None),
    ]


# What the list of open invoices asks, per goal; paying is the default question.
LIST_RESPONSES = {"plan": "utter_plan_invoice_list", "dispute": "utter_dispute_invoice_list"}

# Which switch of the settings file (policy.skills) each goal needs.
GOAL_SKILLS = {
    "pay": "payments",
    "balance": "payments",
    "plan": "plans",
    "refund": "refunds",
    "dispute": "disputes",
    "reminder": "reminders",
}


def skill_enabled(goal: str) -> bool:
    skill = GOAL_SKILLS.get(goal)
    skills = getattr(getattr(runtime.current(), "policy", None), "skills", None)
    return skill is None or skills is None or bool(getattr(skills, skill, True))


async def act_on_invoice(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    goal: str,
    invoice: billing.OpenInvoice,
    customer_id: str,
    single: bool = False,
) -> list[EventType]:
    """The invoice is known: do the goal's next step for it."""
    if goal == "plan":
        from actions.plan import offer_plan

        return await offer_plan(dispatcher, tracker, customer_id, invoice.id)
    if goal == "dispute":
        from actions.dispute import ask_reason

        return await ask_reason(dispatcher, tracker, invoice)
    return await ask_confirmation(dispatcher, tracker, invoice, customer_id, single=single)


def _note_phone_conversation(customer_id: str, invoice_ids: list[str]) -> None:
    """A call about these invoices holds off reminder calls about them for a while (Reg F)."""
    with runtime.current().store.unit_of_work() as session:
        reminders.record_phone_conversation(session, customer_id, invoice_ids, utcnow())


def _open_invoices(customer_id: str) -> list[billing.OpenInvoice]:
    with runtime.current().store.unit_of_work() as session:
        return billing.open_invoices(session, customer_id)


async def ask_confirmation(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    invoice: billing.OpenInvoice,
    customer_id: str,
    single: bool = False,
) -> list[EventType]:
    phone = await blocking(_phone_on_file, customer_id)
    where = locale(tracker)
    dispatcher.utter_message(
        response="utter_one_invoice" if single else "utter_confirm_payment",
        invoice_number=invoice.id,
        amount=invoice.amount_text(where),
        due_date=invoice.due_text(where),
        phone_last4=last_digits(phone),
        buttons=yes_no_buttons(tracker),
        json_message=for_voice(tracker, keypad="yes_no"),
    )
    return [SlotSet("stage", "awaiting_confirmation"), SlotSet("invoice_id", invoice.id)]


def _phone_on_file(customer_id: str) -> str:
    with runtime.current().store.unit_of_work() as session:
        return session.get(Customer, customer_id).phone


class ActionVerifyIdentity(Action):
    """Invoice number + postal code, collected over one or more messages (said, typed, or
    pressed on a call's keypad). Misses are counted in the database per conversation,
    invoice, customer and client address (settle.access.lockout); once a limit is reached
    no more guesses are checked and a person takes over."""

    def name(self) -> str:
        return "action_verify_identity"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        proof = channel_proof(tracker)
        called = await blocking(_called_customer_facts, proof)
        text = latest_text(tracker)
        number = identity.find_invoice_number(text) or tracker.get_slot("claimed_invoice_number")
        postal = identity.find_postal_code(text) or tracker.get_slot("claimed_postal_code")
        keys = _keypad_digits(tracker)
        if keys:  # first the invoice number, then the postal code
            if called or number:
                postal = keys
            else:
                number = await blocking(_invoice_from_keypad, keys)
        if called:  # we called the number on file: the postal code confirms who answered
            number = None
        elif not number and not postal:
            dispatcher.utter_message(
                response="utter_ask_identity", json_message=for_voice(tracker, keypad="identity")
            )
            return []
        elif not number:
            dispatcher.utter_message(
                response="utter_ask_invoice_number",
                json_message=for_voice(tracker, keypad="identity"),
            )
            return [SlotSet("claimed_postal_code", postal)]
        if not postal:
            response = "utter_confirm_postal_code" if called else "utter_ask_postal_code"
            dispatcher.utter_message(
                response=response, json_message=for_voice(tracker, keypad=_postal_keypad())
            )
            return [SlotSet("claimed_invoice_number", number)]

        outcome = await blocking(_check_claim, tracker, proof, number, postal)
        if outcome.customer is not None:
            customer = outcome.customer
            events = _verified_events(customer, proofs.binding(proof, by_phone=False))
            goal = tracker.get_slot("goal") or "pay"
            dispatcher.utter_message(
                response="utter_identity_verified", first_name=customer["name"].split()[0]
            )
            return (
                events
                + [SlotSet("stage", None)]
                + await continue_goal(dispatcher, tracker, goal, customer["id"])
            )

        failures = int(tracker.get_slot("verification_failures") or 0) + 1
        events = [
            SlotSet("verification_failures", float(failures)),
            SlotSet("claimed_invoice_number", None),
            SlotSet("claimed_postal_code", None),
        ]
        if outcome.lock is not None:
            return events + await _locked_out(dispatcher, tracker, outcome.lock)
        dispatcher.utter_message(
            response="utter_identity_failed", json_message=for_voice(tracker, keypad="identity")
        )
        return events


def _keypad_digits(tracker: Tracker) -> str | None:
    """Keys a caller pressed at this question (the voice channel's /inform{"keypad": …})."""
    for entity in (tracker.latest_message or {}).get("entities") or []:
        value = str(entity.get("value") or "").strip().strip("#*")
        if entity.get("entity") == "keypad" and value.isdigit():
            return value
    return None


def _invoice_from_keypad(digits: str) -> str:
    """The invoice those digits name; digits that name none still count as a guess."""
    with runtime.current().store.unit_of_work() as session:
        return identity.invoice_number_from_keypad(session, digits) or f"KEYPAD-{digits}"


def _called_customer_facts(proof: ChannelProof) -> dict[str, str] | None:
    with runtime.current().store.unit_of_work() as session:
        customer = _called_customer(session, proof)
        return _customer_facts(customer) if customer is not None else None


# Locks that close on the asker rather than on an account: these may be spoken of.
OWN_SCOPES = ("conversation", "client_address")


@dataclass(frozen=True)
class ClaimOutcome:
    customer: dict[str, str] | None = None
    lock: lockout.Lock | None = None


def _check_claim(
    tracker: Tracker, proof: ChannelProof, number: str | None, postal: str
) -> ClaimOutcome:
    """Check the claim unless a lock closes it; a miss is counted where it applies.

    A lock on the invoice or its owner is not announced: the check is refused and answered
    as a miss (counted against this conversation and client), so nobody learns from the
    answer which invoice numbers exist or whose they are. Only the asker's own locks (this
    conversation's, this client's) are spoken of, and they hand over to a person."""
    settle = runtime.current()
    with settle.store.unit_of_work() as session:
        called = _called_customer(session, proof)
        owner: Customer | None
        if called is not None:  # our call to the number on file: only the call itself counts
            owner, keys = called, _conversation_keys(tracker, proof, called=True)
        else:
            owner = identity.invoice_owner(session, number or "")
            keys = lockout.keys_for(
                _conversation_id(tracker, proof),
                identity.invoice_key(number or ""),
                owner.id if owner else None,
                proof.client,
            )
        lockout.serialize(session, keys)
        own = {scope: key for scope, key in keys.items() if scope in OWN_SCOPES}
        lock = lockout.active_lock(session, own) or lockout.active_lock(session, keys)
        if lock is not None and lock.scope in OWN_SCOPES:
            audit.record(
                session,
                actor(tracker),
                "identity.refused_locked",
                f"{lock.scope}:{lock.key}",
                channel=proof.kind,
            )
            return ClaimOutcome(lock=lock)
        if lock is None and owner is not None and identity.postal_code_matches(owner, postal):
            record_audit_in(
                session,
                tracker,
                "identity.verified",
                owner,
                method="postal_code" if called is not None else "invoice_postal",
            )
            return ClaimOutcome(customer=_customer_facts(owner))
        if lock is not None:
            audit.record(
                session,
                actor(tracker),
                "identity.refused_locked",
                f"{lock.scope}:{lock.key}",
                channel=proof.kind,
            )
            keys = own
        else:  # the claim is not logged verbatim: it may be someone else's real details
            audit.record(session, actor(tracker), "identity.failed", "", channel=proof.kind)
        locks = lockout.record_miss(session, settle.security.lockout, keys, actor(tracker))
        return ClaimOutcome(lock=_most_specific(locks))


def _conversation_id(tracker: Tracker, proof: ChannelProof) -> str:
    """What one conversation's guesses are counted by. A call counts by its call: the
    number it came from may be spoofed, and must not let a stranger lock its owner out."""
    if proof.kind == proofs.VOICE and proof.call_sid:
        return f"call:{proof.call_sid}"
    return tracker.sender_id


def _conversation_keys(tracker: Tracker, proof: ChannelProof, called: bool) -> dict[str, str]:
    """The keys a lock before the question is looked up by (the invoice is not known yet)."""
    client = None if called else proof.client
    return lockout.keys_for(_conversation_id(tracker, proof), None, None, client)


def _most_specific(locks: list[lockout.Lock]) -> lockout.Lock | None:
    """The lock to speak of: this conversation's, then this client's. A lock that just closed
    an invoice or a customer is not spoken of (that would tell which ones exist)."""
    for scope in OWN_SCOPES:
        for lock in locks:
            if lock.scope == scope:
                return lock
    return None


class ActionChooseInvoice(Action):
    """The customer picks one of the invoices read back: by position, amount, date or number."""

    def name(self) -> str:
        return "action_choose_invoice"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
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
        return await act_on_invoice(
            dispatcher, tracker, tracker.get_slot("goal") or "pay", picked, customer_id
        )


# How long a customer waits for a payment link before hearing that it did not work out.
LINK_TURN_SECONDS = 10.0


class ActionSendPaymentLink(Action):
    """After an explicit yes: a checkout for the balance from the database, texted to the
    phone on file."""

    def name(self) -> str:
        return "action_send_payment_link"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id = verified_customer_id(tracker)
        invoice_id = tracker.get_slot("invoice_id")
        if customer_id is None or not invoice_id:
            return await proceed(dispatcher, tracker, "pay")
        settle = runtime.current()
        web = on_web_chat(tracker)
        try:
            # A slow Stripe holds no database lock (settle.checkout) and this customer waits
            # LINK_TURN_SECONDS at most; a link it makes later is reused when they ask again.
            sent = await asyncio.wait_for(
                blocking(_send_link, settle, tracker, customer_id, invoice_id, not web),
                timeout=LINK_TURN_SECONDS,
            )
        except NotPayable:
            dispatcher.utter_message(response="utter_nothing_to_pay", invoice_number=invoice_id)
            return reset_flow()
        except (PaymentGatewayError, asyncio.TimeoutError) as error:
            log.error("Payment link for %s failed: %s", invoice_id, error or "no answer in time")
            dispatcher.utter_message(response="utter_payment_link_failed")
            return reset_flow()
        amount = format_money(sent.amount_minor, sent.currency, locale(tracker))
        if web:  # a button in the chat; by text only if they want it
            lang = language(tracker)
            dispatcher.utter_message(
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
            return reset_flow() + [
                SlotSet("stage", "link_shown"),
                SlotSet("invoice_id", invoice_id),
            ]
        settle.request_delivery()
        _say_texted(dispatcher, sent, amount)
        return reset_flow()


def _say_texted(dispatcher: CollectingDispatcher, sent, amount: str) -> None:
    dispatcher.utter_message(
        response="utter_payment_link_sent"
        if sent.message_status != "refused"
        else "utter_payment_link_refused",
        amount=amount,
        invoice_number=sent.invoice_id,
        phone_last4=sent.phone_last_digits,
    )


def _send_link(settle, tracker: Tracker, customer_id: str, invoice_id: str, text_it: bool = True):
    return send_payment_link(
        settle.store,
        settle.gateway,
        settle.settings,
        customer_id,
        invoice_id,
        request_key(tracker),
        actor(tracker),
        conversation_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel(),
        text_it=text_it,
    )


class ActionTextPaymentLink(Action):
    """Web chat: the link shown as a button, texted too because the customer asked."""

    def name(self) -> str:
        return "action_text_payment_link"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id, invoice_id = verified_customer_id(tracker), tracker.get_slot("invoice_id")
        if customer_id is None or not invoice_id:
            return await proceed(dispatcher, tracker, "pay")
        settle = runtime.current()
        try:
            sent = await asyncio.wait_for(
                blocking(_send_link, settle, tracker, customer_id, invoice_id),
                timeout=LINK_TURN_SECONDS,
            )
        except (NotPayable, PaymentGatewayError, asyncio.TimeoutError):
            dispatcher.utter_message(response="utter_nothing_to_pay", invoice_number=invoice_id)
            return reset_flow()
        settle.request_delivery()
        _say_texted(
            dispatcher, sent, format_money(sent.amount_minor, sent.currency, locale(tracker))
        )
        return reset_flow()


class ActionPaymentReceived(Action):
    """Told by the Settle service that a payment arrived (web chat): say so, from the database."""

    def name(self) -> str:
        return "action_payment_received"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id = verified_customer_id(tracker)
        if customer_id is None:
            return []
        payment = await blocking(_latest_payment, customer_id)
        if payment is not None:
            amount_minor, currency, invoice_id, balance = payment
            where = locale(tracker)
            dispatcher.utter_message(
                response="utter_payment_received",
                amount=format_money(amount_minor, currency, where),
                invoice_number=invoice_id,
                balance=format_money(balance, currency, where),
            )
        return reset_flow()


def _latest_payment(customer_id: str):
    with runtime.current().store.unit_of_work() as session:
        payment = session.scalars(
            select(Payment)
            .join(Invoice)
            .where(Invoice.customer_id == customer_id)
            .order_by(Payment.id.desc())
        ).first()
        if payment is None:
            return None
        return (
            payment.amount_minor,
            payment.currency,
            payment.invoice_id,
            payment.invoice.balance_minor,
        )


class ActionCancelPayment(Action):
    def name(self) -> str:
        return "action_cancel_payment"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        dispatcher.utter_message(response="utter_payment_cancelled")
        return reset_flow()


class ActionPayByPhone(Action):
    """A caller who cannot get texts pays the confirmed invoice by keypad, with Twilio <Pay>."""

    def name(self) -> str:
        return "action_pay_by_phone"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id, invoice_id = verified_customer_id(tracker), tracker.get_slot("invoice_id")
        if not on_call(tracker) or not (customer_id and invoice_id):
            dispatcher.utter_message(response="utter_pay_by_phone_unavailable")
            return []
        invoice = next(
            (i for i in await blocking(_open_invoices, customer_id) if i.id == invoice_id), None
        )
        if invoice is None:
            dispatcher.utter_message(response="utter_nothing_to_pay", invoice_number=invoice_id)
            return reset_flow()
        await blocking(_audit_keypad_offer, tracker, invoice)
        dispatcher.utter_message(
            response="utter_pay_by_keypad",
            amount=invoice.amount_text(locale(tracker)),
            invoice_number=invoice.id,
            json_message=for_voice(
                tracker,
                pay={
                    "invoice_id": invoice.id,
                    "currency": invoice.currency,
                    "amount_minor": invoice.balance_minor,
                },
            ),
        )
        return reset_flow()


def _audit_keypad_offer(tracker: Tracker, invoice: billing.OpenInvoice) -> None:
    with runtime.current().store.unit_of_work() as session:
        audit.record(
            session,
            actor(tracker),
            "payment.keypad_started",
            f"invoice:{invoice.id}",
            amount_minor=invoice.balance_minor,
            currency=invoice.currency,
        )


def _opt_out(tracker: Tracker, phone: str) -> None:
    with runtime.current().store.unit_of_work() as session:
        record_opt_out(
            session, phone, f"conversation:{channel_proof(tracker).kind}", actor(tracker)
        )


def _opt_out_customer(tracker: Tracker, customer_id: str) -> str:
    phone = _phone_on_file(customer_id)
    _opt_out(tracker, phone)
    return phone
