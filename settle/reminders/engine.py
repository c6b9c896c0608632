"""The reminder sequence: which steps are due, which are held and why, and sending each once.

A pass (`run_due_reminders`) plans from the billing store, then for each customer claims the
due steps (one row per invoice and step, UNIQUE), re-checks them at send time and records the
message in the outbox in the same transaction that marks the claim sent. So:

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
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa
from babel.dates import format_date
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from settle.adapters.email import queue_email
from settle.billing.checkout import ensure_links, usable_link
from settle.core import audit, i18n
from settle.core.money import format_money
from settle.messaging.delivery import deliver_one, deliver_pending
from settle.messaging.outbox import queue_sms
from settle.reminders.cadence import ReminderCadence, ReminderStep
from settle.reminders.contact_rules import local_time, region_for, zone
from settle.reminders.records import CallAttempt, PhoneConversation, ReminderClaim
from settle.store.db import Store
from settle.store.models import Customer, Invoice, Message, OptOut

log = logging.getLogger(__name__)

ACTOR = "reminders"

# Plans and disputes (migration 0004) matter here only by their status: read as plain tables.
_plans = sa.table("plans", sa.column("invoice_id"), sa.column("status"))
_disputes = sa.table("disputes", sa.column("invoice_id"), sa.column("status"))
ACTIVE_PLAN_STATUSES = ("pending_card", "active")


@dataclass(frozen=True)
class Decision:
    """What a pass does with one invoice's step: send it, skip it (recorded) or hold it."""

    invoice_id: str
    customer_id: str
    step: str
    channels: tuple[str, ...]
    action: str  # send | skip | hold | done
    reason: str
    due_at: dt.datetime

    def as_dict(self) -> dict:
        return {
            "invoice_id": self.invoice_id,
            "customer_id": self.customer_id,
            "step": self.step,
            "channels": list(self.channels),
            "action": self.action,
            "reason": self.reason,
            "due_at": self.due_at.isoformat(),
        }


@dataclass
class RunSummary:
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


@dataclass(frozen=True)
class _InvoiceRow:
    id: str
    customer_id: str
    due_on: dt.date
    phone: str
    email: str | None
    timezone: str
    postal_code: str


@dataclass
class _Context:
    """What the rules need, read in a few queries for a whole pass."""

    claims: dict[tuple[str, str], str]  # (invoice, step) -> status
    abandoned: set[tuple[str, str]]  # claimed, but the worker's lease ran out
    disputed: set[str]
    on_plan: set[str]
    opted_out: set[tuple[str, str]]  # (address, channel)
    messaged: dict[tuple[str, str], list[dt.datetime]]  # (customer, channel) -> sent times
    calls: dict[str, list[dt.datetime]]  # invoice -> call attempt times
    conversations: dict[str, list[tuple[str | None, dt.datetime]]]  # customer -> (invoice, at)


def _due_window(cadence: ReminderCadence, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """Due dates whose sequence can have something to do today (a day's slack for zones)."""
    today = now.date()
    first = min(s.offset_days for s in cadence.steps)
    last = max(s.offset_days for s in cadence.steps)
    return (
        today - dt.timedelta(days=last + cadence.still_useful_days + 1),
        today + dt.timedelta(days=-first + 1),
    )


def _open_invoices(
    session: Session,
    cadence: ReminderCadence,
    now: dt.datetime,
    customer_ids: Sequence[str] | None = None,
) -> list[_InvoiceRow]:
    low, high = _due_window(cadence, now)
    query = (
        select(
            Invoice.id,
            Invoice.customer_id,
            Invoice.due_on,
            Customer.phone,
            Customer.email,
            Customer.timezone,
            Customer.postal_code,
        )
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.status == "open",
            Invoice.amount_paid_minor < Invoice.amount_minor,
            Invoice.due_on >= low,
            Invoice.due_on <= high,
        )
        .order_by(Invoice.customer_id, Invoice.due_on, Invoice.id)
    )
    if customer_ids is not None:
        query = query.where(Invoice.customer_id.in_(customer_ids))
    return [_InvoiceRow(*row) for row in session.execute(query)]


def _context(session: Session, cadence: ReminderCadence, now: dt.datetime) -> _Context:
    low, high = _due_window(cadence, now)
    claims, abandoned = {}, set()
    for invoice, step, status, lease_until in session.execute(
        select(
            ReminderClaim.invoice_id,
            ReminderClaim.step,
            ReminderClaim.status,
            ReminderClaim.lease_until,
        )
        .join(Invoice, Invoice.id == ReminderClaim.invoice_id)
        .where(Invoice.status == "open", Invoice.due_on >= low, Invoice.due_on <= high)
    ):
        claims[(invoice, step)] = status
        if status == "claimed" and lease_until is not None and lease_until < now:
            abandoned.add((invoice, step))
    disputed = set(
        session.scalars(select(_disputes.c.invoice_id).where(_disputes.c.status == "open"))
    )
    on_plan = set(
        session.scalars(
            select(_plans.c.invoice_id).where(_plans.c.status.in_(ACTIVE_PLAN_STATUSES))
        )
    )
    opted_out = {
        (address, channel)
        for address, channel in session.execute(select(OptOut.phone, OptOut.channel))
    }
    since = now - dt.timedelta(days=2)
    messaged: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for customer_id, channels, at in session.execute(
        select(ReminderClaim.customer_id, ReminderClaim.channels, ReminderClaim.finished_at).where(
            ReminderClaim.status.in_(("sent", "calling")), ReminderClaim.finished_at >= since
        )
    ):
        for channel in channels.split(","):
            messaged[(customer_id, channel)].append(at)
    calls: dict[str, list[dt.datetime]] = defaultdict(list)
    for invoice_id, at in session.execute(
        select(CallAttempt.invoice_id, CallAttempt.at).where(
            CallAttempt.at >= now - dt.timedelta(days=cadence.call_attempts_days)
        )
    ):
        calls[invoice_id].append(at)
    conversations: dict[str, list] = defaultdict(list)
    for customer_id, invoice_id, at in session.execute(
        select(
            PhoneConversation.customer_id, PhoneConversation.invoice_id, PhoneConversation.at
        ).where(
            PhoneConversation.at
            >= now - dt.timedelta(days=cadence.no_calls_after_conversation_days)
        )
    ):
        conversations[customer_id].append((invoice_id, at))
    return _Context(claims, abandoned, disputed, on_plan, opted_out, messaged, calls, conversations)


def step_due_at(
    cadence: ReminderCadence, step: ReminderStep, due_on: dt.date, timezone: str
) -> dt.datetime:
    """When step of an invoice due on due_on becomes due: send_time on its day, local time."""
    local = dt.datetime.combine(
        due_on + dt.timedelta(days=step.offset_days), cadence.send_time, tzinfo=zone(timezone)
    )
    return local.astimezone(dt.timezone.utc)


def _address(invoice: _InvoiceRow, channel: str) -> str | None:
    return invoice.email if channel == "email" else invoice.phone


def plan_invoice(
    invoice: _InvoiceRow, context: _Context, cadence: ReminderCadence, now: dt.datetime
) -> list[Decision]:
    """The decisions for one invoice at now: earlier unsent steps are skipped as superseded,
    the latest due step is sent, held (with the reason) or skipped as no longer useful."""
    due = [
        (step, step_due_at(cadence, step, invoice.due_on, invoice.timezone))
        for step in cadence.steps
    ]
    due = [(step, at) for step, at in due if at <= now]
    if not due:
        return []
    decisions = []
    make = lambda step, at, action, reason, channels=None: Decision(  # noqa: E731
        invoice.id,
        invoice.customer_id,
        step.name,
        tuple(channels or step.channels),
        action,
        reason,
        at,
    )
    latest, latest_at = due[-1]
    for step, at in due[:-1]:
        if (invoice.id, step.name) not in context.claims:
            decisions.append(make(step, at, "skip", f"superseded by step {latest.name}"))
    status = context.claims.get((invoice.id, latest.name))
    if (invoice.id, latest.name) in context.abandoned:
        status = None  # its worker stopped before sending: the rules decide again
    if status is not None:
        if status == "claimed":
            decisions.append(make(latest, latest_at, "claimed", "claimed by a worker"))
        else:
            decisions.append(make(latest, latest_at, "done", f"already {status}"))
        return decisions
    local_now = local_time(now, invoice.timezone)
    step_day = invoice.due_on + dt.timedelta(days=latest.offset_days)
    if local_now.date() > step_day + dt.timedelta(days=cadence.still_useful_days):
        decisions.append(
            make(
                latest,
                latest_at,
                "skip",
                f"no longer useful ({cadence.still_useful_days} days after its date)",
            )
        )
        return decisions
    if invoice.id in context.disputed:
        decisions.append(make(latest, latest_at, "hold", "disputed"))
        return decisions
    if invoice.id in context.on_plan:
        decisions.append(make(latest, latest_at, "hold", "on a payment plan"))
        return decisions

    channels, refused = [], []
    for channel in latest.channels:
        address = _address(invoice, channel)
        if not address:
            refused.append(f"no {channel} address")
        elif (address, "all") in context.opted_out or (address, channel) in context.opted_out:
            refused.append(f"opted out of {channel}")
        else:
            channels.append(channel)
    if not channels:
        decisions.append(make(latest, latest_at, "skip", "; ".join(refused)))
        return decisions

    window = cadence.window_for(region_for(invoice.phone, invoice.postal_code))
    if not window.allows(local_now):
        decisions.append(
            make(
                latest,
                latest_at,
                "hold",
                f"quiet hours ({local_now:%a %H:%M} local; window "
                f"{window.start:%H:%M}-{window.end:%H:%M})",
                channels,
            )
        )
        return decisions
    if "call" in channels:
        attempts = context.calls.get(invoice.id, [])
        if len(attempts) >= cadence.call_attempts_max:
            decisions.append(
                make(
                    latest,
                    latest_at,
                    "hold",
                    f"call cap ({len(attempts)} calls in {cadence.call_attempts_days} days)",
                    channels,
                )
            )
            return decisions
        if any(
            conv_invoice in (None, invoice.id)
            for conv_invoice, _ in context.conversations.get(invoice.customer_id, [])
        ):
            decisions.append(
                make(
                    latest,
                    latest_at,
                    "hold",
                    f"phone conversation within {cadence.no_calls_after_conversation_days} days",
                    channels,
                )
            )
            return decisions
    for channel in channels:
        sent_today = [
            at
            for at in context.messaged.get((invoice.customer_id, channel), [])
            if local_time(at, invoice.timezone).date() == local_now.date()
        ]
        if sent_today:
            decisions.append(
                make(latest, latest_at, "hold", f"already contacted by {channel} today", channels)
            )
            return decisions
    decisions.append(
        make(
            latest,
            latest_at,
            "send",
            "due" + (f" ({'; '.join(refused)})" if refused else ""),
            channels,
        )
    )
    return decisions


def plan(
    session: Session,
    cadence: ReminderCadence,
    now: dt.datetime,
    customer_ids: Sequence[str] | None = None,
) -> list[Decision]:
    """Every decision a pass at now would take (nothing is written)."""
    if not cadence.enabled:
        return []
    context = _context(session, cadence, now)
    decisions: list[Decision] = []
    for invoice in _open_invoices(session, cadence, now, customer_ids):
        decisions.extend(plan_invoice(invoice, context, cadence, now))
    return decisions


def _record_skips(store: Store, skips: Sequence[Decision], now: dt.datetime) -> int:
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


class _NoLink(Exception):
    """The gateway made no link for an invoice: its reminder waits for the lease to end."""


class _LostClaim(Exception):
    """Another worker took the claim over (our lease ran out): send nothing."""


def _lines(
    session: Session, app, customer: Customer, invoices: Sequence[Invoice], now: dt.datetime
) -> str:
    locale = i18n.locale_for(customer.language, app.settings.business.default_region)
    lines = []
    for invoice in invoices:
        link = usable_link(session, invoice, app.gateway.provider, now)
        if link is None:  # made before this transaction (ensure_links); its call failed
            raise _NoLink(f"no payment link for {invoice.id}")
        lines.append(
            i18n.text(
                "reminder_line",
                customer.language,
                invoice=invoice.id,
                amount=format_money(invoice.balance_minor, invoice.currency, locale),
                due=format_date(invoice.due_on, "medium", locale=locale),
                url=link.url,
            )
        )
    return "\n".join(lines)


def reminder_texts(
    session: Session,
    app,
    customer: Customer,
    invoices: Sequence[Invoice],
    key: str,
    now: dt.datetime,
) -> dict:
    """The SMS text and the e-mail subject and text for invoices; key is the message kind
    (reminder_before, reminder_due, reminder_overdue, reminder_requested)."""
    business = app.settings.business
    lines = _lines(session, app, customer, invoices, now)
    values = dict(
        business=business.name,
        count=len(invoices),
        lines=lines,
        support_phone=business.support_phone,
        name=customer.name,
    )
    return {
        "sms": i18n.text(key, customer.language, **values),
        "subject": i18n.text("reminder_email_subject", customer.language, **values),
        "email": i18n.text("reminder_email_body", customer.language, **values),
    }


def _message_kind(invoices: Iterable[Invoice], today: dt.date) -> str:
    """Overdue when any invoice is past due in the customer's today, else due today or soon."""
    due_dates = [invoice.due_on for invoice in invoices]
    if any(due < today for due in due_dates):
        return "reminder_overdue"
    return "reminder_due" if today in due_dates else "reminder_before"


@dataclass
class _GroupOutcome:
    sent: int = 0
    skipped: int = 0
    message_ids: list[int] = field(default_factory=list)
    email_ids: list[int] = field(default_factory=list)
    # (customer, key, invoice ids, claim ids) of calls marked to be placed after the commit
    calls: list[tuple[str, str, list[str], list[int]]] = field(default_factory=list)


def _blocked(session: Session, invoice_ids: Sequence[str]) -> dict[str, str]:
    """Invoices that must get no reminder now although open: disputed or on a plan."""
    blocked = {
        i: "on a payment plan"
        for i in session.scalars(
            select(_plans.c.invoice_id).where(
                _plans.c.invoice_id.in_(invoice_ids), _plans.c.status.in_(ACTIVE_PLAN_STATUSES)
            )
        )
    }
    blocked.update(
        {
            i: "disputed"
            for i in session.scalars(
                select(_disputes.c.invoice_id).where(
                    _disputes.c.invoice_id.in_(invoice_ids), _disputes.c.status == "open"
                )
            )
        }
    )
    return blocked


def _still_remindable(
    session: Session, invoice: Invoice | None, blocked: dict[str, str] | None = None
) -> str | None:
    """Why invoice must get no reminder now (read at send time), or None."""
    if invoice is None:
        return "invoice gone"
    if invoice.status != "open" or invoice.balance_minor <= 0:
        return f"invoice {invoice.status if invoice.status != 'open' else 'paid'}"
    if blocked is None:
        blocked = _blocked(session, [invoice.id])
    return blocked.get(invoice.id)


def send_claimed(
    store: Store, app, worker: str, customer_id: str, claim_ids: Sequence[int], now: dt.datetime
) -> _GroupOutcome:
    """Send one customer's claimed steps (see send_claimed_batch)."""
    return send_claimed_batch(store, app, worker, {customer_id: list(claim_ids)}, now)


def send_claimed_batch(
    store: Store, app, worker: str, claims_by_customer: dict[str, list[int]], now: dt.datetime
) -> _GroupOutcome:
    """Send claimed steps, per customer one text and one e-mail listing the invoices and one
    call, recorded in the outbox in the transaction that marks the claims sent.

    Everything is re-read here (status, disputes, plans): a payment that arrived after the
    plan stops the reminder. One customer's failure (a gateway error) rolls back only that
    customer's savepoint; their claims stay claimed and are taken over after the lease.
    """
    outcome = _GroupOutcome()
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
        blocked = _blocked(session, invoice_ids) if invoice_ids else {}
        by_customer: dict[str, list[ReminderClaim]] = defaultdict(list)
        for claim in claims:
            by_customer[claim.customer_id].append(claim)
        for customer_id, customer_claims in by_customer.items():
            part = _GroupOutcome()
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
    outcome: _GroupOutcome,
) -> None:
    by_channel: dict[str, list[tuple[ReminderClaim, Invoice]]] = defaultdict(list)
    for claim in claims:
        invoice = invoices.get(claim.invoice_id)
        why_not = _still_remindable(session, invoice, blocked)
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
        assert invoice is not None  # _still_remindable refuses a missing invoice
        for channel in claim.channels.split(","):
            by_channel[channel].append((claim, invoice))
    sent_claims: dict[int, ReminderClaim] = {}
    today = local_time(now, customer.timezone).date()
    for channel, items in by_channel.items():
        lead = items[0][0]
        key = f"reminder:{lead.invoice_id}:{lead.step}"
        group = [invoice for _, invoice in items]
        if channel in ("sms", "email"):
            texts = reminder_texts(session, app, customer, group, _message_kind(group, today), now)
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


def _place_calls(store: Store, app, calls, now: dt.datetime, threads: int = 1) -> tuple[int, int]:
    """Place the calls marked in send_claimed (several at a time); without Twilio they go to
    the outbox. Returns (placed, failed)."""
    if threads > 1 and len(calls) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(lambda call: _place_calls(store, app, [call], now), calls))
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


def _deliver(store: Store, sender, ids: list[int], threads: int, channel: str = "sms") -> int:
    """Hand queued messages to the provider, several at a time (each is claimed once)."""
    if not ids:
        return 0
    if threads <= 1:
        return len(deliver_pending(store, sender, limit=len(ids), ids=ids, channel=channel))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(lambda message_id: deliver_one(store, sender, message_id), ids))


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
    from settle.reminders.requests import send_requested_reminders

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
    summary.skipped += _record_skips(store, skips, now) if skips else 0

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
                    pool.submit(_place_calls, store, app, [call], now) for call in outcome.calls
                ]
                continue
            message_ids += outcome.message_ids
            email_ids += outcome.email_ids
            if outcome.calls:
                placed, failed = _place_calls(store, app, outcome.calls, now, delivery_threads)
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
        summary.delivered += _deliver(store, app.sms, message_ids, delivery_threads)
        summary.delivered += _deliver(store, app.email, email_ids, delivery_threads, "email")
    log.info("Reminder pass at %s: %s", now.isoformat(), summary.as_dict())
    return summary


def preview(store: Store, cadence: ReminderCadence, now: dt.datetime) -> list[Decision]:
    """What a pass at now would do and why, writing nothing (`settle reminders preview`)."""
    from settle.reminders.requests import requested_decisions

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
