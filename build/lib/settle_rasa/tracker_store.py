"""A SQL tracker store that redacts card numbers before a conversation is written."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import UserUttered
from sqlalchemy.engine import make_url

from settle.config import tracker_database_url
from settle.privacy.cards import mask_card_numbers


class RedactingSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore on one URL; user texts are stored with card numbers masked."""

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

    def _additional_events(self, session, tracker) -> Iterator:
        for event in super()._additional_events(session, tracker):
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
