"""A conversation's recent turns, loaded as a window, so that a turn costs the same at turn 40
as at turn 2.

Rasa's SQL tracker store reloads every event of the conversation session on every turn, and
Rasa replays and featurizes them all again: turn 40 of a REST conversation cost 2.15× turn 2
(`make bench-growth`). Settle's store (settle_rasa/tracker_store.py) stores every event as
Rasa does, but a turn loads only the events from the customer's last WINDOW_USER_TURNS
messages on, after a short prefix that restores what came before, exactly as Rasa starts
a session that carries slots over:

    action_session_start, SessionStarted (marked), SlotSet…, ActiveLoop, action_listen

The snapshot the prefix is built from is taken when the window moves, from the tracker
being saved, and kept beside the events (`Snapshot`). Nothing lives in a process's memory:
any worker can take any turn.

Why the last ten messages are enough for everything that reads the conversation:
* the policies: TED looks at the last 5 states, memoization at 3, rules at their own length
  (no rule in data/ starts at the conversation's start), and every state is the slots, the
  active loop, the latest message and action, all restored or inside the window;
* the actions (actions/turn.py, conversation.py): the hand-off summary's last 10 intents,
  `texts_since` (at most 6 messages), the latest message and its metadata;
* the language the session started in: the marked SessionStarted carries the metadata of
  the session's first message (settle.understanding.language_detection).

Rasa's REST API and `rasa export` read whole conversations (`retrieve_full_tracker`), which
this does not touch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
    deserialise_events,
)
from rasa.shared.core.slots import Slot
from rasa.shared.core.trackers import DialogueStateTracker

from settle.understanding.language_detection import SESSION_WINDOW, session_start_metadata

# How many of the customer's latest messages a turn loads (see above for why ten).
WINDOW_USER_TURNS = 10


@dataclass(frozen=True)
class Snapshot:
    """The conversation just before its window's first message."""

    slots: dict[str, Any]  # every slot set in this session by then, with its value
    active_loop: str | None
    first_message: Any  # the metadata of the session's first message

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        data = json.loads(text)
        return cls(data["slots"], data["active_loop"], data["first_message"])


def windowed_tracker(
    sender_id: str, snapshot: Snapshot, stored: Sequence[dict[str, Any]], slots: Iterable[Slot]
) -> DialogueStateTracker | None:
    """The tracker for a window of stored events (oldest first) after `snapshot`. None when
    they are not a window of one session: the first is not a customer message, or a new
    session started since the window was taken."""
    if not stored or stored[0].get("event") != UserUttered.type_name:
        return None
    if any(event.get("event") == SessionStarted.type_name for event in stored):
        return None
    events = deserialise_events(list(stored))
    at = events[0].timestamp
    restored: list[Event] = [
        SlotSet(name, value, timestamp=at) for name, value in snapshot.slots.items()
    ]
    if snapshot.active_loop:
        restored.append(ActiveLoop(snapshot.active_loop, timestamp=at))
    marker = {
        "first_message": snapshot.first_message,
        "prefix": len(restored) + 3,
        "loaded": len(events),
    }
    prefix = [
        ActionExecuted(ACTION_SESSION_START_NAME, timestamp=at),
        SessionStarted(metadata={SESSION_WINDOW: marker}, timestamp=at),
        *restored,
        ActionExecuted(ACTION_LISTEN_NAME, timestamp=at),
    ]
    return DialogueStateTracker.from_events(sender_id, prefix + events, slots=list(slots))


def already_stored(tracker: DialogueStateTracker) -> int | None:
    """How many of a windowed tracker's first events are the prefix or were loaded (none of
    them is to be stored again); None for a tracker that holds its whole session."""
    events = tracker.events
    if len(events) < 2:
        return None
    started = events[1]
    metadata = started.metadata if isinstance(started, SessionStarted) else None
    marker = metadata.get(SESSION_WINDOW) if isinstance(metadata, dict) else None
    if not isinstance(marker, dict):
        return None
    return int(marker["prefix"]) + int(marker["loaded"])


def next_window_start(tracker: DialogueStateTracker) -> int | None:
    """The index in tracker.events of the customer message the next turn's window starts at;
    None while the current session holds fewer than WINDOW_USER_TURNS messages."""
    events = list(tracker.events)
    session_start = max(
        (i for i, event in enumerate(events) if isinstance(event, SessionStarted)), default=0
    )
    messages = [i for i in range(session_start, len(events)) if isinstance(events[i], UserUttered)]
    if len(messages) < WINDOW_USER_TURNS:
        return None
    return messages[-WINDOW_USER_TURNS]


def snapshot_before(tracker: DialogueStateTracker, index: int, slots: Iterable[Slot]) -> Snapshot:
    """The conversation in `tracker` as it stood before its event at `index`."""
    events = list(tracker.events)[:index]
    earlier = DialogueStateTracker.from_events(tracker.sender_id, events, slots=list(slots))
    return Snapshot(
        slots={name: slot.value for name, slot in earlier.slots.items() if slot.has_been_set},
        active_loop=earlier.active_loop_name,
        first_message=session_start_metadata(
            (event.type_name, getattr(event, "metadata", None)) for event in tracker.events
        ),
    )
