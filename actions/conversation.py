"""What every action needs from a conversation: who, which language, and the database
(through the services, run off the event loop with `blocking`)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from settle.access import proof as proofs
from settle.access.proof import ChannelProof
from settle.app import runtime
from settle.billing import conversation as account
from settle.core import i18n

T = TypeVar("T")


async def blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run database or provider calls off the event loop, so other conversations go on."""
    return await asyncio.to_thread(function, *args, **kwargs)


def actor(tracker: Tracker) -> str:
    """Audit actor for this conversation; the sender id is hashed when it is not a phone."""
    sender = tracker.sender_id or ""
    if sender.startswith("+"):
        return f"conversation:{sender}"
    return "conversation:" + hashlib.sha256(sender.encode()).hexdigest()[:16]


def language(tracker: Tracker) -> str:
    """The conversation's language, always one Settle speaks."""
    supported = runtime.current().settings.business.languages
    chosen = tracker.get_slot("language")
    return chosen if chosen in supported else supported[0]


def locale(tracker: Tracker) -> str:
    settings = runtime.current().settings
    return i18n.locale_for(language(tracker), settings.business.default_region)


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def request_key(tracker: Tracker) -> str:
    """Identifies the customer's latest message: an action re-run for it is the same request."""
    message_id = (tracker.latest_message or {}).get("message_id")
    if message_id:
        return str(message_id)
    turns = sum(1 for e in tracker.events if e.get("event") == "user")
    return f"{tracker.sender_id}:{turns}"


def channel_proof(tracker: Tracker) -> ChannelProof:
    """What the channel proved about the customer's latest message (sealed by the signed
    connector, settle.access.proof); a message without a valid seal proves nothing."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return proofs.unseal(
                event.get("metadata"), tracker.sender_id, runtime.current().settings.action_secret
            )
    return proofs.UNPROVEN


def verified_customer_id(tracker: Tracker) -> str | None:
    """The verified customer, as long as this message comes the way the verification did:
    from the same proven number, on the same call, or in the same web conversation."""
    if tracker.get_slot("verified") is not True:
        return None
    if not proofs.holds(tracker.get_slot("identity_binding"), channel_proof(tracker)):
        return None
    return tracker.get_slot("customer_id")


def on_call(tracker: Tracker) -> bool:
    return channel_proof(tracker).kind == proofs.VOICE


def for_voice(tracker: Tracker, **payload: Any) -> dict[str, Any] | None:
    """Instructions for the voice channel (keypad, transfer, hang-up), sent on calls only."""
    if not on_call(tracker):
        return None
    return {"language": language(tracker), **payload}


WEB_CHANNELS = ("socketio",)


def on_web_chat(tracker: Tracker) -> bool:
    return (
        tracker.get_latest_input_channel() in WEB_CHANNELS
        and channel_proof(tracker).kind == proofs.WEB
    )


def web_buttons(tracker: Tracker, buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """Quick replies for the web chat widget. They only send intents (and an invoice number
    the action checks against what this customer was offered): never identity."""
    return buttons if on_web_chat(tracker) else []


def yes_no_buttons(tracker: Tracker) -> list[dict[str, str]]:
    lang = language(tracker)
    return web_buttons(
        tracker,
        [
            {"title": i18n.text("button_yes", lang), "payload": "/affirm"},
            {"title": i18n.text("button_no", lang), "payload": "/deny"},
        ],
    )


# What one flow remembers between questions; cleared when it ends or another begins.
FLOW_SLOTS = (
    "stage",
    "invoice_choices",
    "invoice_id",
    "plan_count",
    "payment_choices",
    "payment_id",
    "refund_reason",
    "reminder_on",
    "reminder_channel",
)


def reset_flow() -> list[EventType]:
    return [SlotSet(slot, None) for slot in FLOW_SLOTS]


def request_text(tracker: Tracker, intents: tuple) -> str:
    """The text of the customer's latest message with one of `intents` (the request itself)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent in intents:
                return event.get("text") or ""
    return ""


def user_texts_since(tracker: Tracker, intents: tuple, limit: int = 6) -> str:
    """The customer's words from their latest message with one of `intents` on (at most
    `limit` messages): a reason or a date they gave before being asked for it counts."""
    texts: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        texts.append(event.get("text") or "")
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent in intents or len(texts) >= limit:
            break
    return " ".join(reversed(texts))


def hand_off(tracker: Tracker, reason: str, details: dict[str, Any] | None = None) -> int:
    """Record a hand-off with the conversation's summary (and what the flow found, e.g. the
    payment in question); returns its reference."""
    return account.record_handoff(
        runtime.current().store, actor(tracker), reason, {**summary(tracker), **(details or {})}
    )


def transfer(tracker: Tracker, reference: int, skill: str | None = None) -> dict[str, Any] | None:
    """On a call, put the caller through to whoever takes this kind of hand-off (settle.yml
    policy.handoff), with the hand-off's reference for the whispered summary."""
    handoff_to: dict[str, Any] = {"ref": reference}
    policy = getattr(runtime.current(), "policy", None)
    if skill and policy is not None:
        phone = policy.handoff.phone_for(skill)
        if phone:
            handoff_to["to"] = phone
    return for_voice(tracker, handoff=handoff_to)


def summary(tracker: Tracker) -> dict[str, Any]:
    """What a person taking over needs so the customer does not repeat themselves."""
    intents = [
        e.get("parse_data", {}).get("intent", {}).get("name")
        for e in tracker.events
        if e.get("event") == "user"
    ]
    return {
        "channel": tracker.get_latest_input_channel(),
        "verified_customer": verified_customer_id(tracker),
        "goal": tracker.get_slot("goal"),
        "invoice": tracker.get_slot("invoice_id"),
        "failed_verifications": int(tracker.get_slot("verification_failures") or 0),
        "intents": [i for i in intents if i][-10:],
    }
