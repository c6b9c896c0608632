"""Claims for calls to Stripe and Twilio, so no database lock is held while they run.

An outside call goes in three steps: a short transaction records the intent (a claim with
the idempotency key and the exact parameters), the call runs with no transaction open,
and a second short transaction records the result. A retry of the same request (after a
crash, a timeout, a racing twin) finds the claim and sends the same key with the same
parameters, which Stripe answers with its first response; a new attempt gets a new key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, String, Text, select
from sqlalchemy.orm import Session

from settle.store.models import Base, UTCDateTime, utcnow

# How long a claim left in flight may be taken up again with its own key and parameters
# (Stripe keeps idempotency keys for 24 hours; a checkout's expiry must stay in the future).
REUSE_WITHIN = dt.timedelta(minutes=30)


class GatewayClaim(Base):
    __tablename__ = "gateway_claims"
    __table_args__ = (Index("ix_gateway_claims_subject", "subject", "kind"),)

    id = Column(Integer, primary_key=True)
    kind = Column(String(24), nullable=False)  # checkout | refund | installment | setup
    subject = Column(String(128), nullable=False)  # e.g. "invoice:INV-1001"
    idempotency_key = Column(String(255), nullable=False, unique=True)
    amount_minor = Column(Integer, nullable=False)
    params = Column(JSON, nullable=False, default=dict)
    status = Column(String(16), nullable=False, default="claimed")  # claimed | done | failed
    result_ref = Column(String(255))
    error = Column(Text)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at = Column(UTCDateTime())


def claim(
    session: Session,
    kind: str,
    subject: str,
    amount_minor: int,
    params: dict[str, Any],
    now: dt.datetime | None = None,
) -> GatewayClaim:
    """The claim for this request: the one still in flight for the same subject and amount
    (its key and parameters), or a new one with a fresh key. Call it with the subject's row
    locked (SELECT … FOR UPDATE; SQLite's write lock) so racing twins share one claim."""
    now = now or utcnow()
    pending = session.scalars(
        select(GatewayClaim)
        .where(
            GatewayClaim.kind == kind,
            GatewayClaim.subject == subject,
            GatewayClaim.status == "claimed",
            GatewayClaim.amount_minor == amount_minor,
            GatewayClaim.created_at > now - REUSE_WITHIN,
        )
        .order_by(GatewayClaim.id.desc())
    ).first()
    if pending is not None:
        return pending
    fresh = GatewayClaim(
        kind=kind,
        subject=subject,
        amount_minor=amount_minor,
        params=params,
        idempotency_key=f"settle:{kind}:{subject}:{uuid.uuid4().hex}",
        created_at=now,
    )
    session.add(fresh)
    session.flush()
    return fresh


def finish(
    session: Session,
    claim_id: int,
    result_ref: str | None = None,
    error: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Record how the call ended: done (with the provider's id) or failed (why)."""
    row = session.get(GatewayClaim, claim_id)
    if row is None or row.status != "claimed":
        return
    row.status = "failed" if error else "done"
    row.result_ref, row.error, row.finished_at = result_ref, error, now or utcnow()
