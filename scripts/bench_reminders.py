"""Reminder engine throughput: invoices planned and steps dispatched per second, with memory.

For each size: a fresh database bulk-loaded with that many open invoices (two per customer,
customers spread over the four US mainland time zones, due dates spread over 60 days) in a
steady state — the steps of earlier days already sent — then one scheduler pass at a moment
inside everyone's contact hours, which sends the steps that fell due today (about one
invoice in twelve with the default cadence). Texts go through the real Twilio SDK to a local
Twilio-compatible server (tests/fakes.py), payment links through the sandbox gateway.
`python scripts/bench_reminders.py --invoices 10000 100000`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from settle.adapters.payments import SandboxGateway  # noqa: E402
from settle.adapters.sms import TwilioSms  # noqa: E402
from settle.app.runtime import Settle  # noqa: E402
from settle.config import BusinessSettings, Settings  # noqa: E402
from settle.reminders import engine  # noqa: E402
from settle.reminders.planning import plan  # noqa: E402
from settle.reminders.records import ReminderClaim  # noqa: E402
from settle.rules.cadence import ReminderCadence  # noqa: E402
from settle.store.db import Store  # noqa: E402
from settle.store.models import Customer, Invoice, Message  # noqa: E402
from tests.fakes import FakeTwilio  # noqa: E402

DUE = dt.date(2026, 12, 10)
# 18:30 UTC: 10:30 in Los Angeles, 13:30 in New York — everyone's due-day step is due.
NOW = dt.datetime(2026, 12, 10, 18, 30, tzinfo=dt.timezone.utc)
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
AREA_CODES = ("212", "312", "303", "213")


def load(store: Store, invoices: int) -> None:
    """Bulk-insert invoices open invoices, two per customer."""
    customers = (invoices + 1) // 2
    now = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    with store.unit_of_work() as session:
        for start in range(0, customers, 5000):
            session.execute(
                insert(Customer),
                [
                    {
                        "id": f"B{n:06d}",
                        "name": f"Bench {n}",
                        "language": "en",
                        "phone": f"+1{AREA_CODES[n % 4]}{2000000 + n:07d}",
                        "email": None,
                        "postal_code": "10001",
                        "timezone": ZONES[n % 4],
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(start, min(start + 5000, customers))
                ],
            )
        for start in range(0, invoices, 5000):
            session.execute(
                insert(Invoice),
                [
                    {
                        "id": f"INV-B{k:07d}",
                        "customer_id": f"B{k // 2:06d}",
                        "amount_minor": 10000 + k,
                        "amount_paid_minor": 0,
                        "currency": "USD",
                        "issued_on": DUE - dt.timedelta(days=30),
                        "due_on": due_on(k),
                        "status": "open",
                        "description": "",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for k in range(start, min(start + 5000, invoices))
                ],
            )
        # Steady state: every step whose day is before today was sent on its day.
        cadence = ReminderCadence()
        rows = []
        for k in range(invoices):
            for step in cadence.steps:
                day = due_on(k) + dt.timedelta(days=step.offset_days)
                if DUE - dt.timedelta(days=40) < day < DUE:
                    at = dt.datetime.combine(day, dt.time(15), tzinfo=dt.timezone.utc)
                    rows.append(
                        {
                            "invoice_id": f"INV-B{k:07d}",
                            "step": step.name,
                            "customer_id": f"B{k // 2:06d}",
                            "channels": ",".join(step.channels),
                            "status": "sent",
                            "reason": "due",
                            "worker": "yesterday",
                            "due_at": at,
                            "created_at": at,
                            "finished_at": at,
                        }
                    )
            if len(rows) >= 5000 or k == invoices - 1:
                session.execute(insert(ReminderClaim), rows)
                rows = []


def due_on(k: int) -> dt.date:
    return DUE + dt.timedelta(days=(k // 2) % 60 - 30)


def measure(size: int, database_url: str, twilio: FakeTwilio) -> dict:
    store = Store.connect(database_url)
    started = time.perf_counter()
    load(store, size)
    loaded = time.perf_counter() - started
    settings = Settings(
        database_url=database_url,
        public_base_url="https://pay.example.test",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="bench",
        twilio_from_number="+14155550999",
        twilio_api_base=twilio.url,
        business=BusinessSettings(name="Bench Co", support_phone="+14155550100"),
    )
    sms = TwilioSms(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_from_number,
        twilio.url,
    )
    app = Settle(
        settings, store, SandboxGateway(settings.public_base_url), sms, cadence=ReminderCadence()
    )
    gc.collect()
    started = time.perf_counter()
    with store.unit_of_work() as session:
        decisions = plan(session, app.cadence, NOW)
    planning = time.perf_counter() - started
    plan_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    due = sum(d.action == "send" for d in decisions)
    del decisions
    gc.collect()
    sent_before = len(twilio.posts("Messages"))
    calls_before = len(twilio.posts("Calls"))
    # Memory is the process's peak resident size (it only grows: after planning, after the pass).
    started = time.perf_counter()
    summary = engine.run_due_reminders(store, app, NOW, worker="bench")
    dispatching = time.perf_counter() - started
    run_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    texts = len(twilio.posts("Messages")) - sent_before
    calls = len(twilio.posts("Calls")) - calls_before
    with store.unit_of_work() as session:
        delivered = session.scalar(select(func.count(Message.id)).where(Message.status == "sent"))
    store.engine.dispose()
    return {
        "invoices": size,
        "load_s": loaded,
        "plan_s": planning,
        "due": due,
        "plan_peak_mb": plan_peak / 1e6,
        "run_s": dispatching,
        "sent": summary.sent,
        "skipped": summary.skipped,
        "texts": texts,
        "calls": calls,
        "delivered": delivered,
        "run_peak_mb": run_peak / 1e6,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--database-url",
        default=None,
        help="an empty database per size ({n} is replaced by the size); "
        "default a SQLite file in a temporary folder",
    )
    args = parser.parse_args(argv)
    twilio = FakeTwilio().start()
    print(
        "Reminder engine (one pass: plan, claim, re-check, payment link, outbox, Twilio SDK "
        "to a local server):"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="settle-bench-reminders-") as tmp:
            for size in args.invoices:
                url = (
                    args.database_url.format(n=size)
                    if args.database_url
                    else f"sqlite:///{Path(tmp) / f'reminders-{size}.db'}"
                )
                r = measure(size, url, twilio)
                print(
                    f"  {r['invoices']:>7,} open invoices ({url.split(':')[0]}): planned "
                    f"{r['invoices'] / r['plan_s']:,.0f} invoices/s ({r['plan_s']:.1f}s, "
                    f"{r['due']:,} steps due; peak RSS {r['plan_peak_mb']:.0f} MB); "
                    f"dispatched {r['sent']:,} steps as {r['texts']:,} texts and "
                    f"{r['calls']:,} calls in {r['run_s']:.1f}s = "
                    f"{r['sent'] / r['run_s']:,.0f} steps/s, "
                    f"{(r['texts'] + r['calls']) / r['run_s']:,.0f} contacts/s; "
                    f"process peak RSS {r['run_peak_mb']:.0f} MB; bulk load {r['load_s']:.0f}s"
                )
    finally:
        twilio.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
