"""Claiming reminder steps, each once: one row per invoice and step (UNIQUE).

Several workers never claim one step twice — the insert ignores a step already claimed; a
worker that crashes leaves a claim with a lease, and after the lease another pass takes it
over (`claim_steps`) or, when the step may no longer go, closes it (`record_skips`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from settle.core import audit
from settle.reminders.decisions import Decision
from settle.reminders.records import ReminderClaim
from settle.store.db import Store


def record_skips(store: Store, skips: Sequence[Decision], now: dt.datetime) -> int:
    """Skipped steps are recorded once (the unique claim), so they are never sent later.
    A claim left by a worker that stopped before sending is closed the same way."""
    recorded = 0
    skips = sorted(skips, key=lambda d: (d.customer_id, d.invoice_id, d.step))
    with store.unit_of_work() as session:
        for start in range(0, len(skips), 200):
            chunk = skips[start : start + 200]
            recorded += _insert_ignoring_duplicates(
                session,
                [
                    {
                        "invoice_id": d.invoice_id,
                        "step": d.step,
                        "customer_id": d.customer_id,
                        "channels": ",".join(d.channels),
                        "status": "skipped",
                        "reason": d.reason,
                        "due_at": d.due_at,
                        "created_at": now,
                        "finished_at": now,
                    }
                    for d in chunk
                ],
            )
            recorded += session.execute(
                update(ReminderClaim)
                .where(
                    or_(
                        *[
                            and_(
                                ReminderClaim.invoice_id == d.invoice_id,
                                ReminderClaim.step == d.step,
                            )
                            for d in chunk
                        ]
                    ),
                    ReminderClaim.status == "claimed",
                    ReminderClaim.lease_until < now,
                )
                .values(
                    status="skipped",
                    finished_at=now,
                    reason="skipped after its worker stopped before sending",
                )
                .execution_options(synchronize_session=False)
            ).rowcount
    return recorded


def _insert_ignoring_duplicates(session: Session, rows: list[dict]) -> int:
    """INSERT … ON CONFLICT DO NOTHING on (invoice_id, step), in one statement; the number
    of rows inserted."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return session.execute(
        insert(ReminderClaim.__table__)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["invoice_id", "step"])
    ).rowcount


def claim_steps(
    store: Store, worker: str, sends: Sequence[Decision], now: dt.datetime, lease: dt.timedelta
) -> list[int]:
    """Claim the steps to send for worker: new claims, or ones whose worker's lease ran out.
    Returns the ids of the claims this worker now holds."""
    if not sends:
        return []
    until = now + lease
    mine: list[int] = []
    # One global order for every worker: concurrent inserts of overlapping claims then wait
    # for each other instead of deadlocking (PostgreSQL).
    sends = sorted(sends, key=lambda d: (d.customer_id, d.invoice_id, d.step))
    with store.unit_of_work() as session:
        for start in range(0, len(sends), 500):
            chunk = sends[start : start + 500]
            _insert_ignoring_duplicates(
                session,
                [
                    {
                        "invoice_id": d.invoice_id,
                        "step": d.step,
                        "customer_id": d.customer_id,
                        "channels": ",".join(d.channels),
                        "status": "claimed",
                        "reason": d.reason,
                        "worker": worker,
                        "lease_until": until,
                        "due_at": d.due_at,
                        "created_at": now,
                    }
                    for d in chunk
                ],
            )
            wanted = {(d.invoice_id, d.step): d for d in chunk}
            rows = session.execute(
                select(
                    ReminderClaim.id,
                    ReminderClaim.invoice_id,
                    ReminderClaim.step,
                    ReminderClaim.worker,
                    ReminderClaim.lease_until,
                ).where(
                    ReminderClaim.invoice_id.in_({d.invoice_id for d in chunk}),
                    ReminderClaim.status == "claimed",
                )
            ).all()
            for claim_id, invoice_id, step, owner, lease_until in rows:
                decision = wanted.get((invoice_id, step))
                if decision is None:
                    continue
                if owner == worker and lease_until == until:
                    mine.append(claim_id)  # inserted just now
                elif lease_until < now:
                    # Its worker stopped before sending and its lease is over: ours now.
                    taken = session.execute(
                        update(ReminderClaim)
                        .where(
                            ReminderClaim.id == claim_id,
                            ReminderClaim.status == "claimed",
                            ReminderClaim.lease_until < now,
                        )
                        .values(
                            worker=worker, lease_until=until, channels=",".join(decision.channels)
                        )
                        .execution_options(synchronize_session=False)
                    ).rowcount
                    if taken:
                        audit.record(
                            session,
                            worker,
                            "reminder.claim_recovered",
                            f"invoice:{invoice_id}",
                            step=step,
                            previous_worker=owner,
                        )
                        mine.append(claim_id)
    return mine
