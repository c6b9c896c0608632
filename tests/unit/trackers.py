"""Actions run the way the action server runs them: a tracker in, events and messages out."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from settle.messaging import Delivery


class RecordingSms:
    def __init__(self):
        self.sent: List[tuple] = []

    def send(self, to: str, body: str) -> Delivery:
        self.sent.append((to, body))
        return Delivery("sent", f"SM{len(self.sent)}")


def tracker(text: str, channel: str = "rest", sender: str = "web-1",
            slots: Optional[Dict[str, Any]] = None, message_id: str = "m1") -> Tracker:
    latest = {"text": text, "intent": {"name": "x"}, "entities": [], "message_id": message_id}
    events = [{"event": "user", "text": text, "input_channel": channel, "parse_data": latest}]
    base = {"language": "en", "verified": False, "verification_failures": 0.0}
    return Tracker(sender, {**base, **(slots or {})}, latest, events, False, None, {}, "action_listen")


def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [m["response"] for m in dispatcher.messages], slots, dispatcher.messages
