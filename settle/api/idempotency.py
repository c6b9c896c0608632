"""Idempotency-Key: a write sent again with the same key (by the same caller, within a day)
gets the first answer back and changes nothing; the same key with another body is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from settle.api.records import ApiIdempotency
from settle.store.models import utcnow

KEPT_FOR = dt.timedelta(hours=24)
MAX_KEY = 255


class KeyReused(Exception):
    """Answered 422: this Idempotency-Key was sent before with another body."""


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def earlier_answer(
    session: Session, owner: str, key: str, digest: str
) -> tuple[int, dict[str, Any]] | None:
    """(status, body) answered to this key within the day; None when it is new (or older)."""
    row = session.scalar(
        select(ApiIdempotency).where(ApiIdempotency.owner == owner, ApiIdempotency.key == key)
    )
    if row is None:
        return None
    if row.created_at < utcnow() - KEPT_FOR:
        session.delete(row)
        session.flush()
        return None
    if row.body_sha256 != digest:
        raise KeyReused(
            "this Idempotency-Key was sent with another body; use a new key for a new request"
        )
    return row.status, row.response


def remember(
    session: Session, owner: str, key: str, digest: str, status: int, body: dict[str, Any]
) -> None:
    session.add(
        ApiIdempotency(owner=owner, key=key, body_sha256=digest, status=status, response=body)
    )


def forget_old(session: Session) -> int:
    """Delete answers older than a day; how many."""
    result = session.execute(
        delete(ApiIdempotency).where(ApiIdempotency.created_at < utcnow() - KEPT_FOR)
    )
    return int(getattr(result, "rowcount", 0) or 0)
