"""Operator accounts: who may sign in to /console, with which role, and how a password is
checked.

Passwords are Argon2id hashes (argon2-cffi). A new account and a reset get a one-time
password that must be changed at the next sign-in. Wrong passwords are counted on the
account: the fifth in a row locks it for 15 minutes, and every guess is claimed before it
is checked, so a burst of parallel guesses gets no more tries than that. A failed sign-in
never says why: an unknown e-mail, a wrong password, a locked or a deactivated account all
get the same answer after the same work (a hash is verified either way).

Every change is written to the audit log by whoever made it: "cli:<user>" for the
`settle operator` commands, "operator:<email>" for the console.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.console import sessions
from settle.console.records import ROLES, Operator
from settle.console.words import phrase
from settle.core import audit
from settle.store.db import Store
from settle.store.models import utcnow

MAX_FAILED_ATTEMPTS = 5
LOCK_FOR = dt.timedelta(minutes=15)
MIN_PASSWORD_CHARS = 12
# Longer "passwords" are refused before hashing: nobody types them, and hashing is work.
MAX_PASSWORD_CHARS = 256


class AccountError(ValueError):
    """A change that cannot be made, said so a person can act on it."""


@dataclass(frozen=True)
class OperatorView:
    """An account as lists and pages show it (never the hash)."""

    id: int
    email: str
    role: str
    active: bool
    must_change_password: bool
    created_at: dt.datetime
    last_sign_in_at: dt.datetime | None
    locked_until: dt.datetime | None

    @classmethod
    def of(cls, operator: Operator) -> OperatorView:
        return cls(
            id=operator.id,
            email=operator.email,
            role=operator.role,
            active=operator.active,
            must_change_password=operator.must_change_password,
            created_at=operator.created_at,
            last_sign_in_at=operator.last_sign_in_at,
            locked_until=operator.locked_until,
        )


@functools.lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2-cffi's defaults: RFC 9106's low-memory Argon2id


@functools.lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """What an unknown, locked or deactivated account's guess is checked against, so the
    answer takes as long as a real check."""
    return _hasher().hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def one_time_password() -> str:
    return secrets.token_urlsafe(15)  # 120 random bits, 20 characters


def normalized_email(email: str) -> str:
    """The address as accounts are keyed: trimmed and lowercased, or an AccountError."""
    address = (email or "").strip().lower()
    local, at, domain = address.partition("@")
    if not (at and local and "." in domain.strip(".")) or len(address) > 254:
        raise AccountError(phrase("account.not_email", email=email))
    if any(c.isspace() or not c.isprintable() for c in address) or "@" in domain:
        raise AccountError(phrase("account.not_email", email=email))
    return address


def password_problem(password: str) -> str | None:
    """Why a new password is not accepted; None when it is."""
    if len(password) < MIN_PASSWORD_CHARS:
        return phrase("password.too_short", chars=MIN_PASSWORD_CHARS)
    if len(password) > MAX_PASSWORD_CHARS:
        return phrase("password.too_long", chars=MAX_PASSWORD_CHARS)
    return None


def operator_by_email(session: Session, email: str) -> Operator | None:
    try:
        address = normalized_email(email)
    except AccountError:
        return None
    return session.scalar(select(Operator).where(Operator.email == address))


def _must_find(session: Session, email: str) -> Operator:
    operator = operator_by_email(session, email)
    if operator is None:
        raise AccountError(phrase("account.no_operator", email=email.strip().lower()))
    return operator


def add_operator(session: Session, email: str, role: str, actor: str) -> str:
    """A new account; its one-time password (shown once, kept only as a hash)."""
    address = normalized_email(email)
    if role not in ROLES:
        raise AccountError(phrase("account.bad_role", roles=", ".join(ROLES), role=role))
    if session.scalar(select(Operator.id).where(Operator.email == address)) is not None:
        raise AccountError(phrase("account.exists", email=address))
    password = one_time_password()
    session.add(
        Operator(
            email=address,
            password_hash=_hasher().hash(password),
            role=role,
            must_change_password=True,
            active=True,
            failed_attempts=0,
        )
    )
    session.flush()
    audit.record(session, actor, "operator.added", f"operator:{address}", role=role)
    return password


def reset_password(session: Session, email: str, actor: str) -> str:
    """A new one-time password; the old one, any lock and every session end."""
    operator = _must_find(session, email)
    password = one_time_password()
    operator.password_hash = _hasher().hash(password)
    operator.must_change_password = True
    operator.failed_attempts = 0
    operator.locked_until = None
    ended = sessions.end_all(session, operator.id)
    audit.record(session, actor, "operator.reset", f"operator:{operator.email}", sessions=ended)
    return password


def deactivate(session: Session, email: str, actor: str) -> OperatorView:
    """The account can no longer sign in, and its sessions stop working at once."""
    operator = _must_find(session, email)
    operator.active = False
    ended = sessions.end_all(session, operator.id)
    audit.record(
        session, actor, "operator.deactivated", f"operator:{operator.email}", sessions=ended
    )
    return OperatorView.of(operator)


def list_operators(session: Session) -> list[OperatorView]:
    rows = session.scalars(select(Operator).order_by(Operator.email)).all()
    return [OperatorView.of(row) for row in rows]


def _claim_attempt(store: Store, address: str, now: dt.datetime) -> str | None:
    """Count this guess before checking it: the hash to check it against, or None when the
    account does not exist, is deactivated or is locked."""
    with store.unit_of_work() as session:
        operator = session.scalar(
            select(Operator).where(Operator.email == address).with_for_update()
        )
        if operator is None:
            return None
        who = f"operator:{address}"
        locked = operator.locked_until is not None and operator.locked_until > now
        if locked or not operator.active:
            reason = "locked" if operator.active else "deactivated"
            audit.record(session, who, "operator.sign_in_refused", who, reason=reason)
            return None
        operator.failed_attempts += 1
        if operator.failed_attempts >= MAX_FAILED_ATTEMPTS:  # this guess is the last one
            operator.failed_attempts = 0
            operator.locked_until = now + LOCK_FOR
            until = operator.locked_until.isoformat()
            audit.record(session, who, "operator.locked", who, until=until)
        return operator.password_hash


def sign_in(
    store: Store, email: str, password: str, now: dt.datetime | None = None
) -> sessions.NewSession | None:
    """A new session for the right e-mail and password; None for anything else."""
    now = now or utcnow()
    try:
        address = normalized_email(email)
    except AccountError:
        address = ""
    if len(password) > MAX_PASSWORD_CHARS:
        password = ""
    claimed = _claim_attempt(store, address, now) if address else None
    right = _verify(claimed or _decoy_hash(), password)
    if claimed is None:
        return None
    who = f"operator:{address}"
    with store.unit_of_work() as session:
        if not right:
            audit.record(session, who, "operator.sign_in_failed", who)
            return None
        operator = session.scalar(
            select(Operator).where(Operator.email == address).with_for_update()
        )
        # Deactivated or reset while the hash was being checked: that password is void.
        if operator is None or not operator.active or operator.password_hash != claimed:
            return None
        operator.failed_attempts = 0
        operator.locked_until = None
        operator.last_sign_in_at = now
        if _hasher().check_needs_rehash(claimed):
            operator.password_hash = _hasher().hash(password)
        audit.record(session, who, "operator.signed_in", who)
        return sessions.start(session, operator, now)


def change_password(
    store: Store, operator_id: int, current: str, new: str, keep_session_id: int
) -> str | None:
    """Why the change was refused, or None once the new password is set; every other
    session of the account ends."""
    problem = password_problem(new)
    if problem:
        return problem
    if new == current:
        return phrase("password.unchanged")
    with store.unit_of_work() as session:
        known = session.get(Operator, operator_id)
        known_hash = known.password_hash if known is not None else None
    if len(current) > MAX_PASSWORD_CHARS or not _verify(known_hash or _decoy_hash(), current):
        return phrase("password.wrong_current")
    with store.unit_of_work() as session:
        operator = session.scalar(
            select(Operator).where(Operator.id == operator_id).with_for_update()
        )
        if operator is None or not operator.active or operator.password_hash != known_hash:
            return phrase("password.account_changed")
        operator.password_hash = _hasher().hash(new)
        operator.must_change_password = False
        ended = sessions.end_all(session, operator.id, keep=keep_session_id)
        audit.record(
            session,
            f"operator:{operator.email}",
            "operator.password_changed",
            f"operator:{operator.email}",
            other_sessions_ended=ended,
        )
    return None
