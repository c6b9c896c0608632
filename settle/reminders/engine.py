"""One reminder pass: plan, record what is skipped, claim and send what is due, then the
reminders customers asked for — and the preview of a pass, writing nothing.

A pass (`run_due_reminders`) plans from the billing store (`planning`), then for each batch of
customers claims the due steps (`claims`), re-checks them at send time and records the
message in the outbox in the same transaction that marks the claim sent (`sending`). So:

* several workers never send one step twice: the claim insert is unique and marking it sent
  is conditional on still owning it (a row lock on PostgreSQL);
* a worker that crashes after claiming leaves a claim with a lease; after the lease another
  pass takes it over and sends it once (the outbox's idempotency key `reminder:{invoice}:{step}`
  guards the message too);
* a step missed while the service was down is sent when it comes back if it is still useful,
  and recorded as skipped when a later step is due — never a burst of stale reminders;
* payment, a dispute or a plan stop the sequence: the invoice is re-read at send time.

Every function takes `now` (aware UTC): nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.core import audit
from settle.messaging.delivery import deliver_one
from settle.observability import metrics
from settle.reminders.claims import claim_steps, record_skips
from settle.reminders.decisions import Decision
from settle.reminders.planning import plan
from settle.reminders.records import PhoneConversation, ReminderClaim
from settle.reminders.requests import requested_decisions, send_requested_reminders
from settle.reminders.sending import deliver_queued, place_reminder_calls, send_claimed_batch
from settle.rules.cadence import ReminderCadence
from settle.store.db import Store

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one pass did, counted (the CLI and the service log print it)."""

    planned: int = 0  # invoices looked at
    sent: int = 0  # steps sent (claims marked sent)
    skipped: int = 0  # steps recorded as skipped (superseded, expired, opted out, paid…)
    held: int = 0  # steps not sent now, for a reason that may pass (quiet hours, caps)
    messages: int = 0  # texts queued (one per customer per day, listing invoices)
    emails: int = 0
    calls: int = 0
    requested: int = 0  # asked-for reminders sent
    failed: int = 0
    delivered: int = 0  # texts and e-mails handed to the provider (or the outbox) this pass
    held_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def run_due_reminders(
    store: Store,
    app,
    now: dt.datetime,
    worker: str | None = None,
    deliver: bool = True,
    batch_size: int = 200,
    delivery_threads: int = 4,
) -> RunSummary:
    """One pass of the scheduler at now: skip what is stale, claim and send what is due.

    app is the wired-up Settle (settings, gateway, sms, email, cadence). Texts and e-mails are
    delivered at once when deliver is true; a failed delivery is retried by the outbox.
    """
    worker = worker or f"worker-{uuid.uuid4().hex[:8]}"
    cadence: ReminderCadence = app.cadence
    summary = RunSummary()
    with store.unit_of_work() as session:
        decisions = plan(session, cadence, now)
    summary.planned = len({d.invoice_id for d in decisions})
    for decision in decisions:
        if decision.action == "hold":
            summary.held += 1
            kind = decision.reason.split(" (")[0]
            summary.held_reasons[kind] = summary.held_reasons.get(kind, 0) + 1
    skips = [d for d in decisions if d.action == "skip"]
    summary.skipped += record_skips(store, skips, now) if skips else 0

    sends = [d for d in decisions if d.action == "send"]
    by_customer: dict[str, list[Decision]] = defaultdict(list)
    for decision in sends:
        by_customer[decision.customer_id].append(decision)
    lease = dt.timedelta(seconds=cadence.claim_lease_seconds)
    message_ids: list[int] = []
    email_ids: list[int] = []
    # On PostgreSQL one batch's texts, e-mails and calls go out while the next batch is
    # prepared; SQLite has one writer, so there they go after the batches.
    overlap = delivery_threads > 1 and store.engine.dialect.name != "sqlite"
    pool = ThreadPoolExecutor(max_workers=delivery_threads) if overlap else None
    deliveries, placing = [], []
    customers = list(by_customer)
    try:
        for start in range(0, len(customers), batch_size):
            batch = [d for c in customers[start : start + batch_size] for d in by_customer[c]]
            claim_ids = set(claim_steps(store, worker, batch, now, lease))
            if not claim_ids:
                continue
            claimed: dict[str, list[int]] = defaultdict(list)
            with store.unit_of_work() as session:
                for claim_id, customer_id in session.execute(
                    select(ReminderClaim.id, ReminderClaim.customer_id).where(
                        ReminderClaim.id.in_(claim_ids)
                    )
                ):
                    claimed[customer_id].append(claim_id)
            outcome = send_claimed_batch(store, app, worker, claimed, now)
            summary.sent += outcome.sent
            summary.skipped += outcome.skipped
            summary.messages += len(outcome.message_ids)
            summary.emails += len(outcome.email_ids)
            if pool is not None:
                if deliver:
                    deliveries += [
                        pool.submit(deliver_one, store, app.sms, message_id)
                        for message_id in outcome.message_ids
                    ]
                    deliveries += [
                        pool.submit(deliver_one, store, app.email, message_id)
                        for message_id in outcome.email_ids
                    ]
                else:
                    message_ids += outcome.message_ids
                    email_ids += outcome.email_ids
                placing += [
                    pool.submit(place_reminder_calls, store, app, [call], now)
                    for call in outcome.calls
                ]
                continue
            message_ids += outcome.message_ids
            email_ids += outcome.email_ids
            if outcome.calls:
                placed, failed = place_reminder_calls(
                    store, app, outcome.calls, now, delivery_threads
                )
                summary.calls += placed
                summary.failed += failed
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    summary.delivered += sum(bool(future.result()) for future in deliveries)
    for future in placing:
        placed, failed = future.result()
        summary.calls += placed
        summary.failed += failed
    summary.requested = send_requested_reminders(store, app, now, worker, message_ids)
    if deliver:
        summary.delivered += deliver_queued(store, app.sms, message_ids, delivery_threads)
        summary.delivered += deliver_queued(store, app.email, email_ids, delivery_threads, "email")
    log.info("Reminder pass at %s: %s", now.isoformat(), summary.as_dict())
    metrics.reminder_pass(summary.as_dict())
    return summary


def preview(store: Store, cadence: ReminderCadence, now: dt.datetime) -> list[Decision]:
    """What a pass at now would do and why, writing nothing (`settle reminders preview`)."""
    with store.unit_of_work() as session:
        return plan(session, cadence, now) + requested_decisions(session, cadence, now)


def record_phone_conversation(
    session: Session, customer_id: str, invoice_ids: Sequence[str], at: dt.datetime
) -> None:
    """The customer talked with us on the phone about invoice_ids (all open ones when empty):
    no reminder calls about them for cadence.no_calls_after_conversation_days (Reg F)."""
    about: list[str | None] = list(invoice_ids) or [None]
    for invoice_id in about:
        session.add(PhoneConversation(customer_id=customer_id, invoice_id=invoice_id, at=at))
    audit.record(
        session,
        "voice",
        "reminder.phone_conversation",
        f"customer:{customer_id}",
        invoice_ids=list(invoice_ids),
    )
