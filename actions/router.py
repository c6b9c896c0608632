"""Start what the customer came for and carry it on: the goal's skill switch, verification
(by the channel, or by invoice number and postal code), then the goal's next step, looked
up in actions.goals; and, for goals about one invoice, reading the open ones back and the
customer's pick. The flows import this module; it never imports them."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import (
    blocking,
    channel_proof,
    for_voice,
    hand_off,
    language,
    latest_text,
    locale,
    on_call,
    reset_flow,
    transfer,
    verified_customer_id,
    web_buttons,
)
from actions.goals import GOALS, GoalHandler
from actions.verification import (
    ask_identity,
    called_customer_facts,
    caller_id_customer,
    check_claim,
    invoice_from_keypad,
    keypad_digits,
    locked_out,
    postal_keypad,
    verified_events,
)
from settle import reminders
from settle.access import proof as proofs
from settle.app import runtime
from settle.billing import conversation as account
from settle.billing import identity
from settle.billing import ledger as billing
from settle.core import i18n

# What a conversation pursues when it has not said, and how a goal no flow registered
# goes on: paying is what the assistant is for.
PAY = "pay"

# Which switch of the settings file (policy.skills) each goal needs.
GOAL_SKILLS = {
    "pay": "payments",
    "balance": "payments",
    "plan": "plans",
    "refund": "refunds",
    "dispute": "disputes",
    "reminder": "reminders",
}


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
        customer = await blocking(caller_id_customer, tracker)
        if customer is None:
            return events + await ask_identity(dispatcher, tracker)
        events += verified_events(customer, proofs.binding(channel_proof(tracker), by_phone=True))
        customer_id = customer["id"]
    return events + await continue_goal(dispatcher, tracker, goal, customer_id)


async def continue_goal(
    dispatcher: CollectingDispatcher, tracker: Tracker, goal: str, customer_id: str
) -> list[EventType]:
    """After verification: do what the customer came for."""
    handler = handler_for(goal)
    if handler.for_customer is not None:
        return await handler.for_customer(dispatcher, tracker, customer_id)

    invoices = await blocking(account.open_invoices, runtime.current().store, customer_id)
    if not invoices:
        dispatcher.utter_message(response="utter_no_open_invoices")
        return reset_flow()
    if on_call(tracker):
        await blocking(
            reminders.note_phone_conversation,
            runtime.current().store,
            customer_id,
            [i.id for i in invoices],
        )
    if handler.for_open_invoices is not None:
        return await handler.for_open_invoices(dispatcher, tracker, customer_id, invoices)

    if len(invoices) == 1:
        return await act_on_invoice(
            dispatcher, tracker, goal, invoices[0], customer_id, single=True
        )
    where = locale(tracker)
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
    list_response = handler.list_response or (
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
    """The invoice is known: do the goal's next step for it (a goal that takes no one
    invoice goes on as paying does)."""
    step = handler_for(goal).for_invoice or handler_for(PAY).for_invoice
    if step is None:
        raise LookupError("no flow takes an invoice for the pay goal (actions.payment does)")
    return await step(dispatcher, tracker, customer_id, invoice, single)


def handler_for(goal: str) -> GoalHandler:
    """The goal's handler; a goal no flow registered goes on as paying does."""
    return GOALS.get(goal) or GOALS[PAY]


class ActionVerifyIdentity(Action):
    """Invoice number + postal code, collected over one or more messages (said, typed, or
    pressed on a call's keypad). Misses are counted in the database per conversation,
    invoice, customer and client address (settle.access.lockout); once a limit is reached
    no more guesses are checked and a person takes over."""

    def name(self) -> str:
        return "action_verify_identity"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        proof = channel_proof(tracker)
        called = await blocking(called_customer_facts, proof)
        text = latest_text(tracker)
        number = identity.find_invoice_number(text) or tracker.get_slot("claimed_invoice_number")
        postal = identity.find_postal_code(text) or tracker.get_slot("claimed_postal_code")
        keys = keypad_digits(tracker)
        if keys:  # first the invoice number, then the postal code
            if called or number:
                postal = keys
            else:
                number = await blocking(invoice_from_keypad, keys)
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
                response=response, json_message=for_voice(tracker, keypad=postal_keypad())
            )
            return [SlotSet("claimed_invoice_number", number)]

        outcome = await blocking(check_claim, tracker, proof, number, postal)
        if outcome.customer is not None:
            customer = outcome.customer
            events = verified_events(customer, proofs.binding(proof, by_phone=False))
            goal = tracker.get_slot("goal") or PAY
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
            return events + await locked_out(dispatcher, tracker, outcome.lock)
        dispatcher.utter_message(
            response="utter_identity_failed", json_message=for_voice(tracker, keypad="identity")
        )
        return events


class ActionChooseInvoice(Action):
    """The customer picks one of the invoices read back: by position, amount, date or number."""

    def name(self) -> str:
        return "action_choose_invoice"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id = verified_customer_id(tracker)
        if customer_id is None:
            return await proceed(dispatcher, tracker, PAY)
        choices = tracker.get_slot("invoice_choices") or []
        # Only what this customer was offered, re-read from the database: never a slot's amount.
        invoices = await blocking(account.open_invoices, runtime.current().store, customer_id)
        offered = [i for i in invoices if i.id in choices]
        offered.sort(key=lambda i: choices.index(i.id))
        picked = billing.resolve_choice(latest_text(tracker), offered, language(tracker))
        if picked is None:
            dispatcher.utter_message(response="utter_which_invoice")
            return []
        return await act_on_invoice(
            dispatcher, tracker, tracker.get_slot("goal") or PAY, picked, customer_id
        )
