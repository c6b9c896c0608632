"""The sync outbox: events written in the transaction of the change they report (so none
is lost, and none is sent for a change rolled back), one delivery per endpoint; and
`settle sync replay`, which queues events again with the same ids."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from settle.store.db import Store
from settle.store.models import AuditEntry, utcnow
from settle.sync.events import events_for
from settle.sync.records import SyncDelivery, SyncEvent
from settle.sync.settings import SyncSettings

log = logging.getLogger(__name__)

# Delivered events are kept this long (for `settle sync replay`), then pruned.
KEPT_DAYS = 30


def attach(store: Store, sync: SyncSettings) -> None:
    """Every session of store writes the events of the money changes it audits (nothing
    when no endpoint is configured)."""
    if sync.enabled:
        store.before_flush("settle.sync", functools.partial(_write_events, endpoints=sync.urls))


def _write_events(session: Session, _context: Any, _instances: Any, endpoints: tuple) -> None:
    entries = [row for row in session.new if isinstance(row, AuditEntry)]
    if not entries:
        return
    with session.no_autoflush:
        for entry in entries:
            try:
                events = events_for(session, entry)
            except Exception:  # never stops the payment: logged, for someone to replay
                log.exception("Sync: no event for audit entry %s (%s)", entry.action, entry.subject)
                continue
            for kind, subject, data in events:
                record_event(session, kind, subject, data, endpoints)


def record_event(
    session: Session,
    kind: str,
    subject: str,
    data: dict[str, Any],
    endpoints: tuple[str, ...],
    now: dt.datetime | None = None,
) -> SyncEvent:
    """One event, queued for each endpoint, in session's transaction."""
    now = now or utcnow()
    event = SyncEvent(
        event_id=f"evt_{uuid.uuid4().hex}", type=kind, subject=subject, data=data, created_at=now
    )
    session.add(event)
    for endpoint in endpoints:
        session.add(
            SyncDelivery(
                event=event, endpoint=endpoint, subject=subject, next_attempt_at=now, queued_at=now
            )
        )
    return event


def replay(
    session: Session,
    since: dt.datetime,
    endpoints: tuple[str, ...],
    kind: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Queue again, for every endpoint, the events created since (of kind): same ids, due
    now, in their first order. How many deliveries were queued."""
    now = now or utcnow()
    query = select(SyncEvent).where(SyncEvent.created_at >= since).order_by(SyncEvent.id)
    if kind:
        query = query.where(SyncEvent.type == kind)
    queued = 0
    for event in session.scalars(query):
        existing = {
            d.endpoint: d
            for d in session.scalars(select(SyncDelivery).where(SyncDelivery.event_id == event.id))
        }
        for endpoint in endpoints:
            delivery = existing.get(endpoint)
            if delivery is None:
                delivery = SyncDelivery(event=event, endpoint=endpoint, subject=event.subject)
                session.add(delivery)
            delivery.status, delivery.attempts, delivery.last_error = "pending", 0, None
            delivery.next_attempt_at, delivery.queued_at, delivery.delivered_at = now, now, None
            queued += 1
    return queued


def prune_delivered(session: Session, days: int = KEPT_DAYS, now: dt.datetime | None = None) -> int:
    """Forget deliveries delivered more than `days` ago, and the events left with none
    (their payloads hold customers' contacts); how many events. A pending or failed
    delivery keeps its event: it still has to go, or someone has to look at it."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    session.execute(
        delete(SyncDelivery)
        .where(SyncDelivery.status == "delivered", SyncDelivery.delivered_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    undelivered = select(SyncDelivery.event_id).distinct()
    result = session.execute(
        delete(SyncEvent)
        .where(SyncEvent.created_at < cutoff, SyncEvent.id.not_in(undelivered))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
