"""The dispute flow: which invoice, what is wrong, recorded, reminders paused, a person
takes over."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import (
    actor,
    blocking,
    hand_off,
    latest_text,
    locale,
    reset_flow,
    transfer,
    verified_customer_id,
)
from actions.goals import with_invoice
from actions.router import proceed
from settle.app import runtime
from settle.billing import conversation as account
from settle.billing import ledger as billing


class ActionDispute(Action):
    """ "I don't owe this": once the invoice is known, the customer's own words are recorded."""

    def name(self) -> str:
        return "action_dispute"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        customer_id, invoice_id = verified_customer_id(tracker), tracker.get_slot("invoice_id")
        if customer_id and invoice_id and tracker.get_slot("stage") == "awaiting_dispute_reason":
            dispute_id = await blocking(
                account.record_dispute,
                runtime.current().store,
                actor(tracker),
                customer_id,
                invoice_id,
                latest_text(tracker),
            )
            dispatcher.utter_message(response="utter_dispute_recorded", invoice_number=invoice_id)
            reference = await blocking(
                hand_off, tracker, "dispute", {"dispute": dispute_id, "invoice": invoice_id}
            )
            dispatcher.utter_message(
                response="utter_handoff", json_message=transfer(tracker, reference, "disputes")
            )
            return reset_flow()
        return await proceed(dispatcher, tracker, "dispute")


@with_invoice("dispute", list_response="utter_dispute_invoice_list")
async def ask_reason(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    customer_id: str,
    invoice: billing.OpenInvoice,
    single: bool = False,
) -> list[EventType]:
    """The invoice is known (the only one, or the one picked): ask what is wrong with it."""
    dispatcher.utter_message(
        response="utter_ask_dispute_reason",
        invoice_number=invoice.id,
        amount=invoice.amount_text(locale(tracker)),
    )
    return [
        SlotSet("stage", "awaiting_dispute_reason"),
        SlotSet("invoice_id", invoice.id),
        SlotSet("invoice_choices", None),
    ]
