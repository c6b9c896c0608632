"""API keys: made by `settle api-key create` (shown once, kept as a hash), or the one key
of the environment (SETTLE_API_KEY). A caller is audited as "api:<key name>" or "api:env"."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.api.records import ApiKey
from settle.core import audit
from settle.store.models import utcnow

PREFIX = "sk_settle_"
MAX_NAME = 64
# SETTLE_API_KEY's name: a created key of that name would pass for it in the audit, the
# rate limit and the Idempotency-Key answers.
ENV_NAME = "env"


class ApiKeyError(Exception):
    """A key command that cannot be done: the message says why."""


@dataclass(frozen=True)
class ApiKeyView:
    id: int
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, actor: str) -> tuple[int, str]:
    """A new key named `name`: (its id, the key). The key is returned only here."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(c.isspace() for c in name):
        raise ApiKeyError(f"a key's name is 1 to {MAX_NAME} characters without spaces: {name!r}")
    if name.lower() == ENV_NAME:
        raise ApiKeyError(f"{name!r} names the key of SETTLE_API_KEY; choose another name")
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=key_hash(key))
    session.add(row)
    session.flush()
    audit.record(session, actor, "api_key.created", f"api_key:{row.id}", name=name)
    return row.id, key


def list_keys(session: Session) -> list[ApiKeyView]:
    rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    return [ApiKeyView(r.id, r.name, r.created_at, r.revoked_at) for r in rows]


def revoke_key(session: Session, key_id: int, actor: str) -> ApiKeyView:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise ApiKeyError(f"no API key {key_id} (`settle api-key list` shows them)")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "api_key.revoked", f"api_key:{row.id}", name=row.name)
    return ApiKeyView(row.id, row.name, row.created_at, row.revoked_at)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def caller(session: Session, token: str | None, env_key: str | None) -> str | None:
    """The actor a request's key stands for ("api:<name>", "api:env"), or None for no key,
    an unknown one or a revoked one."""
    if not token:
        return None
    if env_key and hmac.compare_digest(token.encode(), env_key.encode()):
        return f"api:{ENV_NAME}"
    # A look-up by the hash of a high-entropy token reveals nothing about other keys.
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    return f"api:{row.name}"
