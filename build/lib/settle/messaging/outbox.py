"""SMS through an outbox: a message is recorded with the change that caused it, then delivered.

Recording and delivering are separate steps so that a crash or a provider outage loses
nothing (a queued message is delivered on the next pass) and a repeated request never
sends twice (one message per idempotency key). Opted-out numbers are refused at both steps.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from settle.core import audit
from settle.privacy.cards import mask_card_numbers
from settle.store.db import Store
from settle.store.models import Message, OptOut, utcnow

log = logging.getLogger(__name__)

# Twilio: "Attempt to send to unsubscribed recipient" — the number replied STOP.
TWILIO_OPTED_OUT = 21610


class DeliveryError(Exception):
    def __init__(
        self,
        message: str,
        permanent: bool = False,
        opted_out: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.opted_out = opted_out
        # Seconds the provider asked us to wait (HTTP Retry-After), when it said.
        self.retry_after = retry_after


@dataclass(frozen=True)
class Delivery:
    status: str  # "sent" (provider accepted it) or "outbox" (kept locally)
    provider_sid: str | None = None


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> Delivery: ...


# The headers of this thread's last Twilio answer (Retry-After on a 429).
_last_headers = threading.local()


class _HttpClient(TwilioHttpClient):
    """Twilio's HTTP client, keeping each thread's last answer's headers, and sending to
    TWILIO_API_BASE (a proxy or a local test server) when one is set."""

    def __init__(self, base_url: str | None, timeout: float):
        super().__init__(timeout=timeout)
        self._base = base_url.rstrip("/") if base_url else None

    def request(self, method, url, *args, **kwargs):
        if self._base and url.startswith("https://api.twilio.com"):
            url = self._base + url[len("https://api.twilio.com") :]
        _last_headers.headers = None
        response = super().request(method, url, *args, **kwargs)
        _last_headers.headers = getattr(response, "headers", None)
        return response


def twilio_client(
    account_sid: str, auth_token: str, api_base: str | None = None, timeout: float = 10.0
) -> Client:
    http_client = _HttpClient(api_base, timeout)
    return Client(account_sid, auth_token, http_client=http_client)


class TwilioSms:
    """Programmable Messaging through the official Twilio SDK."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str | None = None,
        status_callback: str | None = None,
        timeout: float = 10.0,
    ):
        self._client = twilio_client(account_sid, auth_token, api_base, timeout)
        self._from = from_number
        self._status_callback = status_callback

    def send(self, to: str, body: str) -> Delivery:
        try:
            extra = {"status_callback": self._status_callback} if self._status_callback else {}
            message = self._client.messages.create(to=to, from_=self._from, body=body, **extra)
        except TwilioRestException as error:
            # 429 (too many requests) and 5xx are worth another try; other 4xx are not.
            raise DeliveryError(
                f"Twilio error {error.code}: {error.msg}",
                permanent=error.status is not None
                and 400 <= error.status < 500
                and error.status != 429,
                opted_out=error.code == TWILIO_OPTED_OUT,
                retry_after=self._retry_after(),
            ) from error
        except Exception as error:
            raise DeliveryError(f"Twilio unreachable: {error}") from error
        return Delivery("sent", message.sid)

    def _retry_after(self) -> float | None:
        value = (_last_headers.headers or {}).get("Retry-After")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None

    def already_sent(self, to: str, body: str, since: dt.datetime) -> str | None:
        """The sid of a message with this body Twilio already took for `to` since `since`:
        its create API has no idempotency key, so a send cut off by a crash is looked up
        before it is made again."""
        try:  # by To only: a message Twilio took but has not sent yet has no DateSent
            taken = self._client.messages.list(to=to, limit=50)
        except Exception as error:
            raise DeliveryError(f"Twilio lookup failed: {error}") from error
        return next(
            (
                m.sid
                for m in taken
                if m.body == body
                and m.from_ == self._from
                and (m.date_created is None or m.date_created >= since)
            ),
            None,
        )


class ConsoleOutbox:
    """No Twilio credentials: the message stays in the outbox table and is shown in the log."""

    def send(self, to: str, body: str) -> Delivery:
        log.warning("OUTBOX (no Twilio credentials) SMS to %s: %s", to, body)
        return Delivery("outbox")


def is_opted_out(session: Session, phone: str, channel: str = "sms") -> bool:
    """Whether phone (or an e-mail address) refused channel ("sms", "call", "email");
    an opt-out for "all" (STOP) refuses every channel."""
    return (
        session.scalar(
            select(OptOut.id)
            .where(OptOut.phone == phone, OptOut.channel.in_(("all", channel)))
            .limit(1)
        )
        is not None
    )


def record_opt_out(
    session: Session, phone: str, source: str, actor: str, channel: str = "all"
) -> bool:
    """Record that phone wants no more messages (on channel, or any); True when it is new."""
    if is_opted_out(session, phone, channel):
        return False
    try:
        with session.begin_nested():
            session.add(OptOut(phone=phone, channel=channel, source=source))
    except IntegrityError:
        return False
    audit.record(
        session, actor, "contact.opted_out", f"phone:{phone}", source=source, channel=channel
    )
    return True


# Babel's dates and currencies use no-break spaces; one such character turns a whole SMS
# into UCS-2, which fits 70 characters a segment instead of 160.
_SMS_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " "})


def record_opt_in(session: Session, phone: str, source: str, actor: str) -> bool:
    """The number asked for messages again (START); True when it had opted out."""
    rows = session.scalars(select(OptOut).where(OptOut.phone == phone)).all()
    for row in rows:
        session.delete(row)
    if rows:
        audit.record(session, actor, "contact.opted_in", f"phone:{phone}", source=source)
    return bool(rows)


GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


def segments(body: str) -> int:
    """How many SMS segments body takes (GSM-7: 160, or 153 when split; else UCS-2: 70/67)."""
    single, part = (160, 153) if all(c in GSM7 for c in body) else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // part)


def sms_bodies(texts: list[str], max_segments: int = 4) -> list[str]:
    """The bot's replies for one turn as few messages as fit max_segments each."""
    bodies: list[str] = []
    for text in (t.strip().translate(_SMS_SPACES) for t in texts if t and t.strip()):
        if bodies and segments(bodies[-1] + "\n\n" + text) <= max_segments:
            bodies[-1] += "\n\n" + text
            continue
        while segments(text) > max_segments:  # one very long reply: cut at a line or word
            limit = (153 if all(c in GSM7 for c in text) else 67) * max_segments
            cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
            cut = cut if cut > 0 else limit
            bodies.append(text[:cut].rstrip())
            text = text[cut:].lstrip()
        bodies.append(text)
    return bodies


def queue_sms(
    session: Session,
    to: str,
    body: str,
    key: str,
    actor: str,
    customer_id: str | None = None,
    proactive: bool = False,
) -> Message:
    """Record an SMS to send once per key; refused (and audited) when to has opted out.
    proactive: Settle speaks first, so it goes out in the customer's contact hours only."""
    return queue_message(
        session, "sms", to, body.translate(_SMS_SPACES), key, actor, customer_id, proactive
    )


def queue_message(
    session: Session,
    channel: str,
    to: str,
    body: str,
    key: str,
    actor: str,
    customer_id: str | None = None,
    proactive: bool = False,
) -> Message:
    """Record a message on `channel` to send once per key; refused (and audited) when `to`
    has opted out of that channel."""
    existing = session.scalar(select(Message).where(Message.idempotency_key == key))
    if existing is not None:
        return existing
    refused = is_opted_out(session, to, channel)
    message = Message(
        idempotency_key=key,
        channel=channel,
        to=to,
        body=mask_card_numbers(body),
        proactive=proactive,
        customer_id=customer_id,
        status="refused" if refused else "queued",
        error="recipient opted out" if refused else None,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:  # the same key queued concurrently
        return session.scalar(select(Message).where(Message.idempotency_key == key))
    audit.record(
        session,
        actor,
        "message.refused" if refused else "message.queued",
        f"message:{key}",
        to=to,
        channel=channel,
    )
    return message


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
    the outbox and goes through its own sender (settle.email)."""
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
        if is_opted_out(session, to, message.channel):
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
