"""One turn of a conversation, read once when an action runs: the application, the
language, what the channel proved, the verified customer, and how buttons and voice
instructions are rendered on this channel.

Only this module fetches the application (`runtime.current()`); everything else in the
actions is handed a Turn. Reading it unseals the channel's proof once (an HMAC), however
many questions the flow then asks of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from settle.access import proof as proofs
from settle.access.proof import ChannelProof
from settle.app import runtime
from settle.config import Settings
from settle.core import audit, i18n
from settle.rules.policy import Policy
from settle.store.db import Store
from settle.understanding.language_detection import answering_language, session_start_metadata

# The channels whose widget shows quick replies (the socket.io web chat).
WEB_CHANNELS = ("socketio",)


@dataclass(frozen=True, eq=False)
class Turn:
    """What an action knows about the customer's latest message, and how to answer it."""

    dispatcher: CollectingDispatcher
    tracker: Tracker
    app: runtime.Settle
    # The conversation's language, always one Settle speaks, and its Babel locale.
    language: str
    locale: str
    # What the channel proved about the latest message (settle.access.proof).
    proof: ChannelProof
    # The customer verified at the start of this turn, or None (see Turn.read).
    customer_id: str | None
    # The input channel of the latest message ("twilio", "socketio", "rest", ...).
    channel: str | None
    # Who acts, as the audit log records it.
    actor: str

    @classmethod
    def read(cls, dispatcher: CollectingDispatcher, tracker: Tracker) -> Turn:
        """The turn as the action server hands it over, read once.

        The customer counts as verified only while this message comes the way the
        verification did: from the same proven number, on the same call, or in the same
        web conversation.
        """
        app = runtime.current()
        settings = app.settings
        supported = settings.business.languages
        latest = _latest_metadata(tracker)
        proof = proofs.unseal(latest, tracker.sender_id, settings.action_secret)
        language = answering_language(
            tracker.get_slot("language"),
            session_start_metadata((e.get("event"), e.get("metadata")) for e in tracker.events),
            latest,
            proof.phone_proven,
            supported,
        )
        verified = tracker.get_slot("verified") is True and proofs.holds(
            tracker.get_slot("identity_binding"), proof
        )
        return cls(
            dispatcher=dispatcher,
            tracker=tracker,
            app=app,
            language=language,
            locale=i18n.locale_for(language, settings.business.default_region),
            proof=proof,
            customer_id=tracker.get_slot("customer_id") if verified else None,
            channel=tracker.get_latest_input_channel(),
            actor=audit.conversation_actor(tracker.sender_id or ""),
        )

    # The application's parts an action hands to the services.

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def policy(self) -> Policy:
        return self.app.policy

    @property
    def region(self) -> str:
        """The business's region: how phone numbers and postal codes are read."""
        return self.settings.business.default_region

    # The conversation and the customer's words.

    @property
    def sender_id(self) -> str:
        """The conversation's id."""
        return self.tracker.sender_id

    def slot(self, name: str) -> Any:
        return self.tracker.get_slot(name)

    @property
    def message(self) -> dict[str, Any]:
        """The customer's latest message as understood (text, intent, entities, language)."""
        return self.tracker.latest_message or {}

    @property
    def latest_text(self) -> str:
        return self.message.get("text") or ""

    @property
    def request_key(self) -> str:
        """Identifies the customer's latest message: an action re-run for it is the same
        request."""
        message_id = self.message.get("message_id")
        if message_id:
            return str(message_id)
        turns = sum(1 for e in self.tracker.events if e.get("event") == "user")
        return f"{self.tracker.sender_id}:{turns}"

    def request_text(self, intents: tuple[str, ...]) -> str:
        """The text of the customer's latest message with one of `intents` (the request
        itself)."""
        for event in reversed(self.tracker.events):
            if event.get("event") == "user" and _intent(event) in intents:
                return event.get("text") or ""
        return ""

    def texts_since(self, intents: tuple[str, ...], limit: int = 6) -> str:
        """The customer's words from their latest message with one of `intents` on (at most
        `limit` messages): a reason or a date they gave before being asked for it counts."""
        texts: list[str] = []
        for event in reversed(self.tracker.events):
            if event.get("event") != "user":
                continue
            texts.append(event.get("text") or "")
            if _intent(event) in intents or len(texts) >= limit:
                break
        return " ".join(reversed(texts))

    # How to answer on this channel.

    @property
    def on_call(self) -> bool:
        return self.proof.kind == proofs.VOICE

    @property
    def on_web_chat(self) -> bool:
        return self.channel in WEB_CHANNELS and self.proof.kind == proofs.WEB

    def say(self, response: str | None = None, **kwargs: Any) -> None:
        """Send `response` (a domain.yml response, or a json_message alone)."""
        self.dispatcher.utter_message(response=response, **kwargs)

    def buttons(self, buttons: list[dict[str, str]]) -> list[dict[str, str]]:
        """Quick replies for the web chat widget. They only send intents (and an invoice
        number the action checks against what this customer was offered): never identity."""
        return buttons if self.on_web_chat else []

    def yes_no_buttons(self) -> list[dict[str, str]]:
        return self.buttons(
            [
                {"title": i18n.text("button_yes", self.language), "payload": "/affirm"},
                {"title": i18n.text("button_no", self.language), "payload": "/deny"},
            ]
        )

    def voice(self, **payload: Any) -> dict[str, Any] | None:
        """Instructions for the voice channel (keypad, transfer, hang-up), sent on calls
        only."""
        if not self.on_call:
            return None
        return {"language": self.language, **payload}


def _latest_metadata(tracker: Tracker) -> Any:
    """The metadata of the customer's latest message, where its channel sealed what it
    proved (settle.access.proof); a message without a valid seal proves nothing."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event.get("metadata")
    return None


def _intent(event: dict[str, Any]) -> str | None:
    return ((event.get("parse_data") or {}).get("intent") or {}).get("name")
