"""Settle's conversation store: Rasa's SQL tracker store, on one URL, that masks card
numbers before anything is written and loads a turn's window, not the whole session."""

from __future__ import annotations

import copy
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url
from sqlalchemy.orm import declarative_base

from settle.config import tracker_database_url
from settle.privacy.cards import mask_card_numbers
from settle_rasa.conversation_window import (
    WINDOW_USER_TURNS,
    Snapshot,
    already_stored,
    next_window_start,
    snapshot_before,
    windowed_tracker,
)

log = logging.getLogger(__name__)

_Base: Any = declarative_base()


class ConversationWindow(_Base):
    """Where a conversation's window starts (the id of a stored customer message) and the
    conversation as it stood just before it (settle_rasa/conversation_window.py)."""

    __tablename__ = "settle_conversation_windows"

    sender_id = sa.Column(sa.String(255), primary_key=True)
    from_id = sa.Column(sa.Integer, nullable=False)
    snapshot = sa.Column(sa.Text, nullable=False)


class RedactingSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore on one URL; user texts are stored with card numbers masked,
    and a turn loads the customer's last WINDOW_USER_TURNS messages on, not the session."""

    def __init__(
        self, domain=None, host: str | None = None, event_broker=None, **kwargs: Any
    ) -> None:
        kwargs.pop("url", None)
        url = make_url(tracker_database_url())
        if url.get_backend_name() == "sqlite" and url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(
            domain=domain,
            dialect=url.drivername,
            host=url.host,
            port=url.port,
            db=url.database,
            username=url.username,
            password=url.password,
            event_broker=event_broker,
            query=dict(url.query) or None,
            **kwargs,
        )
        _Base.metadata.create_all(self.engine)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The conversation's window when it has one, else its whole session (Rasa's)."""
        if self.domain is not None:
            with self.session_scope() as session:
                window = session.get(ConversationWindow, sender_id)
                if window is not None:
                    rows = (
                        session.query(self.SQLEvent.data)
                        .filter(
                            self.SQLEvent.sender_id == sender_id, self.SQLEvent.id >= window.from_id
                        )
                        .order_by(self.SQLEvent.id)
                        .all()
                    )
                    tracker = windowed_tracker(
                        sender_id,
                        Snapshot.from_json(window.snapshot),
                        [json.loads(data) for (data,) in rows],
                        self.domain.slots,
                    )
                    if tracker is not None:
                        return tracker
        return await super().retrieve(sender_id)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the turn's new events, then move the window when the session outgrew it.
        Two transactions: a window left behind by a failure is still a true one, only
        longer (or, after a new session, not used)."""
        await super().save(tracker)
        start = next_window_start(tracker)
        if start is None and already_stored(tracker) is None:
            return  # a session shorter than a window, loaded whole
        with self.session_scope() as session:
            if start is None:  # a new session began in this turn
                self._forget_window(session, tracker.sender_id)
            else:
                self._move_window(session, tracker, start)
            session.commit()

    def _forget_window(self, session, sender_id: str) -> None:
        session.query(ConversationWindow).filter_by(sender_id=sender_id).delete()

    def _move_window(self, session, tracker: DialogueStateTracker, start: int) -> None:
        message = tracker.events[start]
        latest = (
            session.query(self.SQLEvent.id, self.SQLEvent.timestamp)
            .filter(
                self.SQLEvent.sender_id == tracker.sender_id,
                self.SQLEvent.type_name == UserUttered.type_name,
            )
            .order_by(self.SQLEvent.id.desc())
            .limit(WINDOW_USER_TURNS)
            .all()
        )
        if len(latest) < WINDOW_USER_TURNS or latest[-1].timestamp != message.timestamp:
            log.warning(
                "Conversation %s is stored otherwise than it was held: its turns load whole",
                tracker.sender_id,
            )
            self._forget_window(session, tracker.sender_id)
            return
        snapshot = snapshot_before(tracker, start, self.domain.slots).to_json()
        session.merge(
            ConversationWindow(
                sender_id=tracker.sender_id, from_id=latest[-1].id, snapshot=snapshot
            )
        )

    def _additional_events(self, session, tracker) -> Iterator:
        stored = already_stored(tracker)
        new = (
            super()._additional_events(session, tracker)
            if stored is None
            else itertools.islice(tracker.events, stored, None)
        )
        for event in new:
            yield redact_event(event)


def redact_event(event):
    if not isinstance(event, UserUttered) or not event.text:
        return event
    cleaned = mask_card_numbers(event.text)
    if cleaned == event.text:
        return event
    redacted = copy.deepcopy(event)
    redacted.text = cleaned
    if redacted.parse_data and "text" in redacted.parse_data:
        redacted.parse_data["text"] = mask_card_numbers(redacted.parse_data["text"])
    return redacted
