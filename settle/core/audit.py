"""The audit log: who did what to which record, in the same transaction as the change.
Card numbers never get in, whatever a detail quotes (a dispute reason, a summary)."""

from __future__ import annotations

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
