"""SMS through an outbox: a message is recorded with the change that caused it, then delivered.

Recording and delivering are separate steps so that a crash or a provider outage loses
nothing (a queued message is delivered on the next pass) and a repeated request never
sends twice (one message per idempotency key). Opted-out numbers are refused at both steps.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from settle import audit
from settle.store.db import Store
from settle.store.models import Message, OptOut, utcnow

log = logging.getLogger(__name__)

# Twilio: "Attempt to send to unsubscribed recipient" — the number replied STOP.
TWILIO_OPTED_OUT = 21610


class DeliveryError(Exception):
    def __init__(self, message: str, permanent: bool = False, opted_out: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.opted_out = opted_out


@dataclass(frozen=True)
class Delivery:
    status: str  # "sent" (provider accepted it) or "outbox" (kept locally)
    provider_sid: Optional[str] = None


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> Delivery: ...


class _BaseUrlHttpClient(TwilioHttpClient):
    """Sends Twilio API requests to TWILIO_API_BASE (a proxy or a local test server)."""

    def __init__(self, base_url: str, timeout: float):
        super().__init__(timeout=timeout)
        self._base = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if url.startswith("https://api.twilio.com"):
            url = self._base + url[len("https://api.twilio.com"):]
        return super().request(method, url, *args, **kwargs)


class TwilioSms:
    """Programmable Messaging through the official Twilio SDK."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str,
                 api_base: Optional[str] = None, timeout: float = 10.0):
        http_client = (_BaseUrlHttpClient(api_base, timeout) if api_base
                       else TwilioHttpClient(timeout=timeout))
        self._client = Client(account_sid, auth_token, http_client=http_client)
        self._from = from_number

    def send(self, to: str, body: str) -> Delivery:
        try:
            message = self._client.messages.create(to=to, from_=self._from, body=body)
        except TwilioRestException as error:
            raise DeliveryError(
                f"Twilio error {error.code}: {error.msg}",
                permanent=error.status is not None and 400 <= error.status < 500,
                opted_out=error.code == TWILIO_OPTED_OUT,
            ) from error
        except Exception as error:  # noqa: BLE001 - network faults are retried later
            raise DeliveryError(f"Twilio unreachable: {error}") from error
        return Delivery("sent", message.sid)


class ConsoleOutbox:
    """No Twilio credentials: the message stays in the outbox table and is shown in the log."""

    def send(self, to: str, body: str) -> Delivery:
        log.warning("OUTBOX (no Twilio credentials) SMS to %s: %s", to, body)
        return Delivery("outbox")


def is_opted_out(session: Session, phone: str) -> bool:
    return session.scalar(select(OptOut.id).where(OptOut.phone == phone).limit(1)) is not None


def record_opt_out(session: Session, phone: str, source: str, actor: str) -> bool:
    """Record that phone wants no more messages; True when it is new."""
    if is_opted_out(session, phone):
        return False
    try:
        with session.begin_nested():
            session.add(OptOut(phone=phone, channel="all", source=source))
    except IntegrityError:
        return False
    audit.record(session, actor, "contact.opted_out", f"phone:{phone}", source=source)
    return True


# Babel's dates and currencies use no-break spaces; one such character turns a whole SMS
# into UCS-2, which fits 70 characters a segment instead of 160.
_SMS_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " "})


def queue_sms(session: Session, to: str, body: str, key: str, actor: str,
              customer_id: Optional[str] = None) -> Message:
    """Record an SMS to send once per key; refused (and audited) when to has opted out."""
    body = body.translate(_SMS_SPACES)
    existing = session.scalar(select(Message).where(Message.idempotency_key == key))
    if existing is not None:
        return existing
    refused = is_opted_out(session, to)
    message = Message(idempotency_key=key, channel="sms", to=to, body=body,
                      customer_id=customer_id, status="refused" if refused else "queued",
                      error="recipient opted out" if refused else None)
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:  # the same key queued concurrently
        return session.scalar(select(Message).where(Message.idempotency_key == key))
    audit.record(session, actor, "message.refused" if refused else "message.queued",
                 f"message:{key}", to=to)
    return message


def deliver_pending(store: Store, sender: SmsSender, limit: int = 100) -> List[int]:
    """Send queued messages, each claimed and settled in its own transaction."""
    with store.unit_of_work() as session:
        ids = session.scalars(
            select(Message.id).where(Message.status == "queued").order_by(Message.id).limit(limit)
        ).all()
    delivered = []
    for message_id in ids:
        if _deliver_one(store, sender, message_id):
            delivered.append(message_id)
    return delivered


def _deliver_one(store: Store, sender: SmsSender, message_id: int) -> bool:
    with store.unit_of_work() as session:
        # Claim it: of several workers, exactly one moves it from queued to sending.
        claimed = session.execute(
            update(Message).where(Message.id == message_id, Message.status == "queued")
            .values(status="sending")
        ).rowcount
        if not claimed:
            return False
        message = session.get(Message, message_id)
        to, body = message.to, message.body
        if is_opted_out(session, to):
            message.status, message.error = "refused", "recipient opted out"
            audit.record(session, "messaging", "message.refused", f"message:{message_id}", to=to)
            return False
    try:
        delivery = sender.send(to, body)
    except DeliveryError as error:
        with store.unit_of_work() as session:
            message = session.get(Message, message_id)
            message.error = str(error)
            message.status = "failed" if error.permanent else "queued"
            if error.opted_out:
                record_opt_out(session, to, "twilio:21610", "messaging")
            audit.record(session, "messaging", "message.failed", f"message:{message_id}",
                         error=str(error), will_retry=not error.permanent)
        log.warning("SMS %s to %s not delivered: %s", message_id, to, error)
        return False
    with store.unit_of_work() as session:
        message = session.get(Message, message_id)
        message.status, message.provider_sid, message.sent_at = (
            delivery.status, delivery.provider_sid, utcnow())
        message.error = None
        audit.record(session, "messaging", "message.sent", f"message:{message_id}",
                     to=to, via=delivery.status, provider_sid=delivery.provider_sid)
    return True
