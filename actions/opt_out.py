"""Stopping messages: the number the channel proved at once, anyone else once verified."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import EventType

from actions.conversation import blocking, reset_flow
from actions.goals import with_customer
from actions.router import proceed
from actions.turn import Turn
from settle.billing import conversation as account
from settle.core.phones import last_digits, maybe_e164


class ActionOptOut(Action):
    def name(self) -> str:
        return "action_opt_out"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await opt_out(Turn.read(dispatcher, tracker))


async def opt_out(turn: Turn) -> list[EventType]:
    # A number the channel proved (a signed text, an attested call) is the number to
    # stop: no questions first. Anyone else says who they are, so that nobody can stop
    # someone else's messages.
    proof = turn.proof
    phone = maybe_e164(proof.phone or "") if proof.phone_proven else None
    if phone:
        await blocking(account.stop_messages_to, turn.store, phone, _source(turn), turn.actor)
        turn.say("utter_opted_out", phone_last4=last_digits(phone))
        return reset_flow()
    return await proceed(turn, "opt_out")


@with_customer("opt_out")
async def opt_out_verified(turn: Turn, customer_id: str) -> list[EventType]:
    """After verification: the phone on file stops getting messages."""
    phone = await blocking(
        account.stop_messages_to_customer, turn.store, customer_id, _source(turn), turn.actor
    )
    turn.say("utter_opted_out", phone_last4=last_digits(phone))
    return reset_flow()


def _source(turn: Turn) -> str:
    """Where the opt-out came from, as consent records it."""
    return f"conversation:{turn.proof.kind}"
