"""Signed requests are taken once: webhook receipts and the one-time tokens of a call."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle.access.records import CallNonce, WebhookReceipt
from settle.store.models import utcnow

# A call's turn token is good for this long (Twilio's calls are far shorter).
NONCE_LIFETIME = dt.timedelta(hours=4)
# Receipts are kept long enough to outlive any provider's retries and replays of note.
RECEIPT_LIFETIME = dt.timedelta(days=7)


def first_time(session: Session, key: str) -> bool:
    """True the first time `key` is seen; False for a replay (nothing else is written)."""
    try:
        with session.begin_nested():
            session.add(WebhookReceipt(key=key[:255], received_at=utcnow()))
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class CallFacts:
    """What the call's first request proved; carried from turn to turn by the tokens."""

    call_sid: str
    phone: str
    attested: bool
    outbound: bool


def issue_nonce(session: Session, facts: CallFacts) -> str:
    nonce = secrets.token_urlsafe(18)
    session.add(
        CallNonce(
            nonce=nonce,
            call_sid=facts.call_sid,
            phone=facts.phone,
            attested=facts.attested,
            outbound=facts.outbound,
            issued_at=utcnow(),
        )
    )
    return nonce


def use_nonce(
    session: Session, nonce: str | None, call_sid: str, now: dt.datetime | None = None
) -> CallFacts | None:
    """The facts behind a token of this call, once; None for a used, stale or foreign one."""
    if not nonce or not call_sid:
        return None
    now = now or utcnow()
    taken = session.execute(
        update(CallNonce)
        .where(
            CallNonce.nonce == nonce,
            CallNonce.call_sid == call_sid,
            CallNonce.used_at.is_(None),
            CallNonce.issued_at > now - NONCE_LIFETIME,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        return None
    row = session.get(CallNonce, nonce)
    return CallFacts(row.call_sid, row.phone, row.attested, row.outbound)


def prune(session: Session, now: dt.datetime | None = None) -> None:
    """Forget receipts and tokens too old to matter."""
    now = now or utcnow()
    session.execute(
        delete(WebhookReceipt).where(WebhookReceipt.received_at < now - RECEIPT_LIFETIME)
    )
    session.execute(delete(CallNonce).where(CallNonce.issued_at < now - NONCE_LIFETIME))
