"""Sending claimed reminder steps: per customer one text, one e-mail and one call listing their
invoices, recorded in the outbox in the transaction that marks the claims sent.

Everything is re-read at send time (status, disputes, plans): a payment that arrived after
the plan stops the reminder. Marking a claim sent is conditional on still owning it (a row
lock on PostgreSQL), and the outbox's idempotency key `reminder:{invoice}:{step}` guards the
message too. Calls are placed after the commit; texts and e-mails are delivered from the
outbox, several at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from settle.adapters.email import queue_email
from settle.billing.checkout import ensure_links
from settle.core import audit
from settle.core.clock import local_time
from settle.messaging.delivery import deliver_one, deliver_pending
from settle.messaging.outbox import queue_sms
from settle.reminders.holds import blocked_invoices, still_remindable
from settle.reminders.records import CallAttempt, ReminderClaim
from settle.reminders.texts import message_kind, reminder_texts
from settle.store.db import Store
from settle.store.models import Customer, Invoice, Message

log = logging.getLogger(__name__)

ACTOR = "reminders"


@dataclass
class SendOutcome:
    """What sending claimed steps did: steps sent and skipped, the texts and e-mails queued
    (to deliver after the commit) and the calls marked to be placed."""

    sent: int = 0
    skipped: int = 0
    message_ids: list[int] = field(default_factory=list)
    email_ids: list[int] = field(default_factory=list)
    # (customer, key, invoice ids, claim ids) of calls marked to be placed after the commit
    calls: list[tuple[str, str, list[str], list[int]]] = field(default_factory=list)


def send_claimed(
    store: Store, app, worker: str, customer_id: str, claim_ids: Sequence[int], now: dt.datetime
) -> SendOutcome:
    """Send one customer's claimed steps (see send_claimed_batch)."""
    return send_claimed_batch(store, app, worker, {customer_id: list(claim_ids)}, now)


def send_claimed_batch(
    store: Store, app, worker: str, claims_by_customer: dict[str, list[int]], now: dt.datetime
) -> SendOutcome:
    """Send claimed steps, per customer one text and one e-mail listing the invoices and one
    call, recorded in the outbox in the transaction that marks the claims sent.

    Everything is re-read here (status, disputes, plans): a payment that arrived after the
    plan stops the reminder. One customer's failure (a gateway error) rolls back only that
    customer's savepoint; their claims stay claimed and are taken over after the lease.
    """
    outcome = SendOutcome()
    lease = dt.timedelta(seconds=app.cadence.claim_lease_seconds)
    all_ids = [claim_id for ids in claims_by_customer.values() for claim_id in ids]
    if not all_ids:
        return outcome
    # The links the texts carry are made first, with no transaction open while the gateway
    # answers (settle.checkout); the transaction below only reads them.
    with store.unit_of_work() as session:
        invoice_ids = list(
            session.scalars(
                select(ReminderClaim.invoice_id).where(
                    ReminderClaim.id.in_(all_ids), ReminderClaim.channels != "call"
                )
            )
        )
    ensure_links(store, app.gateway, app.settings, invoice_ids, ACTOR, now=now)
    with store.unit_of_work() as session:
        # Renewing the lease locks our claims (PostgreSQL) and proves we still own them.
        session.execute(
            update(ReminderClaim)
            .where(
                ReminderClaim.id.in_(all_ids),
                ReminderClaim.worker == worker,
                ReminderClaim.status == "claimed",
            )
            .values(lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        claims = session.scalars(
            select(ReminderClaim)
            .where(
                ReminderClaim.id.in_(all_ids),
                ReminderClaim.worker == worker,
                ReminderClaim.status == "claimed",
            )
            .order_by(ReminderClaim.invoice_id)
        ).all()
        if len(claims) != len(all_ids):
            log.info(
                "%d reminder claims were taken over by another worker", len(all_ids) - len(claims)
            )
        invoice_ids = sorted({claim.invoice_id for claim in claims})
        invoices = (
            {i.id: i for i in session.scalars(select(Invoice).where(Invoice.id.in_(invoice_ids)))}
            if invoice_ids
            else {}
        )
        customers = {
            c.id: c
            for c in session.scalars(
                select(Customer).where(Customer.id.in_(list(claims_by_customer)))
            )
        }
        blocked = blocked_invoices(session, invoice_ids) if invoice_ids else {}
        by_customer: dict[str, list[ReminderClaim]] = defaultdict(list)
        for claim in claims:
            by_customer[claim.customer_id].append(claim)
        for customer_id, customer_claims in by_customer.items():
            part = SendOutcome()
            try:
                with session.begin_nested():
                    _send_customer(
                        session,
                        app,
                        worker,
                        customers[customer_id],
                        customer_claims,
                        invoices,
                        blocked,
                        now,
                        part,
                    )
            except Exception:
                log.exception("Reminders for customer %s not sent", customer_id)
                continue
            outcome.sent += part.sent
            outcome.skipped += part.skipped
            outcome.message_ids += part.message_ids
            outcome.email_ids += part.email_ids
            outcome.calls += part.calls
    return outcome


def _send_customer(
    session: Session,
    app,
    worker: str,
    customer: Customer,
    claims: Sequence[ReminderClaim],
    invoices: dict[str, Invoice],
    blocked: dict[str, str],
    now: dt.datetime,
    outcome: SendOutcome,
) -> None:
    by_channel: dict[str, list[tuple[ReminderClaim, Invoice]]] = defaultdict(list)
    for claim in claims:
        invoice = invoices.get(claim.invoice_id)
        why_not = still_remindable(session, invoice, blocked)
        if why_not:
            claim.status, claim.reason, claim.finished_at = "skipped", why_not, now
            audit.record(
                session,
                worker,
                "reminder.skipped",
                f"invoice:{claim.invoice_id}",
                step=claim.step,
                reason=why_not,
            )
            outcome.skipped += 1
            continue
        assert invoice is not None  # still_remindable refuses a missing invoice
        for channel in claim.channels.split(","):
            by_channel[channel].append((claim, invoice))
    sent_claims: dict[int, ReminderClaim] = {}
    today = local_time(now, customer.timezone).date()
    for channel, items in by_channel.items():
        lead = items[0][0]
        key = f"reminder:{lead.invoice_id}:{lead.step}"
        group = [invoice for _, invoice in items]
        if channel in ("sms", "email"):
            texts = reminder_texts(session, app, customer, group, message_kind(group, today), now)
        if channel == "sms":
            message = queue_sms(
                session,
                customer.phone,
                texts["sms"],
                key=key,
                actor=worker,
                customer_id=customer.id,
                proactive=True,
            )
            if message.status == "queued":
                outcome.message_ids.append(message.id)
        elif channel == "email" and customer.email:
            message = queue_email(
                session,
                customer.email,
                texts["subject"],
                texts["email"],
                key=f"{key}:email",
                actor=worker,
                customer_id=customer.id,
                proactive=True,
            )
            if message.status == "queued":
                outcome.email_ids.append(message.id)
        elif channel == "call":
            # A call cannot be taken back: it is marked before it is placed, so a crash in
            # between loses the call rather than ringing twice.
            outcome.calls.append(
                (
                    customer.id,
                    key,
                    [invoice.id for invoice in group],
                    [claim.id for claim, _ in items],
                )
            )
        for claim, _ in items:
            claim.message_key = claim.message_key or key
            sent_claims[claim.id] = claim
    for claim in sent_claims.values():
        claim.status = "calling" if claim.channels == "call" else "sent"
        claim.finished_at = now
    if sent_claims:
        # One entry per customer and pass (a row per step would double the writes).
        audit.record(
            session,
            worker,
            "reminder.sent",
            f"customer:{customer.id}",
            steps=[
                {
                    "invoice_id": c.invoice_id,
                    "step": c.step,
                    "channels": c.channels,
                    "message_key": c.message_key,
                }
                for c in sent_claims.values()
            ],
        )
    outcome.sent += len(sent_claims)


def place_reminder_calls(
    store: Store, app, calls, now: dt.datetime, threads: int = 1
) -> tuple[int, int]:
    """Place the calls marked in send_claimed (several at a time); without Twilio they go to
    the outbox. Returns (placed, failed)."""
    if threads > 1 and len(calls) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(
                pool.map(lambda call: place_reminder_calls(store, app, [call], now), calls)
            )
        return sum(r[0] for r in results), sum(r[1] for r in results)
    from settle.adapters.calls import CallRefused, place_call
    from settle.config import ConfigError

    placed = failed = 0
    for customer_id, key, invoice_ids, claim_ids in calls:
        outcome, error = "sent", None
        if app.settings.uses_twilio:
            try:
                place_call(
                    store,
                    app.settings,
                    customer_id,
                    "reminder",
                    invoice_ids[0],
                    actor=ACTOR,
                    now=now,
                    invoice_ids=invoice_ids,
                )
                placed += 1
            except (CallRefused, ConfigError) as refused:
                outcome, error = "failed", str(refused)
                failed += 1
        with store.unit_of_work() as session:
            if not app.settings.uses_twilio:
                customer = session.get(Customer, customer_id)
                # Like a text without Twilio: kept in the outbox so the call shows up locally.
                session.add(
                    Message(
                        idempotency_key=key + ":call",
                        channel="call",
                        to=customer.phone,
                        status="outbox",
                        customer_id=customer_id,
                        body=f"call about {', '.join(invoice_ids)}",
                        created_at=now,
                        sent_at=now,
                    )
                )
                for invoice_id in invoice_ids:
                    session.add(
                        CallAttempt(
                            customer_id=customer_id,
                            invoice_id=invoice_id,
                            reason="reminder",
                            status="outbox",
                            at=now,
                        )
                    )
                placed += 1
            session.execute(
                update(ReminderClaim)
                .where(ReminderClaim.id.in_(claim_ids))
                .values(status=outcome, reason=error or "call placed")
                .execution_options(synchronize_session=False)
            )
    return placed, failed


def deliver_queued(store: Store, sender, ids: list[int], threads: int, channel: str = "sms") -> int:
    """Hand queued messages to the provider, several at a time (each is claimed once)."""
    if not ids:
        return 0
    if threads <= 1:
        return len(deliver_pending(store, sender, limit=len(ids), ids=ids, channel=channel))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(lambda message_id: deliver_one(store, sender, message_id), ids))
