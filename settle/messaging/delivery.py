"""Delivery of the outbox: queued messages claimed one at a time under a lease (so of
several workers exactly one sends each, and a send cut off by a crash is taken up again),
retried with backoff or as the provider asks, held outside a customer's contact hours, and
refused to an opted-out number; and the provider's status callbacks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from settle.adapters.sms import TWILIO_OPTED_OUT, DeliveryError, SmsSender
from settle.core import audit
from settle.messaging.consent import record_opt_out, refuses
from settle.store.db import Store
from settle.store.models import Message, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# A message claimed for sending more than this long ago was cut off (a crash): taken up again.
SEND_LEASE = dt.timedelta(minutes=2)


def retry_delay(attempts: int) -> dt.timedelta:
    """5 s, 10 s, 20 s, … up to 10 minutes between attempts."""
    return dt.timedelta(seconds=min(5 * 2 ** (attempts - 1), 600))


# When a proactive message may go to a customer: None now, else the next opening (UTC).
ContactHours = Callable[[Session, str | None, dt.datetime], dt.datetime | None]


def deliver_pending(
    store: Store,
    sender: SmsSender,
    limit: int = 100,
    ids: list[int] | None = None,
    channel: str = "sms",
    hours: ContactHours | None = None,
    now: dt.datetime | None = None,
) -> list[int]:
    """Send queued messages of channel that are due at `now` (or just `ids`), and take up
    the ones whose sending was cut off; each claimed in its own transaction. E-mail shares
    the outbox and goes through its own sender (settle.adapters.email)."""
    now = now or utcnow()
    with store.unit_of_work() as session:
        query = select(Message.id).where(
            Message.channel == channel,
            or_(
                Message.status == "queued",
                and_(Message.status == "sending", Message.next_attempt_at < now),
            ),
        )
        if ids is not None:
            query = query.where(Message.id.in_(ids))
        else:
            query = query.where(
                or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now)
            )
        due = session.scalars(query.order_by(Message.id).limit(limit)).all()
    return [message_id for message_id in due if deliver_one(store, sender, message_id, hours, now)]


def deliver_one(
    store: Store,
    sender: SmsSender,
    message_id: int,
    hours: ContactHours | None = None,
    now: dt.datetime | None = None,
) -> bool:
    now = now or utcnow()
    with store.unit_of_work() as session:
        message = session.get(Message, message_id)
        if message is None:
            return False
        was, lease = message.status, message.next_attempt_at
        cut_off = was == "sending" and lease is not None and lease < now
        if was != "queued" and not cut_off:
            return False
        # Claim it: of several workers, exactly one moves it (compare-and-set), for a lease.
        same_lease = (
            Message.next_attempt_at.is_(None) if lease is None else Message.next_attempt_at == lease
        )
        claimed = session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == was, same_lease)
            .values(status="sending", next_attempt_at=now + SEND_LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            return False
        session.refresh(message)
        to, body = message.to, message.body
    found = None
    if cut_off and hasattr(sender, "already_sent"):
        # Twilio's create API has no idempotency key: first ask whether it took this one.
        try:
            found = sender.already_sent(to, body, lease - SEND_LEASE - dt.timedelta(minutes=1))
        except DeliveryError as error:  # unknown: stays cut off, asked again after the lease
            log.warning("Message %s: could not look it up before a re-send: %s", message_id, error)
            return False
    if found:
        with store.unit_of_work() as session:
            message = session.get(Message, message_id)
            message.status, message.provider_sid, message.sent_at = "sent", found, utcnow()
            message.error, message.next_attempt_at = None, None
            audit.record(
                session,
                "messaging",
                "message.recovered",
                f"message:{message_id}",
                to=to,
                provider_sid=found,
            )
        return True
    with store.unit_of_work() as session:
        message = session.get(Message, message_id)
        opening = hours(session, message.customer_id, now) if message.proactive and hours else None
        if opening is not None:  # outside their hours (a backlog after an outage): not yet
            message.status, message.next_attempt_at = "queued", opening
            audit.record(
                session,
                "messaging",
                "message.held",
                f"message:{message_id}",
                until=opening.isoformat(),
            )
            return False
        if refuses(session, to, message.channel, message.idempotency_key):
            message.status, message.error = "refused", "recipient opted out"
            audit.record(session, "messaging", "message.refused", f"message:{message_id}", to=to)
            return False
    try:
        delivery = sender.send(to, body)
    except DeliveryError as error:
        with store.unit_of_work() as session:
            message = session.get(Message, message_id)
            message.error = str(error)
            message.attempts += 1
            retry = not error.permanent and message.attempts < MAX_ATTEMPTS
            message.status = "queued" if retry else "failed"
            wait = (
                dt.timedelta(seconds=error.retry_after)
                if error.retry_after is not None
                else retry_delay(message.attempts)
            )
            message.next_attempt_at = utcnow() + wait if retry else None
            if error.opted_out:
                record_opt_out(session, to, "twilio:21610", "messaging")
            audit.record(
                session,
                "messaging",
                "message.failed",
                f"message:{message_id}",
                error=str(error),
                attempt=message.attempts,
                will_retry=retry,
                retry_in_seconds=wait.total_seconds() if retry else None,
            )
        log.warning("SMS %s to %s not delivered: %s", message_id, to, error)
        return False
    with store.unit_of_work() as session:
        message = session.get(Message, message_id)
        message.attempts += 1
        message.status, message.provider_sid, message.sent_at = (
            delivery.status,
            delivery.provider_sid,
            utcnow(),
        )
        message.error, message.next_attempt_at = None, None
        audit.record(
            session,
            "messaging",
            "message.sent",
            f"message:{message_id}",
            to=to,
            via=delivery.status,
            provider_sid=delivery.provider_sid,
        )
    return True


def outbox_depth(session: Session, now: dt.datetime) -> dict[tuple[str, str], int]:
    """Messages not yet handed to a provider, by (channel, state): "due" (queued, to send
    now), "deferred" (queued for later: a retry's backoff, the customer's contact hours) and
    "sending" (claimed by a worker, or cut off by a crash and taken up after its lease)."""
    depth: dict[tuple[str, str], int] = {}
    for channel, status, count, later in session.execute(
        select(
            Message.channel,
            Message.status,
            func.count(),
            func.count().filter(Message.next_attempt_at > now),
        )
        .where(Message.status.in_(("queued", "sending")))
        .group_by(Message.channel, Message.status)
    ):
        if status == "sending":
            depth[(channel, "sending")] = count
        else:
            depth[(channel, "due")], depth[(channel, "deferred")] = count - later, later
    return depth


def record_provider_status(
    session: Session, provider_sid: str, status: str, error_code: str | None = None
) -> bool:
    """Twilio's status callback: delivered, undelivered, failed… 21610 marks the number."""
    message = session.scalar(select(Message).where(Message.provider_sid == provider_sid))
    if message is None:
        return False
    message.provider_status = status
    if error_code:
        message.error = f"Twilio error {error_code}"
        if str(error_code) == str(TWILIO_OPTED_OUT):
            record_opt_out(session, message.to, "twilio:21610", "twilio")
    audit.record(
        session,
        "twilio",
        "message.status",
        f"message:{message.id}",
        status=status,
        error_code=error_code,
    )
    return True
