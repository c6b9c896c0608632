"""Conversations as a trainer reads them: each user message with the intent and confidence
the NLU gave it, the bot's replies, and what went wrong (a fallback, a low confidence, a
hand-off). Read from Rasa's tracker `events` table through settle.reporting.conversations,
SELECTs only; every text is masked again for display, whatever the store kept.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from settle.privacy.cards import mask_card_numbers
from settle.reporting.conversations import Conversation, event_data, read_events, sessions

# Rasa's FallbackClassifier intent, and the actions that answer "I did not understand"
# (config.yml: core_fallback_action_name).
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = ("action_default_fallback", "action_not_understood")
HANDOFF_ACTION = "action_handoff"
HANDOFF_REPLY = "utter_handoff"  # and its variants (utter_handoff_unverified)
LOW_CONFIDENCE = 0.6
# The list reads this far back: a trainer reviews recent conversations.
LOOK_BACK = dt.timedelta(days=30)
_KINDS = ("user", "bot", "action", "slot", "session_started")


@dataclass(frozen=True)
class Turn:
    event_id: int  # the tracker's row: what a label points at
    at: dt.datetime
    kind: str  # user | bot
    text: str  # masked
    intent: str | None = None
    confidence: float | None = None
    fallback: bool = False  # the NLU or the policies gave up on this message


@dataclass(frozen=True)
class Reviewed:
    """One session of one sender, with its turns oldest first."""

    conversation: Conversation
    turns: tuple[Turn, ...]
    handed_off: bool

    @property
    def fallbacks(self) -> int:
        return sum(turn.fallback for turn in self.turns)

    def low_confidence(self, below: float) -> int:
        return sum(
            turn.kind == "user" and turn.confidence is not None and turn.confidence < below
            for turn in self.turns
        )


@dataclass(frozen=True)
class Filters:
    fallback: bool = False
    low_confidence: bool = False
    below: float = LOW_CONFIDENCE
    handoff: bool = False
    language: str = ""

    def keep(self, reviewed: Reviewed) -> bool:
        return (
            (not self.fallback or reviewed.fallbacks > 0)
            and (not self.low_confidence or reviewed.low_confidence(self.below) > 0)
            and (not self.handoff or reviewed.handed_off)
            and (not self.language or reviewed.conversation.language == self.language)
        )


def recent_conversations(
    url: str, since: dt.datetime, languages: Sequence[str], filters: Filters
) -> tuple[list[Reviewed], str]:
    """The conversations with a message since `since` that pass the filters, newest first,
    and the store's state (read | missing | unreachable)."""

    def reader(connection: Connection, events: Table) -> list[Reviewed]:
        c = events.c
        rows = connection.execute(
            select(c.id, c.sender_id, c.type_name, c.timestamp, c.data)
            .where(c.type_name.in_(_KINDS), c.timestamp >= since.timestamp())
            .order_by(c.sender_id, c.id)
        )
        found: list[Reviewed] = []
        for sender, group in itertools.groupby(rows, key=lambda row: row[1]):
            found += _reviewed(sender, list(group), languages)
        return found

    none: list[Reviewed] = []
    found, store = read_events(url, reader, none)
    kept = [reviewed for reviewed in found if filters.keep(reviewed)]
    return sorted(kept, key=lambda r: r.conversation.first_message_at, reverse=True), store


def transcript(url: str, sender_id: str, languages: Sequence[str]) -> list[Reviewed]:
    """Every conversation of one sender, oldest first."""

    def reader(connection: Connection, events: Table) -> list[Reviewed]:
        c = events.c
        rows = connection.execute(
            select(c.id, c.sender_id, c.type_name, c.timestamp, c.data)
            .where(c.sender_id == sender_id, c.type_name.in_(_KINDS))
            .order_by(c.id)
        ).all()
        return _reviewed(sender_id, rows, languages)

    none: list[Reviewed] = []
    return read_events(url, reader, none)[0]


def user_turn(url: str, sender_id: str, event_id: int, languages: Sequence[str]):
    """(the user turn with this id, its conversation's language), or None."""
    for reviewed in transcript(url, sender_id, languages):
        for turn in reviewed.turns:
            if turn.event_id == event_id and turn.kind == "user":
                return turn, reviewed.conversation.language
    return None


def _reviewed(sender: str, rows: Sequence, languages: Sequence[str]) -> list[Reviewed]:
    parts: list[list[tuple[int, str, float, dict]]] = [[]]
    for event_id, _, kind, ts, data in rows:
        if kind == "session_started" and parts[-1]:
            parts.append([])
        parts[-1].append((event_id, kind, ts, event_data(data)))
    found = []
    for part in parts:
        conversation = sessions(sender, [(kind, ts, data) for _, kind, ts, data in part], languages)
        if conversation:
            turns, handed_off = _turns(part)
            found.append(Reviewed(conversation[0], tuple(turns), handed_off))
    return found


def _turns(events: list[tuple[int, str, float, dict]]) -> tuple[list[Turn], bool]:
    turns: list[Turn] = []
    handed_off = False
    for event_id, kind, ts, data in events:
        at = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)
        if kind == "user" and not _external(data):
            intent = (data.get("parse_data") or {}).get("intent") or {}
            name = intent.get("name") if isinstance(intent, dict) else None
            confidence = intent.get("confidence") if isinstance(intent, dict) else None
            turns.append(
                Turn(
                    event_id,
                    at,
                    "user",
                    mask_card_numbers(str(data.get("text") or "")),
                    name,
                    float(confidence) if isinstance(confidence, int | float) else None,
                    fallback=name == FALLBACK_INTENT,
                )
            )
        elif kind == "bot":
            text = mask_card_numbers(str(data.get("text") or ""))
            turns.append(Turn(event_id, at, "bot", text))
            reply = (data.get("metadata") or {}).get("utter_action") or ""
            handed_off = handed_off or str(reply).startswith(HANDOFF_REPLY)
        elif kind == "action":
            name = data.get("name")
            handed_off = handed_off or name == HANDOFF_ACTION
            users = [i for i, turn in enumerate(turns) if turn.kind == "user"]
            last_user = users[-1] if users else None
            if name in FALLBACK_ACTIONS and last_user is not None:
                turn = turns[last_user]
                turns[last_user] = replace(turn, fallback=True)
    return turns, handed_off


def _external(data: dict) -> bool:
    metadata = data.get("metadata")
    return isinstance(metadata, dict) and metadata.get("is_external") is True
