"""The audit log: who did what to which record, in the same transaction as the change."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from settle.store.models import AuditEntry


def record(session: Session, actor: str, action: str, subject: str = "", **detail: Any) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, subject=subject, detail=detail)
    session.add(entry)
    return entry
