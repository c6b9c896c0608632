"""Conversation-wide actions: session start, a person, goodbye, not understood."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet

from actions.conversation import blocking, for_voice, hand_off, reset_flow
from settle.app import runtime


class ActionSessionStart(Action):
    """New session: business facts for the responses; identity is never carried over."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        business = runtime.current().settings.business
        requested = _supported_language(
            tracker.get_slot("session_started_metadata"), business.languages
        )
        return [
            SessionStarted(),
            SlotSet("language", requested or business.languages[0]),
            SlotSet("language_source", "metadata" if requested else "default"),
            SlotSet("business_name", business.name),
            SlotSet("support_phone", business.support_phone),
            ActionExecuted("action_listen"),
        ]


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
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        reference = await blocking(hand_off, tracker, intent or "asked")
        dispatcher.utter_message(
            response="utter_handoff", json_message=for_voice(tracker, handoff={"ref": reference})
        )
        return reset_flow()


class ActionGoodbye(Action):
    """Goodbye; on a call, the line is closed too."""

    def name(self) -> str:
        return "action_goodbye"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_goodbye", json_message=for_voice(tracker, hangup=True)
        )
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
        detected = (tracker.latest_message or {}).get("language") or {}
        if isinstance(detected, dict) and detected.get("explicit"):
            again = {
                "awaiting_identity": "utter_ask_identity",
                "awaiting_choice": "utter_which_invoice",
            }.get(tracker.get_slot("stage"))
            dispatcher.utter_message(response=again or "utter_greet")
            return []
        dispatcher.utter_message(response="utter_default")
        return []
