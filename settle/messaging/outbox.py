"""SMS through an outbox: a message is recorded with the change that caused it, then delivered.

Recording and delivering are separate steps so that a crash or a provider outage loses
nothing (a queued message is delivered on the next pass, settle.messaging.delivery) and a
repeated request never sends twice (one message per idempotency key). Opted-out numbers
are refused at both steps (settle.messaging.consent). This module queues, and fits the
bot's replies into as few SMS segments as it can.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle.core import audit
from settle.messaging.consent import refuses
from settle.privacy.cards import mask_card_numbers
from settle.store.models import Message

# Babel's dates and currencies use no-break spaces; one such character turns a whole SMS
# into UCS-2, which fits 70 characters a segment instead of 160.
_SMS_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " "})


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
    refused = refuses(session, to, channel, key)
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
