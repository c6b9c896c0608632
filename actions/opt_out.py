"""Stopping messages: the number the channel proved at once, anyone else once verified."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

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


ASKED = "awaiting_opt_out_confirmation"


async def opt_out(turn: Turn) -> list[EventType]:
    """Stop messages, or first ask whether that is what the customer wants: the NLU
    pipeline's rules (settle_rasa.opt_out_check) mark a wish to hear less as unsure."""
    asked = turn.slot("stage") == ASKED
    if asked and (turn.message.get("intent") or {}).get("name") == "deny":
        turn.say("utter_opt_out_declined")
        return reset_flow()
    if _unsure(turn):  # (asked again when the answer is as unsure as the wish)
        turn.say(
            "utter_ask_opt_out",
            buttons=turn.yes_no_buttons(),
            json_message=turn.voice(keypad="yes_no"),
        )
        return [SlotSet("stage", ASKED)]
    return await stop_messages(turn)


async def stop_messages(turn: Turn) -> list[EventType]:
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


def _unsure(turn: Turn) -> bool:
    check = turn.message.get("opt_out_check")
    return isinstance(check, dict) and check.get("outcome") == "unsure"


def _source(turn: Turn) -> str:
    """Where the opt-out came from, as consent records it."""
    return f"conversation:{turn.proof.kind}"
