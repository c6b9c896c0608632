"""Delivery of the sync outbox to the billing system's endpoints, in the background only.

Each delivery is claimed under a lease by compare-and-set (of several workers or replicas
exactly one posts it; a post cut off by a crash is taken up after the lease), posted with a
short timeout, and on failure tried again with a growing wait (30 s doubling to 1 h) for
3 days, then marked failed. Per endpoint, an invoice's events go in order: one waits while
an earlier one for the same invoice is pending. A failed (given-up) event does not hold
the later ones back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import requests
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from settle.store.db import Store
from settle.store.models import utcnow
from settle.sync.records import SyncDelivery, SyncEvent
from settle.sync.settings import SyncSettings
from settle.sync.signing import HEADER, signature

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
# Longer than a post can take: a delivery claimed longer ago than this was cut off.
LEASE = dt.timedelta(seconds=60)
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_RETRY = dt.timedelta(hours=1)
GIVE_UP_AFTER = dt.timedelta(days=3)

# Posts body with headers to url within timeout seconds; the HTTP status, or an exception.
Post = Callable[[str, bytes, dict[str, str], float], int]


class EndpointError(Exception):
    """The endpoint did not take the event (a status other than 2xx, or no answer)."""


def post_with_requests(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    response = requests.post(
        url, data=body, headers=headers, timeout=timeout, allow_redirects=False
    )
    return response.status_code


def retry_delay(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, … up to an hour between attempts."""
    return min(FIRST_RETRY * 2 ** min(attempts - 1, 16), LONGEST_RETRY)


@dataclass
class SyncPass:
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    waiting: int = 0  # behind an earlier event for the same invoice


def event_body(event: SyncEvent) -> bytes:
    """The JSON body an event is posted as: id, type, created (unix seconds), data."""
    document = {
        "id": event.event_id,
        "type": event.type,
        "created": int(event.created_at.timestamp()),
        "data": event.data,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def deliver_due(
    store: Store,
    sync: SyncSettings,
    now: dt.datetime | None = None,
    post: Post = post_with_requests,
    limit: int = 100,
) -> SyncPass:
    """One pass: every delivery due at now (and every one cut off), in order, each claimed
    in its own short transaction and posted with none open."""
    now = now or utcnow()
    outcome = SyncPass()
    if not sync.secret:
        return outcome
    with store.unit_of_work() as session:
        due = session.scalars(
            select(SyncDelivery.id)
            .where(
                SyncDelivery.endpoint.in_(sync.urls),  # one no longer configured: kept, unsent
                or_(
                    and_(SyncDelivery.status == "pending", SyncDelivery.next_attempt_at <= now),
                    and_(SyncDelivery.status == "sending", SyncDelivery.next_attempt_at < now),
                ),
            )
            .order_by(SyncDelivery.id)
            .limit(limit)
        ).all()
    for delivery_id in due:
        claimed = _claim(store, delivery_id, now)
        if claimed is None:
            outcome.waiting += 1
            continue
        url, body = claimed
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            HEADER: signature(sync.secret, timestamp, body),
        }
        try:
            status = post(url, body, headers, TIMEOUT_SECONDS)
            if not 200 <= status < 300:
                raise EndpointError(f"HTTP {status}")
        except (EndpointError, requests.RequestException) as error:
            if _failed(store, delivery_id, f"{type(error).__name__}: {error}"[:500], now):
                outcome.given_up += 1
            outcome.failed_attempts += 1
            continue
        with store.unit_of_work() as session:
            delivery = session.get(SyncDelivery, delivery_id)
            if delivery is not None:
                delivery.status, delivery.delivered_at = "delivered", now
                delivery.attempts += 1
                delivery.last_error = None
        outcome.delivered += 1
    return outcome


def _claim(store: Store, delivery_id: int, now: dt.datetime) -> tuple[str, bytes] | None:
    """Take the delivery for a lease (compare-and-set); None when another worker has it or
    an earlier event for the same invoice has not gone yet."""
    with store.unit_of_work() as session:
        delivery = session.get(SyncDelivery, delivery_id)
        if delivery is None or _held_back(session, delivery):
            return None
        was, lease = delivery.status, delivery.next_attempt_at
        if not (was == "pending" and lease <= now) and not (was == "sending" and lease < now):
            return None
        claimed = session.execute(
            update(SyncDelivery)
            .where(
                SyncDelivery.id == delivery_id,
                SyncDelivery.status == was,
                SyncDelivery.next_attempt_at == lease,
            )
            .values(status="sending", next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            return None
        return delivery.endpoint, event_body(delivery.event)


def _held_back(session: Session, delivery: SyncDelivery) -> bool:
    earlier = session.scalar(
        select(SyncDelivery.id)
        .where(
            SyncDelivery.endpoint == delivery.endpoint,
            SyncDelivery.subject == delivery.subject,
            SyncDelivery.status.in_(("pending", "sending")),
            SyncDelivery.id < delivery.id,
        )
        .limit(1)
    )
    return earlier is not None


def _failed(store: Store, delivery_id: int, error: str, now: dt.datetime) -> bool:
    """Record a failed post: tried again later, or given up after 3 days (True)."""
    with store.unit_of_work() as session:
        delivery = session.get(SyncDelivery, delivery_id)
        if delivery is None:
            return False
        delivery.attempts += 1
        delivery.last_error = error
        given_up = now - delivery.queued_at >= GIVE_UP_AFTER
        delivery.status = "failed" if given_up else "pending"
        delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    log.warning(
        "Sync: event delivery %s to %s failed (%s)%s",
        delivery_id,
        delivery.endpoint,
        error,
        ", given up" if given_up else "",
    )
    return given_up
