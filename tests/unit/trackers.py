"""Actions run the way the action server runs them: a tracker in, events and messages out."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from settle.access import proof as proofs
from settle.access.proof import ChannelProof
from settle.adapters.sms import Delivery
from tests.conftest import ACTION_SECRET


class RecordingSms:
    def __init__(self):
        self.sent: list[tuple] = []

    def send(self, to: str, body: str) -> Delivery:
        self.sent.append((to, body))
        return Delivery("sent", f"SM{len(self.sent)}")


def channel_proof(channel: str, sender: str, **claims: Any) -> ChannelProof:
    """What the real connector of `channel` would seal: a signed text proves its number, a
    call its number when attested (claims override), REST and socket.io nothing."""
    if channel == "twilio":
        return ChannelProof(kind=proofs.SMS, phone=sender, phone_proven=True, **claims)
    if channel == "twilio_voice":
        return ChannelProof(
            **{
                "kind": proofs.VOICE,
                "phone": sender,
                "phone_proven": True,
                "call_sid": "CA-unit",
                **claims,
            }
        )
    return ChannelProof(**claims)


def tracker(
    text: str,
    channel: str = "rest",
    sender: str = "web-1",
    slots: dict[str, Any] | None = None,
    message_id: str = "m1",
    proof: ChannelProof | None = None,
    entities: list[dict] | None = None,
    sealed: bool = True,
) -> Tracker:
    """A tracker whose latest message came from `channel`, with the proof its connector
    seals (unless sealed=False: what a client could forge). A verified slot set without
    a binding is taken to have been verified the way this message came."""
    proof = proof or channel_proof(channel, sender)
    latest = {
        "text": text,
        "intent": {"name": "x"},
        "entities": entities or [],
        "message_id": message_id,
    }
    metadata = {proofs.METADATA_KEY: proofs.seal(proof, sender, ACTION_SECRET)} if sealed else {}
    events = [
        {
            "event": "user",
            "text": text,
            "input_channel": channel,
            "parse_data": latest,
            "metadata": metadata,
        }
    ]
    base = {"language": "en", "verified": False, "verification_failures": 0.0}
    slots = {**base, **(slots or {})}
    if slots.get("verified") and "identity_binding" not in slots:
        slots["identity_binding"] = proofs.binding(proof, by_phone=proof.phone_proven)
    return Tracker(sender, slots, latest, events, False, None, {}, "action_listen")


def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [m["response"] for m in dispatcher.messages], slots, dispatcher.messages
