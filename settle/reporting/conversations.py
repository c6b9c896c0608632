"""Conversations as Rasa's tracker store keeps them: its `events` table (sender_id,
type_name, timestamp, data as JSON), read with SQLAlchemy Core, SELECTs only.

A conversation is one Rasa session of one sender (sessions begin with a `session_started`
event) in which the customer wrote or said something; it belongs to the period its first
message falls in. Its channel is that message's `input_channel`, its language the one
Settle answered in (settle.understanding.language_detection), its goals the values the
`goal` slot took. What the billing tables record about it is read elsewhere (the audit
log, under settle.core.audit.conversation_actor): this module knows only what the tracker
alone knows — which replies told a balance or showed a link.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import MetaData, Table, create_engine, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError

from settle.reporting.period import Period
from settle.understanding.language_detection import answering_language

CHANNELS = ("voice", "sms", "web", "rest", "other")
_CHANNEL_OF = {"twilio_voice": "voice", "twilio": "sms", "socketio": "web", "rest": "rest"}
# Channels whose metadata the Rasa server writes itself (signed Twilio requests).
_SIGNED = ("twilio_voice", "twilio")
# A conversation begun in the period is read this far past its end; and as far before its
# start, so that a session begun just before it is seen to be older.
MARGIN = dt.timedelta(days=1)
_KINDS = ("user", "bot", "slot", "session_started")
# Replies that tell the customer what they owe (nothing, when that is so).
BALANCE_TOLD = ("utter_balance", "utter_balance_one", "utter_no_open_invoices")
LINK_TEXTED = "utter_payment_link_sent"
_CHUNK = 500
T = TypeVar("T")


@dataclass(frozen=True)
class Conversation:
    sender_id: str
    began_at: dt.datetime  # the session's first event
    first_message_at: dt.datetime
    channel: str  # one of CHANNELS
    language: str
    goals: frozenset[str]
    told: frozenset[str]  # "link_sent", "balance_told": what the replies show
    ended_by: dt.datetime | None = None  # when the sender's next conversation began


@dataclass(frozen=True)
class Conversations:
    found: list[Conversation]
    store: str  # read | missing (no database or no events table) | unreachable


def channel_of(input_channel: str | None) -> str:
    """Which of CHANNELS a Rasa input channel ("twilio", "socketio", …) is."""
    return _CHANNEL_OF.get(input_channel or "", "other")


def read_conversations(url: str, period: Period, languages: Sequence[str]) -> Conversations:
    """The conversations begun in period; none when the store is missing or unreachable
    (which `store` says), so a report never fails for want of conversations."""
    none: list[Conversation] = []
    found, store = read_events(url, lambda c, events: _read(c, events, period, languages), none)
    return Conversations(found, store)


def read_events(url: str, reader: Callable[[Connection, Table], T], empty: T) -> tuple[T, str]:
    """What reader makes of the tracker's `events` table, and the store's state: read, or
    missing (no database or no events table) or unreachable, with `empty`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or not Path(path).exists():
            return empty, "missing"  # connecting would create the file
    engine = create_engine(url)
    try:
        try:
            connection = engine.connect()
        except OperationalError:
            return empty, "unreachable"
        with connection:
            events = _events_table(connection)
            if events is None:
                return empty, "missing"
            return reader(connection, events), "read"
    finally:
        engine.dispose()


def _events_table(connection: Connection) -> Table | None:
    metadata = MetaData()
    metadata.reflect(bind=connection, only=lambda name, _: name == "events")
    return metadata.tables.get("events")


def event_data(data: Any) -> dict:
    """An event's `data` column as a dict ({} when it is not JSON of one)."""
    try:
        value = json.loads(data) if isinstance(data, str) else data
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _read(
    connection: Connection, events: Table, period: Period, languages: Sequence[str]
) -> list[Conversation]:
    c = events.c
    senders = connection.scalars(
        select(c.sender_id)
        .where(
            c.type_name == "user",
            c.timestamp >= period.start.timestamp(),
            c.timestamp < period.end.timestamp(),
        )
        .distinct()
    ).all()
    low, high = (period.start - MARGIN).timestamp(), (period.end + MARGIN).timestamp()
    found: list[Conversation] = []
    ordered = sorted(senders)
    for start in range(0, len(ordered), _CHUNK):
        rows = connection.execute(
            select(c.sender_id, c.type_name, c.timestamp, c.data)
            .where(
                c.sender_id.in_(ordered[start : start + _CHUNK]),
                c.type_name.in_(_KINDS),
                c.timestamp >= low,
                c.timestamp < high,
            )
            .order_by(c.sender_id, c.id)
        )
        for sender, group in itertools.groupby(rows, key=lambda row: row[0]):
            history = [(kind, ts, event_data(data)) for _, kind, ts, data in group]
            found += [
                conversation
                for conversation in sessions(sender, history, languages)
                if period.contains(conversation.first_message_at)
            ]
    return sorted(found, key=lambda conversation: conversation.first_message_at)


def sessions(
    sender_id: str, history: Iterable[tuple[str, float, dict]], languages: Sequence[str]
) -> list[Conversation]:
    """The conversations in one sender's events (type_name, timestamp, data), oldest first."""
    parts: list[list[tuple[str, float, dict]]] = [[]]
    for event in history:
        if event[0] == "session_started" and parts[-1]:
            parts.append([])
        parts[-1].append(event)
    found = [c for c in (_conversation(sender_id, p, languages) for p in parts) if c]
    followed = zip(found, found[1:], strict=False)
    return [replace(c, ended_by=n.began_at) for c, n in followed] + found[-1:]


def _conversation(
    sender_id: str, events: list[tuple[str, float, dict]], languages: Sequence[str]
) -> Conversation | None:
    messages = [(ts, data) for kind, ts, data in events if kind == "user" and not _external(data)]
    if not messages:
        return None
    first_at, first = messages[0]
    slots = [(data.get("name"), data.get("value")) for kind, _, data in events if kind == "slot"]
    replies = {
        (data.get("metadata") or {}).get("utter_action")
        for kind, _, data in events
        if kind == "bot" and isinstance(data.get("metadata"), dict)
    }
    told = set()
    if LINK_TEXTED in replies or ("stage", "link_shown") in slots:
        told.add("link_sent")
    if replies & set(BALANCE_TOLD):
        told.add("balance_told")
    chosen = next((v for name, v in reversed(slots) if name == "language" and v), None)
    input_channel = first.get("input_channel")
    metadata = first.get("metadata") if isinstance(first.get("metadata"), dict) else {}
    return Conversation(
        sender_id=sender_id,
        began_at=_time(events[0][1]),
        first_message_at=_time(first_at),
        channel=channel_of(input_channel),
        language=answering_language(
            chosen, metadata, metadata, input_channel in _SIGNED, list(languages)
        ),
        goals=frozenset(str(v) for name, v in slots if name == "goal" and v),
        told=frozenset(told),
    )


def _external(data: dict) -> bool:
    """Rasa's injected intents (a payment told to the web chat) are nobody's message."""
    metadata = data.get("metadata")
    return isinstance(metadata, dict) and metadata.get("is_external") is True


def _time(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
