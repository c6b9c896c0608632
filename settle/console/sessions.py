"""Signed-in browsers of the operator console.

A session is a random token in a cookie; the database keeps only its SHA-256, with the
operator, a CSRF token for the session's forms, and two limits: 12 hours without a request
and 7 days in all. A session whose account is deactivated stops working at once (its rows
are deleted, and the account is checked on every request anyway).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from settle.console.records import Operator, OperatorSession

IDLE_FOR = dt.timedelta(hours=12)
LASTS_AT_MOST = dt.timedelta(days=7)
# last_seen_at is written at most this often: not one write per page view.
TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class SignedIn:
    """Who a request's session belongs to, as the pages need it."""

    session_id: int
    operator_id: int
    email: str
    role: str
    must_change_password: bool
    csrf_token: str

    @property
    def actor(self) -> str:
        return f"operator:{self.email}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class NewSession:
    """A session just started: the token goes into the cookie and nowhere else."""

    token: str
    signed_in: SignedIn


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, operator: Operator, now: dt.datetime) -> NewSession:
    """A fresh session for an operator who just proved their password."""
    session.execute(
        delete(OperatorSession).where(
            OperatorSession.operator_id == operator.id, OperatorSession.expires_at <= now
        )
    )
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    row = OperatorSession(
        token_hash=token_hash(token),
        operator_id=operator.id,
        csrf_token=csrf,
        created_at=now,
        expires_at=now + LASTS_AT_MOST,
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return NewSession(token, _signed_in(row, operator))


def find(session: Session, token: str, now: dt.datetime) -> SignedIn | None:
    """The live session this token opens, or None (an expired one is deleted)."""
    if not token:
        return None
    found = session.execute(
        select(OperatorSession, Operator)
        .join(Operator, Operator.id == OperatorSession.operator_id)
        .where(OperatorSession.token_hash == token_hash(token))
    ).first()
    if found is None:
        return None
    row, operator = found
    if row.expires_at <= now or row.last_seen_at + IDLE_FOR <= now or not operator.active:
        session.delete(row)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return _signed_in(row, operator)


def end(session: Session, token: str) -> None:
    session.execute(delete(OperatorSession).where(OperatorSession.token_hash == token_hash(token)))


def end_all(session: Session, operator_id: int, keep: int | None = None) -> int:
    """End every session of an operator (but `keep`); how many there were."""
    query = delete(OperatorSession).where(OperatorSession.operator_id == operator_id)
    if keep is not None:
        query = query.where(OperatorSession.id != keep)
    return session.execute(query).rowcount or 0


def csrf_matches(signed_in: SignedIn, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(signed_in.csrf_token.encode(), given.encode())


def _signed_in(row: OperatorSession, operator: Operator) -> SignedIn:
    return SignedIn(
        session_id=row.id,
        operator_id=operator.id,
        email=operator.email,
        role=operator.role,
        must_change_password=operator.must_change_password,
        csrf_token=row.csrf_token,
    )
