"""`settle sync status`: how far behind each endpoint is, and what failed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from settle.sync.records import SyncDelivery, SyncEvent

# The failures listed per endpoint (the most recent).
FAILURES_SHOWN = 20


@dataclass
class EndpointStatus:
    endpoint: str
    pending: int = 0  # not yet delivered, being retried included
    delivered: int = 0
    failed: int = 0  # given up after 3 days: `settle sync replay` queues them again
    oldest_pending_seconds: int | None = None
    last_error: str | None = None  # of the pending delivery retried most
    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sync_status(
    session: Session, endpoints: tuple[str, ...], now: dt.datetime
) -> list[EndpointStatus]:
    """One line per configured endpoint (and any other that still has deliveries)."""
    by_endpoint = {endpoint: EndpointStatus(endpoint) for endpoint in endpoints}
    for endpoint, status, count, oldest in session.execute(
        select(
            SyncDelivery.endpoint,
            SyncDelivery.status,
            func.count(),
            func.min(SyncDelivery.queued_at),
        ).group_by(SyncDelivery.endpoint, SyncDelivery.status)
    ):
        line = by_endpoint.setdefault(endpoint, EndpointStatus(endpoint))
        if status in ("pending", "sending"):
            line.pending += count
            if oldest is not None:
                age = int((now - _aware(oldest)).total_seconds())
                line.oldest_pending_seconds = max(line.oldest_pending_seconds or 0, age)
        elif status == "delivered":
            line.delivered += count
        elif status == "failed":
            line.failed += count
    for line in by_endpoint.values():
        line.last_error = session.scalar(
            select(SyncDelivery.last_error)
            .where(
                SyncDelivery.endpoint == line.endpoint,
                SyncDelivery.status.in_(("pending", "sending")),
                SyncDelivery.last_error.is_not(None),
            )
            .order_by(SyncDelivery.attempts.desc(), SyncDelivery.id)
            .limit(1)
        )
        rows = session.execute(
            select(
                SyncEvent.event_id, SyncEvent.type, SyncDelivery.attempts, SyncDelivery.last_error
            )
            .join(SyncEvent, SyncEvent.id == SyncDelivery.event_id)
            .where(SyncDelivery.endpoint == line.endpoint, SyncDelivery.status == "failed")
            .order_by(SyncDelivery.id.desc())
            .limit(FAILURES_SHOWN)
        )
        line.failures = [
            {"event_id": event_id, "type": kind, "attempts": attempts, "last_error": error}
            for event_id, kind, attempts, error in rows
        ]
    return list(by_endpoint.values())


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
