"""The conversation's language, from what the customer writes (see settle_rasa/language.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction

from actions.turn import Turn
from settle.billing import conversation as account


class ValidateSlotMappings(ValidationAction):
    """Runs after every message, before anything is said: which language to answer in.

    What the customer writes or asks for wins; until they have said something telling, a
    caller or texter recognised by number gets the language stored for them.
    """

    def name(self) -> str:
        return "action_validate_slot_mappings"

    async def extract_language(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return await answering_language(Turn.read(dispatcher, tracker))


async def answering_language(turn: Turn) -> dict[str, Any]:
    """The language slots this message sets: the one detected in it, or the one on file."""
    supported = turn.settings.business.languages
    detected = turn.message.get("language") or {}
    code = detected.get("code") if isinstance(detected, dict) else None
    if code in supported:
        return {"language": code, "language_source": "detected"}
    if turn.slot("language_source") in (None, "default"):
        stored = await asyncio.to_thread(_stored_language, turn)
        if stored in supported:
            return {"language": stored, "language_source": "stored"}
    return {}


def _stored_language(turn: Turn) -> str | None:
    """The language on file for the number the channel proved (nothing is told about an
    account, not even its language, to a number that was not proven)."""
    if not turn.proof.phone_proven:
        return None
    return account.language_on_file(turn.store, turn.proof.phone, turn.region)
