"""How many guesses the invoice-and-postal-code check gets, and who is locked out.

Misses are counted per conversation, per invoice number, per customer (the owner of the
invoice guessed at) and per client address, each with its own limit (settings file,
`security.lockout`). Crossing a limit writes a lock and an `identity.locked` audit entry;
while any lock covers a check, the check is not even tried. Locks close only the knowledge
check: a caller the carrier vouches for, or a text from the number on file, still gets in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from settle.access.addresses import address_key
from settle.access.records import IdentityLock, IdentityMiss
from settle.core import audit
from settle.rules.security import SCOPES, Lockout
from settle.store.models import utcnow


@dataclass(frozen=True)
class Lock:
    id: int
    scope: str
    key: str
    until: dt.datetime


def conversation_key(conversation_id: str) -> str:
    """Conversations are counted by a hash: web sender ids are not worth keeping verbatim."""
    return hashlib.sha256((conversation_id or "").encode()).hexdigest()[:32]


def keys_for(
    conversation_id: str,
    invoice_number: str | None,
    customer_id: str | None,
    client_address: str | None,
) -> dict[str, str]:
    """The scopes one check touches; a scope without a key (no address on a call) is left out."""
    keys = {
        "conversation": conversation_key(conversation_id),
        "invoice": invoice_number,
        "customer": customer_id,
        "client_address": address_key(client_address),
    }
    return {scope: key for scope, key in keys.items() if key}


def serialize(session: Session, keys: dict[str, str]) -> None:
    """Checks that share a key run one at a time until their transaction ends, so a burst
    of parallel guesses cannot all get past the lock check before the first miss counts.
    SQLite's write transactions are serial already; PostgreSQL takes an advisory lock per key
    (in one order, so two checks never wait on each other)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for scope, key in sorted(keys.items()):
        digest = hashlib.sha256(f"settle.identity:{scope}:{key}".encode()).digest()
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"),
            {"key": int.from_bytes(digest[:8], "big", signed=True)},
        )


def active_lock(
    session: Session, keys: dict[str, str], now: dt.datetime | None = None
) -> Lock | None:
    """The lock (if any) that closes a check touching these keys."""
    now = now or utcnow()
    for scope in SCOPES:
        if scope not in keys:
            continue
        lock = session.scalar(
            select(IdentityLock)
            .where(
                IdentityLock.scope == scope,
                IdentityLock.key == keys[scope],
                IdentityLock.until > now,
                IdentityLock.cleared_at.is_(None),
            )
            .order_by(IdentityLock.until.desc())
        )
        if lock is not None:
            return Lock(lock.id, lock.scope, lock.key, lock.until)
    return None


def record_miss(
    session: Session,
    rules: Lockout,
    keys: dict[str, str],
    actor: str,
    now: dt.datetime | None = None,
) -> list[Lock]:
    """Count a failed check in every scope it touched; returns the locks it set off."""
    now = now or utcnow()
    locks: list[Lock] = []
    for scope, key in keys.items():
        session.add(IdentityMiss(scope=scope, key=key, at=now))
    session.flush()
    for scope, key in keys.items():
        limit = rules.limit_for(scope)
        since = now - dt.timedelta(minutes=limit.window_minutes)
        # A lock a person cleared starts the count afresh.
        cleared = session.scalar(
            select(func.max(IdentityLock.cleared_at)).where(
                IdentityLock.scope == scope, IdentityLock.key == key
            )
        )
        if cleared is not None and cleared > since:
            since = cleared
        misses = session.scalar(
            select(func.count(IdentityMiss.id)).where(
                IdentityMiss.scope == scope, IdentityMiss.key == key, IdentityMiss.at > since
            )
        )
        if misses < limit.misses or active_lock(session, {scope: key}, now) is not None:
            continue
        lock = IdentityLock(
            scope=scope,
            key=key,
            misses=misses,
            locked_at=now,
            until=now + dt.timedelta(minutes=limit.lock_minutes),
        )
        session.add(lock)
        session.flush()
        audit.record(
            session,
            actor,
            "identity.locked",
            f"{scope}:{key}",
            scope=scope,
            misses=misses,
            minutes=limit.lock_minutes,
            until=lock.until.isoformat(),
        )
        locks.append(Lock(lock.id, scope, key, lock.until))
    return locks


def active_locks(session: Session, now: dt.datetime | None = None) -> list[IdentityLock]:
    """Every lock in force, newest first (for staff: `settle locks`)."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(IdentityLock)
            .where(IdentityLock.until > now, IdentityLock.cleared_at.is_(None))
            .order_by(IdentityLock.locked_at.desc())
        )
    )


def clear_lock(session: Session, lock_id: int, who: str, now: dt.datetime | None = None) -> bool:
    """A person lifts a lock (the customer called in and proved who they are)."""
    lock = session.get(IdentityLock, lock_id)
    if lock is None or lock.cleared_at is not None:
        return False
    lock.cleared_at, lock.cleared_by = now or utcnow(), who
    audit.record(session, who, "identity.unlocked", f"{lock.scope}:{lock.key}", lock_id=lock_id)
    return True
