"""What the reminder rules decide for one invoice, from facts already read: no I/O.

`plan_invoice(invoice, context, cadence, now)` is the whole sequence rule — which step is
due, which earlier ones are superseded, and why the due one is sent, held or skipped. The
pass (`settle.reminders.planning`) reads the facts; asked-for reminders reuse `Decision` for
the preview. Every function takes `now` (aware UTC): nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from settle.core.clock import local_time, zone_of
from settle.reminders.contact_rules import region_for
from settle.rules.cadence import ReminderCadence, ReminderStep


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


@dataclass(frozen=True)
class OpenInvoice:
    """An open invoice as the rules read it: its due date and its customer's addresses and zone."""

    id: str
    customer_id: str
    due_on: dt.date
    phone: str
    email: str | None
    timezone: str
    postal_code: str


@dataclass
class PassContext:
    """What the rules need, read in a few queries for a whole pass."""

    claims: dict[tuple[str, str], str]  # (invoice, step) -> status
    abandoned: set[tuple[str, str]]  # claimed, but the worker's lease ran out
    disputed: set[str]
    on_plan: set[str]
    opted_out: set[tuple[str, str]]  # (address, channel)
    messaged: dict[tuple[str, str], list[dt.datetime]]  # (customer, channel) -> sent times
    calls: dict[str, list[dt.datetime]]  # invoice -> call attempt times
    conversations: dict[str, list[tuple[str | None, dt.datetime]]]  # customer -> (invoice, at)


def step_due_at(
    cadence: ReminderCadence, step: ReminderStep, due_on: dt.date, timezone: str
) -> dt.datetime:
    """When step of an invoice due on due_on becomes due: send_time on its day, local time."""
    local = dt.datetime.combine(
        due_on + dt.timedelta(days=step.offset_days), cadence.send_time, tzinfo=zone_of(timezone)
    )
    return local.astimezone(dt.timezone.utc)


def _address(invoice: OpenInvoice, channel: str) -> str | None:
    return invoice.email if channel == "email" else invoice.phone


def plan_invoice(
    invoice: OpenInvoice, context: PassContext, cadence: ReminderCadence, now: dt.datetime
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
