"""What every flow does with a turn (actions.turn): run the services off the event loop,
forget a flow's questions, and hand over to a person with a summary."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk.events import EventType, SlotSet

from actions.turn import Turn
from settle.billing import conversation as account
from settle.billing import handoff

T = TypeVar("T")


async def blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run database or provider calls off the event loop, so other conversations go on."""
    return await asyncio.to_thread(function, *args, **kwargs)


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


def hand_off(turn: Turn, reason: str, details: dict[str, Any] | None = None) -> int:
    """Record a hand-off with the conversation's summary (and what the flow found, e.g. the
    payment in question); returns its reference."""
    return account.record_handoff(
        turn.store, turn.actor, reason, {**summary(turn), **(details or {})}, turn.settings
    )


def put_through(
    turn: Turn, reference: int, skill: str | None = None, response: str = "utter_handoff"
) -> None:
    """Tell the customer they are handed over (`response`) and, on a call, put them through.
    Outside business.hours nobody would answer: they hear when someone will call back, and a
    call ends instead of ringing a closed office."""
    closed = handoff.closed_reply(turn.settings, turn.language, turn.locale)
    if closed:
        turn.say(text=closed, json_message=turn.voice(hangup=True))
    else:
        turn.say(response, json_message=transfer(turn, reference, skill))


def transfer(turn: Turn, reference: int, skill: str | None = None) -> dict[str, Any] | None:
    """On a call, put the caller through to whoever takes this kind of hand-off (settle.yml
    policy.handoff), with the hand-off's reference for the whispered summary."""
    handoff_to: dict[str, Any] = {"ref": reference}
    if skill:
        phone = turn.policy.handoff.phone_for(skill)
        if phone:
            handoff_to["to"] = phone
    return turn.voice(handoff=handoff_to)


def summary(turn: Turn) -> dict[str, Any]:
    """What a person taking over needs so the customer does not repeat themselves (the
    customer as verified when the turn began)."""
    intents = [
        e.get("parse_data", {}).get("intent", {}).get("name")
        for e in turn.tracker.events
        if e.get("event") == "user"
    ]
    return {
        "channel": turn.channel,
        "verified_customer": turn.customer_id,
        "goal": turn.slot("goal"),
        "invoice": turn.slot("invoice_id"),
        "failed_verifications": int(turn.slot("verification_failures") or 0),
        "language": turn.language,
        "intents": [i for i in intents if i][-10:],
    }
