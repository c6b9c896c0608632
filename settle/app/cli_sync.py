"""`settle sync status | replay` (the events for the billing system, docs/billing-sync.md)
and `settle export` (the bank-feed CSV of the money Settle moved)."""

from __future__ import annotations

import datetime as dt
import json
import sys

from settle.app.cli_report import date_argument
from settle.config import Settings
from settle.core.clock import zone_of
from settle.store.db import Store
from settle.store.models import utcnow
from settle.sync.events import EVENT_TYPES
from settle.sync.export import feed_csv, feed_lines
from settle.sync.outbox import replay
from settle.sync.status import sync_status


def add_sync_parsers(commands) -> None:
    """`settle sync status [--json]`, `settle sync replay --since DATE [--type T]` and
    `settle export --since DATE [--until DATE] --format csv`."""
    p = commands.add_parser(
        "sync", help="events for the billing system (SETTLE_SYNC_URL): backlog, replay"
    )
    sync = p.add_subparsers(dest="sync_command", required=True)
    status = sync.add_parser(
        "status", help="per endpoint: backlog, oldest pending, failures with their last error"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    again = sync.add_parser(
        "replay", help="send the events since a day again (same ids) to every endpoint"
    )
    again.add_argument("--since", type=date_argument, required=True, help="YYYY-MM-DD")
    again.add_argument("--type", choices=EVENT_TYPES, help="only events of this type")

    p = commands.add_parser(
        "export", help="payments, refunds, credits and chargebacks as a bank-feed CSV"
    )
    p.add_argument("--since", type=date_argument, required=True, help="first day, YYYY-MM-DD")
    p.add_argument(
        "--until", type=date_argument, help="last day, YYYY-MM-DD (default: today, business zone)"
    )
    p.add_argument("--format", choices=("csv",), required=True)


def sync_command(store: Store, settings: Settings, args) -> int:
    now = utcnow()
    if args.sync_command == "replay":
        if not settings.sync.enabled:
            print("settle sync: no endpoint: set SETTLE_SYNC_URL first", file=sys.stderr)
            return 1
        since = _start_of(args.since, settings.business.timezone)
        with store.unit_of_work() as session:
            queued = replay(session, since, settings.sync.urls, args.type, now)
        print(f"{queued} deliveries queued again; the service sends them within seconds.")
        return 0
    with store.unit_of_work() as session:
        lines = sync_status(session, settings.sync.urls, now)
    if args.json:
        print(json.dumps([line.as_dict() for line in lines], indent=2))
        return 0
    if not lines:
        print("No endpoint: set SETTLE_SYNC_URL (and SETTLE_SYNC_SECRET) to send events.")
    for line in lines:
        oldest = (
            f", oldest pending {line.oldest_pending_seconds} s"
            if line.oldest_pending_seconds is not None
            else ""
        )
        print(
            f"{line.endpoint}: {line.pending} pending{oldest}, {line.delivered} delivered, "
            f"{line.failed} failed"
        )
        if line.last_error:
            print(f"  retrying after: {line.last_error}")
        for failure in line.failures:
            print(
                f"  failed {failure['event_id']} {failure['type']} after "
                f"{failure['attempts']} attempts: {failure['last_error']}"
            )
    return 0


def export_command(store: Store, settings: Settings, args) -> int:
    zone = settings.business.timezone
    until = args.until or utcnow().astimezone(zone_of(zone)).date()
    if until < args.since:
        print("settle export: --until is before --since", file=sys.stderr)
        return 2
    with store.unit_of_work() as session:
        sys.stdout.write(feed_csv(feed_lines(session, args.since, until, zone)))
    return 0


def _start_of(day: dt.date, timezone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), zone_of(timezone)).astimezone(dt.timezone.utc)
