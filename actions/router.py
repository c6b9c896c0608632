"""Start what the customer came for and carry it on: the goal's skill switch, verification
(by the channel, or by invoice number and postal code), then the goal's next step, looked
up in actions.goals; and, for goals about one invoice, reading the open ones back and the
customer's pick. The flows import this module; it never imports them."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from actions.conversation import blocking, hand_off, put_through, reset_flow
from actions.goals import GOALS, GoalHandler
from actions.turn import Turn
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


async def proceed(turn: Turn, goal: str) -> list[EventType]:
    """Start what the customer came for: verify them first, unless the channel already did."""
    events: list[EventType] = [SlotSet("goal", goal)] + reset_flow()
    if not skill_enabled(turn, goal):
        turn.say("utter_skill_unavailable")
        reference = await blocking(hand_off, turn, f"{goal}_disabled")
        put_through(turn, reference, GOAL_SKILLS.get(goal))
        return events
    customer_id = turn.customer_id
    if customer_id is None:
        customer = await blocking(caller_id_customer, turn)
        if customer is None:
            return events + await ask_identity(turn)
        events += verified_events(customer, proofs.binding(turn.proof, by_phone=True))
        customer_id = customer["id"]
    return events + await continue_goal(turn, goal, customer_id)


async def continue_goal(turn: Turn, goal: str, customer_id: str) -> list[EventType]:
    """After verification (at the start of this turn, or just now: hence `customer_id`
    rather than turn.customer_id): do what the customer came for."""
    handler = handler_for(goal)
    if handler.for_customer is not None:
        return await handler.for_customer(turn, customer_id)

    invoices = await blocking(account.open_invoices, turn.store, customer_id)
    if not invoices:
        turn.say("utter_no_open_invoices")
        return reset_flow()
    if turn.on_call:
        await blocking(
            reminders.note_phone_conversation, turn.store, customer_id, [i.id for i in invoices]
        )
    if handler.for_open_invoices is not None:
        return await handler.for_open_invoices(turn, customer_id, invoices)

    if len(invoices) == 1:
        return await act_on_invoice(turn, goal, invoices[0], customer_id, single=True)
    where = turn.locale
    shown = invoices[: turn.settings.business.invoices_read_back]
    lines = "\n".join(
        i18n.text(
            "invoice_line",
            turn.language,
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
    turn.say(
        list_response,
        count=len(invoices),
        shown=len(shown),
        invoice_list=lines,
        buttons=turn.buttons(
            [
                {
                    "title": i18n.text(
                        "invoice_button",
                        turn.language,
                        amount=invoice.amount_text(where),
                        due=invoice.due_text(where),
                    ),
                    "payload": f'/choose_invoice{{"invoice": "{invoice.id}"}}',
                }
                for invoice in shown
            ]
        ),
        json_message=turn.voice(keypad="choice"),
    )
    return [
        SlotSet("stage", "awaiting_choice"),
        SlotSet("invoice_choices", [i.id for i in shown]),
        SlotSet("invoice_id", None),
    ]


def skill_enabled(turn: Turn, goal: str) -> bool:
    skill = GOAL_SKILLS.get(goal)
    return skill is None or bool(getattr(turn.policy.skills, skill, True))


async def act_on_invoice(
    turn: Turn, goal: str, invoice: billing.OpenInvoice, customer_id: str, single: bool = False
) -> list[EventType]:
    """The invoice is known: do the goal's next step for it (a goal that takes no one
    invoice goes on as paying does)."""
    step = handler_for(goal).for_invoice or handler_for(PAY).for_invoice
    if step is None:
        raise LookupError("no flow takes an invoice for the pay goal (actions.payment does)")
    return await step(turn, customer_id, invoice, single)


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
        return await verify_identity(Turn.read(dispatcher, tracker))


async def verify_identity(turn: Turn) -> list[EventType]:
    """One message towards an invoice number and a postal code; checked once both are in."""
    called = await blocking(called_customer_facts, turn)
    formats = turn.settings.business.invoice_numbers
    # Digits alone are an invoice number only when one was just asked for (we have the
    # postal code, not the number); see settle.billing.invoice_numbers.
    asked = not called and bool(turn.slot("claimed_postal_code"))
    said_number, said_postal = identity.read_claim(turn.latest_text, formats, asked, turn.language)
    number = said_number or turn.slot("claimed_invoice_number")
    postal = said_postal or turn.slot("claimed_postal_code")
    keys = keypad_digits(turn)
    if keys:  # first the invoice number, then the postal code
        if called or number:
            postal = keys
        else:
            number = await blocking(invoice_from_keypad, turn, keys)
    if called:  # we called the number on file: the postal code confirms who answered
        number = None
    elif not number and not postal:
        turn.say("utter_ask_identity", json_message=turn.voice(keypad="identity"))
        return []
    elif not number:
        turn.say("utter_ask_invoice_number", json_message=turn.voice(keypad="identity"))
        return [SlotSet("claimed_postal_code", postal)]
    if not postal:
        response = "utter_confirm_postal_code" if called else "utter_ask_postal_code"
        turn.say(response, json_message=turn.voice(keypad=postal_keypad(turn)))
        return [SlotSet("claimed_invoice_number", number)]

    outcome = await blocking(check_claim, turn, number, postal)
    if outcome.customer is not None:
        customer = outcome.customer
        events = verified_events(customer, proofs.binding(turn.proof, by_phone=False))
        goal = turn.slot("goal") or PAY
        turn.say("utter_identity_verified", first_name=customer["name"].split()[0])
        return events + [SlotSet("stage", None)] + await continue_goal(turn, goal, customer["id"])

    failures = int(turn.slot("verification_failures") or 0) + 1
    events = [
        SlotSet("verification_failures", float(failures)),
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ]
    if outcome.lock is not None:
        return events + await locked_out(turn, outcome.lock)
    turn.say("utter_identity_failed", json_message=turn.voice(keypad="identity"))
    return events


class ActionChooseInvoice(Action):
    """The customer picks one of the invoices read back: by position, amount, date or number."""

    def name(self) -> str:
        return "action_choose_invoice"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await choose_invoice(Turn.read(dispatcher, tracker))


async def choose_invoice(turn: Turn) -> list[EventType]:
    customer_id = turn.customer_id
    if customer_id is None:
        return await proceed(turn, PAY)
    choices = turn.slot("invoice_choices") or []
    # Only what this customer was offered, re-read from the database: never a slot's amount.
    invoices = await blocking(account.open_invoices, turn.store, customer_id)
    offered = [i for i in invoices if i.id in choices]
    offered.sort(key=lambda i: choices.index(i.id))
    formats = turn.settings.business.invoice_numbers
    picked = billing.resolve_choice(turn.latest_text, offered, turn.language, formats)
    if picked is None:
        turn.say("utter_which_invoice")
        return []
    return await act_on_invoice(turn, turn.slot("goal") or PAY, picked, customer_id)
