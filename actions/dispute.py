"""The dispute flow: which invoice, what is wrong, recorded, reminders paused, a person
takes over."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from actions.conversation import blocking, hand_off, put_through, reset_flow
from actions.goals import with_invoice
from actions.router import proceed
from actions.turn import Turn
from settle.billing import conversation as account
from settle.billing import ledger as billing


class ActionDispute(Action):
    """ "I don't owe this": once the invoice is known, the customer's own words are recorded."""

    def name(self) -> str:
        return "action_dispute"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await dispute(Turn.read(dispatcher, tracker))


async def dispute(turn: Turn) -> list[EventType]:
    """The customer's words about the invoice in question, recorded; or the start."""
    customer_id, invoice_id = turn.customer_id, turn.slot("invoice_id")
    if customer_id and invoice_id and turn.slot("stage") == "awaiting_dispute_reason":
        dispute_id = await blocking(
            account.record_dispute,
            turn.store,
            turn.actor,
            customer_id,
            invoice_id,
            turn.latest_text,
            turn.settings,
        )
        turn.say("utter_dispute_recorded", invoice_number=invoice_id)
        reference = await blocking(
            hand_off, turn, "dispute", {"dispute": dispute_id, "invoice": invoice_id}
        )
        put_through(turn, reference, "disputes")
        return reset_flow()
    return await proceed(turn, "dispute")


@with_invoice("dispute", list_response="utter_dispute_invoice_list")
async def ask_reason(
    turn: Turn, customer_id: str, invoice: billing.OpenInvoice, single: bool = False
) -> list[EventType]:
    """The invoice is known (the only one, or the one picked): ask what is wrong with it."""
    turn.say(
        "utter_ask_dispute_reason",
        invoice_number=invoice.id,
        amount=invoice.amount_text(turn.locale),
    )
    return [
        SlotSet("stage", "awaiting_dispute_reason"),
        SlotSet("invoice_id", invoice.id),
        SlotSet("invoice_choices", None),
    ]
