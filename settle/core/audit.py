"""The audit log: who did what to which record, in the same transaction as the change.
Card numbers never get in, whatever a detail quotes (a dispute reason, a summary)."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.orm import Session

from settle.privacy.cards import mask_everywhere
from settle.store.models import AuditEntry


def record(
    session: Session, actor: str, action: str, subject: str = "", **detail: Any
) -> AuditEntry:
    entry: AuditEntry = AuditEntry(
        actor=actor, action=action, subject=subject, detail=mask_everywhere(detail)
    )
    session.add(entry)
    return entry


def conversation_actor(sender_id: str) -> str:
    """The actor a conversation's entries are recorded under: its sender id when that is a
    phone number, else a hash of it (web sender ids are the client's and may say anything).
    The collections report finds a conversation's entries by it."""
    if sender_id.startswith("+"):
        return f"conversation:{sender_id}"
    return "conversation:" + hashlib.sha256(sender_id.encode()).hexdigest()[:16]
