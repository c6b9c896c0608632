"""Conversation-wide actions: a person, goodbye, not understood. (A session starts with
Rasa's own action: settle_rasa/responses.py needs nothing set before the first answer.)"""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import EventType

from actions.conversation import blocking, hand_off, put_through, reset_flow
from actions.turn import Turn


class ActionHandoff(Action):
    """A person takes over, with a summary of the conversation so nobody repeats themselves."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await hand_over(Turn.read(dispatcher, tracker))


async def hand_over(turn: Turn) -> list[EventType]:
    intent = (turn.message.get("intent") or {}).get("name")
    reference = await blocking(hand_off, turn, intent or "asked")
    put_through(turn, reference)
    return reset_flow()


class ActionGoodbye(Action):
    """Goodbye; on a call, the line is closed too."""

    def name(self) -> str:
        return "action_goodbye"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        turn = Turn.read(dispatcher, tracker)
        turn.say("utter_goodbye", json_message=turn.voice(hangup=True))
        return reset_flow()


class ActionNotUnderstood(Action):
    """Fallback that keeps what this turn established (a new language, above all).

    Rasa's own fallback reverts the turn, which would also undo "en español por favor".
    When the customer only asked for another language, the question of the moment is asked
    again in it.
    """

    def name(self) -> str:
        return "action_not_understood"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return not_understood(Turn.read(dispatcher, tracker))


def not_understood(turn: Turn) -> list[EventType]:
    detected = turn.message.get("language") or {}
    if isinstance(detected, dict) and detected.get("explicit"):
        again = {
            "awaiting_identity": "utter_ask_identity",
            "awaiting_choice": "utter_which_invoice",
        }.get(turn.slot("stage"))
        turn.say(again or "utter_greet")
        return []
    turn.say("utter_default")
    return []
