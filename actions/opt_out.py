"""Stopping messages: the number the channel proved at once, anyone else once verified."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import phone_on_file
from actions.conversation import actor, blocking, channel_proof, reset_flow
from actions.goals import with_customer
from actions.router import proceed
from settle.app import runtime
from settle.core.phones import last_digits, maybe_e164
from settle.messaging.consent import record_opt_out


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


@with_customer("opt_out")
async def opt_out_verified(
    dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: str
) -> list[EventType]:
    """After verification: the phone on file stops getting messages."""
    phone = await blocking(_opt_out_customer, tracker, customer_id)
    dispatcher.utter_message(response="utter_opted_out", phone_last4=last_digits(phone))
    return reset_flow()


def _opt_out(tracker: Tracker, phone: str) -> None:
    with runtime.current().store.unit_of_work() as session:
        record_opt_out(
            session, phone, f"conversation:{channel_proof(tracker).kind}", actor(tracker)
        )


def _opt_out_customer(tracker: Tracker, customer_id: str) -> str:
    phone = phone_on_file(customer_id)
    _opt_out(tracker, phone)
    return phone
