"""Conversation-wide actions: session start, a person, goodbye, not understood."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet

from actions.conversation import blocking, hand_off, reset_flow
from actions.turn import Turn
from settle.access import proof as proofs
from settle.billing import conversation as account


class ActionSessionStart(Action):
    """New session: the language to start in and the business facts for the responses;
    identity is never carried over. (After this, each message whose language is clear sets
    the `language` slot through Rasa's own mapping: no custom action runs per message.)"""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await start_session(Turn.read(dispatcher, tracker))


async def start_session(turn: Turn) -> list[EventType]:
    business = turn.settings.business
    metadata = turn.slot("session_started_metadata")
    language = _supported_language(metadata, business.languages)
    if language is None:
        stored = await blocking(_stored_language, turn, metadata)
        language = stored if stored in business.languages else business.languages[0]
    return [
        SessionStarted(),
        SlotSet("language", language),
        SlotSet("business_name", business.name),
        SlotSet("support_phone", business.support_phone),
        ActionExecuted("action_listen"),
    ]


def _stored_language(turn: Turn, metadata: dict | None) -> str | None:
    """The language on file for the number the session's first message proved (nothing is
    told about an account, not even its language, to a number that was not proven)."""
    proof = proofs.unseal(metadata, turn.sender_id, turn.settings.action_secret)
    if not proof.phone_proven:
        return None
    return account.language_on_file(turn.store, proof.phone, turn.region)


def _supported_language(metadata: dict | None, supported) -> str | None:
    """'es-MX' from the web chat's browser language -> 'es', when we speak it."""
    wanted = metadata.get("language") if isinstance(metadata, dict) else None
    if not isinstance(wanted, str):
        return None
    wanted = wanted.split("-")[0].lower()
    return wanted if wanted in supported else None


class ActionHandoff(Action):
    """A person takes over, with a summary of the conversation so nobody repeats themselves."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        return await hand_over(Turn.read(dispatcher, tracker))


async def hand_over(turn: Turn) -> list[EventType]:
    intent = (turn.message.get("intent") or {}).get("name")
    reference = await blocking(hand_off, turn, intent or "asked")
    turn.say("utter_handoff", json_message=turn.voice(handoff={"ref": reference}))
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
