"""Stopping messages: the number the channel proved at once, anyone else once verified."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import actor, blocking, channel_proof, reset_flow
from actions.goals import with_customer
from actions.router import proceed
from settle.app import runtime
from settle.billing import conversation as account
from settle.core.phones import last_digits, maybe_e164


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
            await blocking(
                account.stop_messages_to,
                runtime.current().store,
                phone,
                _source(tracker),
                actor(tracker),
            )
            dispatcher.utter_message(response="utter_opted_out", phone_last4=last_digits(phone))
            return reset_flow()
        return await proceed(dispatcher, tracker, "opt_out")


@with_customer("opt_out")
async def opt_out_verified(
    dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: str
) -> list[EventType]:
    """After verification: the phone on file stops getting messages."""
    phone = await blocking(
        account.stop_messages_to_customer,
        runtime.current().store,
        customer_id,
        _source(tracker),
        actor(tracker),
    )
    dispatcher.utter_message(response="utter_opted_out", phone_last4=last_digits(phone))
    return reset_flow()


def _source(tracker: Tracker) -> str:
    """Where the opt-out came from, as consent records it."""
    return f"conversation:{channel_proof(tracker).kind}"
