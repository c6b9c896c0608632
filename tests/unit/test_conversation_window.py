"""A long conversation loads its window, not its whole session, and loses nothing by it.

Each turn here is what Rasa does with a message: load the conversation from the store, add
the customer's message and what the assistant did, save. A reference tracker is given the
same events and never stored: it is the whole conversation as Rasa's own store would load it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from settle.understanding.language_detection import SESSION_WINDOW, session_start_metadata
from settle_rasa.conversation_window import WINDOW_USER_TURNS
from settle_rasa.ingress import screened
from settle_rasa.tracker_store import RedactingSQLTrackerStore

DOMAIN = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
SENDER = "web-window"
FIRST = {"language": "es"}


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    monkeypatch.setenv("TRACKER_DATABASE_URL", url)
    return RedactingSQLTrackerStore(domain=DOMAIN)


class Conversation:
    """Turns through the store, mirrored on a reference tracker that holds everything."""

    def __init__(self, store: RedactingSQLTrackerStore) -> None:
        self.store = store
        self.reference = DialogueStateTracker(SENDER, DOMAIN.slots)
        # the conversation as the latest turn loaded it, and as Rasa's own store would have
        self.loaded: DialogueStateTracker | None = None
        self.whole: DialogueStateTracker | None = None

    def turn(self, text: str, intent: str, *did: Event, metadata=None, new_session=False):
        async def run(new_session: bool) -> None:
            tracker = await self.store.get_or_create_tracker(SENDER)
            if not self.reference.events:  # the store's new tracker, listening
                for event in tracker.events:
                    self.reference.update(event)
                new_session = True
            self.loaded, self.whole = tracker.copy(), self.reference.copy()
            events: list[Event] = []
            if new_session:
                events += [
                    ActionExecuted(ACTION_SESSION_START_NAME),
                    SessionStarted(metadata=metadata),
                    ActionExecuted(ACTION_LISTEN_NAME),
                ]
            events += [
                UserUttered(text, {"name": intent, "confidence": 1.0}, metadata=metadata),
                *did,
                ActionExecuted("action_route"),
                BotUttered("ok"),
                ActionExecuted(ACTION_LISTEN_NAME),
            ]
            for event in events:
                tracker.update(event)
                self.reference.update(event)
            await self.store.save(tracker)

        asyncio.run(run(new_session))


def _user_messages(tracker: DialogueStateTracker) -> int:
    return sum(isinstance(e, UserUttered) for e in tracker.events)


def _stored(store: RedactingSQLTrackerStore) -> list[dict]:
    full = asyncio.run(store.retrieve_full_tracker(SENDER))
    return [e.as_dict() for e in full.events]


def _long_conversation(store, turns: int) -> Conversation:
    conversation = Conversation(store)
    conversation.turn("hola, quiero pagar", "pay_invoice", SlotSet("goal", "pay"), metadata=FIRST)
    conversation.turn("sí", "affirm", SlotSet("stage", "awaiting_identity"))
    conversation.turn("1234", "inform", SlotSet("verified", True), SlotSet("language", "es"))
    for n in range(turns - 3):
        conversation.turn(f"pregunta {n}", "ask_capabilities")
    return conversation


def test_a_long_conversation_loads_only_its_last_messages(store):
    conversation = _long_conversation(store, 30)
    conversation.turn("adiós", "goodbye")
    assert _user_messages(conversation.reference) == 31
    assert _user_messages(conversation.loaded) == WINDOW_USER_TURNS
    assert len(conversation.loaded.events) < len(conversation.reference.events) / 2


def test_the_window_holds_what_the_policies_and_actions_read(store):
    conversation = _long_conversation(store, 25)
    conversation.turn("¿cuánto debo?", "ask_balance")
    loaded, whole = conversation.loaded, conversation.whole
    # slots set long before the window, the latest message, and every state a policy reads
    # (TED looks at 5, memoization at 3)
    assert loaded.current_slot_values() == whole.current_slot_values()
    assert loaded.current_slot_values()["goal"] == "pay"
    assert loaded.current_slot_values()["verified"] is True
    assert loaded.latest_message == whole.latest_message
    assert loaded.past_states(DOMAIN)[-8:] == whole.past_states(DOMAIN)[-8:]
    # the session's first message still decides the language it started in
    pairs = [(e.type_name, getattr(e, "metadata", None)) for e in loaded.events]
    assert session_start_metadata(pairs) == FIRST


def test_every_event_is_stored_once_in_order(store):
    conversation = _long_conversation(store, 24)
    assert _stored(store) == [e.as_dict() for e in conversation.reference.events]


def test_a_new_session_is_loaded_whole_again(store):
    conversation = _long_conversation(store, 20)
    conversation.turn("hello again", "greet", metadata={"language": "en"}, new_session=True)
    conversation.turn("pay", "pay_invoice")
    loaded = conversation.loaded
    assert not any(
        isinstance(e, SessionStarted) and SESSION_WINDOW in (e.metadata or {})
        for e in loaded.events
    )
    assert _user_messages(loaded) == 1  # the new session's first message
    assert _stored(store) == [e.as_dict() for e in conversation.reference.events]


def test_card_numbers_are_masked_in_a_windowed_turn(store):
    conversation = _long_conversation(store, 20)
    conversation.turn("my card is 4111 1111 1111 1111", "inform")
    with store.engine.connect() as db:
        rows = db.execute(sa.text("SELECT data FROM events")).all()
    texts = [json.loads(data).get("text") for (data,) in rows]
    assert not any("4111 1111 1111 1111" in (text or "") for text in texts)
    assert any((text or "").startswith("my card is") for text in texts)  # masked, stored


def test_a_client_cannot_mark_its_own_window(app):
    seen: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        seen.append(message)
        await message.output_channel.send_text_message(message.sender_id, "ok")

    forged = {"language": "fr", SESSION_WINDOW: {"prefix": 0, "loaded": 500}}
    message = UserMessage("bonjour", CollectingOutputChannel(), SENDER, metadata=forged)
    asyncio.run(screened(on_new_message)(message))
    assert seen[0].metadata == {"language": "fr"}
