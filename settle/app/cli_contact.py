"""`settle` commands that reach customers: the outbox, a call, and reminder passes (run now,
or previewed for a date with the reason for each decision)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from sqlalchemy import select

from settle import reminders
from settle.adapters.calls import CallRefused, place_call
from settle.app.runtime import Settle
from settle.config import ConfigError, Settings
from settle.store.db import Store
from settle.store.models import Message, utcnow


def show_outbox(store: Store, limit: int) -> int:
    with store.unit_of_work() as session:
        for m in session.scalars(select(Message).order_by(Message.id.desc()).limit(limit)):
            print(f"#{m.id} {m.created_at:%Y-%m-%d %H:%M} {m.status:8} to {m.to}: {m.body}")
    return 0


def call_customer(
    store: Store, settings: Settings, customer_id: str, reason: str, invoice_id: str | None
) -> int:
    try:
        call = place_call(store, settings, customer_id, reason, invoice_id)
    except (CallRefused, ConfigError) as error:
        print(f"settle call: {error}", file=sys.stderr)
        return 1
    print(f"calling {call.to} (call {call.sid})")
    return 0


def reminders_command(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    """`settle reminders run` (a scheduler pass, for cron) or `settle reminders preview`."""
    cadence = settings.cadence
    if args.reminders_command == "run":
        app = Settle.from_settings(settings, store)
        summary = reminders.run_due_reminders(store, app, utcnow(), f"cli-{os.getpid()}")
        if args.json:
            print(json.dumps(summary.as_dict(), indent=2))
        else:
            print(
                f"reminders: {summary.sent} sent ({summary.messages} texts, {summary.emails} "
                f"e-mails, {summary.calls} calls), {summary.skipped} skipped, {summary.held} "
                f"held, {summary.requested} asked-for; {summary.planned} invoices looked at"
            )
        return 0
    try:
        day = dt.date.fromisoformat(args.date)
        at = dt.time.fromisoformat(args.at) if args.at else None
    except ValueError:
        print("settle reminders preview: --date must be YYYY-MM-DD and --at HH:MM", file=sys.stderr)
        return 2
    now = utcnow()
    if at is not None or day != now.date():
        now = dt.datetime.combine(day, at or dt.time(18, 0), tzinfo=dt.timezone.utc)
    decisions = reminders.preview(store, cadence, now)
    if args.json:
        print(
            json.dumps(
                {"at": now.isoformat(), "decisions": [d.as_dict() for d in decisions]}, indent=2
            )
        )
        return 0
    print(
        f"Reminders at {now:%Y-%m-%d %H:%M} UTC: "
        f"{sum(d.action == 'send' for d in decisions)} to send, "
        f"{sum(d.action == 'hold' for d in decisions)} held, "
        f"{sum(d.action == 'skip' for d in decisions)} to skip"
    )
    for d in sorted(
        decisions, key=lambda d: ("send", "hold", "skip", "claimed", "done").index(d.action)
    ):
        print(
            f"  {d.action:7} {d.invoice_id:12} step {d.step:>5} {'+'.join(d.channels):9} "
            f"{d.customer_id}: {d.reason}"
        )
    return 0
