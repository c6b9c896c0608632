"""`make bench`: turn latency of the pay flow (REST channel and voice webhooks), training time,
and the reminder engine's throughput (scripts/bench_reminders.py; `--only reminders` alone).

Starts the real Settle service and Rasa server on loopback with local Stripe- and
Twilio-compatible servers, so every turn runs the real SDK calls. Prints numbers; asserts
nothing. Options: --conversations N (per concurrency level), --skip-training.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes import FakeStripe, FakeTwilio  # noqa: E402
from tests.harness import BIN, start_servers  # noqa: E402

TURNS = ("I want to pay my bill", "{invoice} and my zip is 94110", "the second one", "yes")


def write_bench_data(folder: Path, customers: int) -> tuple:
    """customers each with three open invoices INV-7xxxx."""
    people = ["customer_id,name,phone,email,postal_code,language,timezone"]
    bills = ["invoice_id,customer_id,amount,currency,issued_on,due_on,status,description"]
    for n in range(customers):
        people.append(
            f"B{n:04d},Bench {n},+1415666{n:04d},b{n}@example.com,94110,en,America/New_York"
        )
        for k in range(3):
            bills.append(
                f"INV-7{n:03d}{k},B{n:04d},{100 + n + k}.25,USD,2026-0{k + 6}-01,"
                f"2026-0{k + 7}-01,open,Bench invoice"
            )
    (folder / "customers.csv").write_text("\n".join(people) + "\n")
    (folder / "invoices.csv").write_text("\n".join(bills) + "\n")
    return folder / "customers.csv", folder / "invoices.csv"


def conversation(servers, n: int) -> list:
    latencies = []
    for template in TURNS:
        started = time.perf_counter()
        reply = servers.say(f"bench-{n}", template.format(invoice=f"INV-7{n:03d}0"))
        latencies.append((time.perf_counter() - started) * 1000)
        if not reply:
            raise RuntimeError(f"conversation {n}: no reply to {template!r}")
    if "texted a secure payment link" not in reply[0]:
        raise RuntimeError(f"conversation {n} did not end with a link: {reply}")
    return latencies


def call(servers, n: int) -> list:
    """A caller recognised by caller ID: ring, 'pay my bill', keypad 2, keypad 1 (yes)."""
    caller, sid, latencies = f"+1415666{n:04d}", f"CA-bench-{n}", []
    steps = [{}, {"SpeechResult": "I want to pay my bill"}, {"Digits": "2"}, {"Digits": "1"}]
    twiml = None
    for fields in steps:
        started = time.perf_counter()
        if twiml is None:
            status, twiml = servers.call(sid, caller)
        else:
            status, twiml = servers.answer(sid, caller, twiml, **fields)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"call {n}: HTTP {status}")
    spoken = " ".join(s.text or "" for s in twiml.iter("Say"))
    if "texted a secure payment link" not in spoken:
        raise RuntimeError(f"call {n} did not end with a link: {spoken}")
    return latencies


def percentile(values, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run_level(servers, concurrency: int, first: int, count: int, flow=conversation) -> None:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda n: flow(servers, n), range(first, first + count)))
    elapsed = time.perf_counter() - started
    turns = [ms for latencies in results for ms in latencies]
    print(
        f"  {concurrency:>2} concurrent: {count} conversations, {len(turns)} turns in "
        f"{elapsed:.1f}s ({len(turns) / elapsed:.1f} turns/s) | turn latency ms: "
        f"p50 {statistics.median(turns):.0f}  p95 {percentile(turns, 0.95):.0f}  "
        f"max {max(turns):.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument(
        "--only",
        choices=("conversations", "reminders"),
        help="run one part: the pay flow and voice turns, or the reminder engine",
    )
    parser.add_argument(
        "--reminder-invoices",
        type=int,
        nargs="+",
        default=[10_000, 100_000],
        help="open invoices for the reminder engine bench",
    )
    parser.add_argument(
        "--reminder-database-url",
        default=None,
        help="empty database(s) for the reminder bench ({n}: the size); "
        "default SQLite in a temporary folder",
    )
    args = parser.parse_args()
    if args.only != "conversations":
        import bench_reminders

        reminder_args = ["--invoices", *map(str, args.reminder_invoices)]
        if args.reminder_database_url:
            reminder_args += ["--database-url", args.reminder_database_url]
        if args.only == "reminders":
            return bench_reminders.main(reminder_args)

    with tempfile.TemporaryDirectory(prefix="settle-bench-") as tmp:
        work = Path(tmp)
        stripe, twilio = FakeStripe().start(), FakeTwilio().start()
        servers = start_servers(work / "servers", stripe.url, twilio.url)
        try:
            customers, invoices = write_bench_data(work, 4 * args.conversations)
            imported = servers.settle(
                "import", "--customers", str(customers), "--invoices", str(invoices)
            )
            if imported.returncode != 0:
                raise RuntimeError(imported.stderr)
            conversation(servers, 2 * args.conversations - 1)  # warm-up, not counted
            print(
                "Pay flow over the REST channel (4 turns: pay, identity, pick, yes; "
                "Stripe and Twilio on loopback):"
            )
            run_level(servers, 1, 0, args.conversations)
            run_level(servers, 10, args.conversations, args.conversations - 1)
            print(
                "Voice turns (Twilio webhook in -> TwiML out: ring, 'pay my bill', keypad 2, "
                "keypad 1):"
            )
            n = 2 * args.conversations
            run_level(servers, 1, n, args.conversations, flow=call)
            run_level(servers, 10, n + args.conversations, args.conversations - 1, flow=call)
            print(
                f"  Stripe checkout sessions created: {len(stripe.posts('checkout'))}, "
                f"SMS sent: {len(twilio.posts('Messages'))}"
            )
        finally:
            servers.stop()
            stripe.stop()
            twilio.stop()

        if not args.skip_training:
            started = time.perf_counter()
            subprocess.run(
                [str(BIN / "rasa"), "train", "--force", "--out", str(work / "models")],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            model = next((work / "models").glob("*.tar.gz"))
            print(
                f"Training (rasa train --force, NLU + dialogue, all languages, 2 cores): "
                f"{time.perf_counter() - started:.0f}s; model {model.stat().st_size / 1e6:.0f} MB"
            )
    if args.only is None:
        bench_reminders.main(reminder_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
