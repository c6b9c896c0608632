"""`make bench`: what a turn costs side by side with Rasa's starter bot
(scripts/bench_turns.py), the same scaled out to two of each server on PostgreSQL and
Redis with the figures for docs/capacity.md (scripts/bench_scale.py), whether a turn costs
more as its conversation grows
(scripts/bench_growth.py), the pay flow's turn latency at 1 and 10 concurrent (REST channel
and voice webhooks), training time, and the reminder engine's throughput
(scripts/bench_reminders.py).

Starts the real Settle service and Rasa server on loopback with local Stripe- and
Twilio-compatible servers, so every turn runs the real SDK calls. Prints numbers; asserts
nothing. Options: --turns and --rounds (the turn table), --conversations N (per
concurrency level), --skip-training, --only PART.
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

import bench_growth
import bench_turns
from bench_flows import ROOT, ServerFailed, call, conversation, percentile, settle_stack

# bench_flows (imported above) puts the repository on sys.path.
from tests.harness import BIN

PARTS = ["turns", "scale", "growth", "conversations", "reminders"]


def run_level(servers, concurrency: int, customers: range, flow=conversation) -> None:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda n: flow(servers, n), customers))
    elapsed = time.perf_counter() - started
    turns = [ms for latencies in results for ms in latencies]
    print(
        f"  {concurrency:>2} concurrent: {len(customers)} conversations, {len(turns)} turns in "
        f"{elapsed:.1f}s ({len(turns) / elapsed:.1f} turns/s) | turn latency ms: "
        f"p50 {statistics.median(turns):.0f}  p95 {percentile(turns, 0.95):.0f}  "
        f"max {max(turns):.0f}"
    )


def pay_flows(stack, count: int) -> None:
    """The whole pay flow, count conversations per level, over REST and then by phone."""
    servers = stack.servers
    conversation(servers, stack.take(1)[0])  # warm-up, not counted
    print(
        "\nPay flow over the REST channel (4 turns: pay, identity, pick, yes; "
        "Stripe and Twilio on loopback):"
    )
    run_level(servers, 1, stack.take(count))
    run_level(servers, 10, stack.take(count))
    print("Voice turns (Twilio webhook in -> TwiML out: ring, 'pay my bill', keypad 2, keypad 1):")
    run_level(servers, 1, stack.take(count), flow=call)
    run_level(servers, 10, stack.take(count), flow=call)
    print(
        f"  Stripe checkout sessions created: {len(stack.stripe.posts('checkout'))}, "
        f"SMS sent: {len(stack.twilio.posts('Messages'))}"
    )


def training() -> None:
    with tempfile.TemporaryDirectory(prefix="settle-bench-train-") as tmp:
        started = time.perf_counter()
        subprocess.run(
            [str(BIN / "rasa"), "train", "--force", "--out", tmp],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        model = next(Path(tmp).glob("*.tar.gz"))
        print(
            f"\nTraining (rasa train --force, NLU + dialogue, all languages, 2 cores): "
            f"{time.perf_counter() - started:.0f}s; model {model.stat().st_size / 1e6:.0f} MB"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100, help="turns per level, turn table")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the turn table")
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument(
        "--only",
        choices=PARTS,
        help="run one part: the turn table, scaled out, growth over a conversation, the pay "
        "flow and voice turns, or the reminder engine",
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
    parts = [args.only] if args.only else PARTS

    customers = 0
    if "turns" in parts:
        customers += bench_turns.customers_needed(args.turns, args.rounds)
    if "conversations" in parts:
        customers += 1 + 4 * args.conversations
    if "growth" in parts:
        customers = max(customers, 4)
    if customers:
        try:
            with (
                tempfile.TemporaryDirectory(prefix="settle-bench-") as tmp,
                settle_stack(customers) as stack,
            ):
                if "turns" in parts:
                    bench_turns.run(stack, Path(tmp), args.turns, args.rounds)
                if "growth" in parts:
                    bench_growth.run(stack)
                if "conversations" in parts:
                    pay_flows(stack, args.conversations)
        except ServerFailed as failed:
            print(f"error: {failed}", file=sys.stderr)
            return 2
    if "scale" in parts:
        import bench_scale

        scaled = bench_scale.main(["--turns", str(args.turns)])
        if scaled:
            return scaled

    if args.only is None and not args.skip_training:
        training()
    if "reminders" in parts:
        import bench_reminders

        reminder_args = ["--invoices", *map(str, args.reminder_invoices)]
        if args.reminder_database_url:
            reminder_args += ["--database-url", args.reminder_database_url]
        return bench_reminders.main(reminder_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
