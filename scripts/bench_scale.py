"""Settle scaled out, beside Rasa's starter bot in the same run, and the figures that
docs/capacity.md works from (scripts/capacity.py recomputes its table from them).

Two Rasa servers and two Settle services share PostgreSQL and Redis, as `make test-scale`
runs them (tests/scale/stack.py); turns go to the Rasa servers in turn, as a load
balancer would send them. After a warm-up, at 1 and 10 at once:

* REST "hello" latency p50 / p95 / p99, scaled Settle and the starter bot;
* CPU ms per turn of each Rasa server and each Settle service (/proc: user + system);
* PostgreSQL transactions, rows read and rows written per turn (pg_stat_database, both
  services' background passes included), Redis commands per turn (INFO);
* memory (RSS) of each server;

then texts: a batch queued at once, delivered to the local Twilio by both services; and
what this machine's PostgreSQL and Redis take at most (pgbench's simple-update
transactions, redis-benchmark's GET/SET). Writes var/bench/scale.json. `make bench` runs
it after bench_turns.py (the default run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis
from bench_flows import ROOT, ServerFailed, conversation, percentile, write_bench_data
from bench_turns import PER_CONVERSATION, Level, hello, measure
from sqlalchemy import create_engine, text
from starter_bot import starter_bot

# bench_flows (imported above) puts the repository on sys.path.
from settle.messaging.outbox import queue_sms
from settle.store.db import Store
from tests.fakes import FakeStripe, FakeTwilio
from tests.scale.stack import ScaledStack, start_scaled

POSTGRES = os.environ.get("SETTLE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("SETTLE_BENCH_REDIS", "redis://127.0.0.1:6379/8")
OUT = ROOT / "var" / "bench" / "scale.json"
PG_COUNTERS = "xact_commit, tup_returned + tup_fetched, tup_inserted + tup_updated + tup_deleted"
# PostgreSQL publishes a backend's counters within its idle flush interval (10 s).
PG_SETTLE_SECONDS = 11


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def database_counters(url: str) -> tuple[int, int, int, int]:
    """Transactions, rows read, rows written, bytes: this database, since it was made."""
    engine = create_engine(url)
    with engine.connect() as db:
        row = db.execute(
            text(
                f"SELECT {PG_COUNTERS}, pg_database_size(current_database()) "
                "FROM pg_stat_database WHERE datname = current_database()"
            )
        ).one()
    engine.dispose()
    return tuple(int(v) for v in row)  # type: ignore[return-value]


def redis_commands(url: str) -> int:
    return int(redis.Redis.from_url(url).info("stats")["total_commands_processed"])


def scaled_level(
    stack: ScaledStack,
    database: str,
    turns: Callable[[int], list[float]],
    items: range,
    concurrency: int,
) -> dict:
    """turns(item) for every item over both Rasa servers; latency, CPU, store traffic a turn."""
    pids = {
        **{f"rasa {n + 1}": s.processes[-1].pid for n, s in enumerate(stack.all)},
        **{f"settle {n + 1}": s.processes[0].pid for n, s in enumerate(stack.all)},
    }
    time.sleep(PG_SETTLE_SECONDS)
    db_before, redis_before = database_counters(database), redis_commands(REDIS)
    level = measure(turns, items, concurrency, pids)
    time.sleep(PG_SETTLE_SECONDS)
    db_after, redis_after = database_counters(database), redis_commands(REDIS)
    count = len(level.latencies)
    per_turn = [(after - before) / count for before, after in zip(db_before, db_after, strict=True)]
    return {
        **summary(level),
        "cpu_ms_per_turn": level.cpu,
        "db_transactions_per_turn": per_turn[0],
        "db_rows_read_per_turn": per_turn[1],
        "db_rows_written_per_turn": per_turn[2],
        "db_bytes_per_turn": per_turn[3],
        "redis_commands_per_turn": (redis_after - redis_before - 2) / count,
        "rss_mb": {name: rss_mb(pid) for name, pid in pids.items()},
    }


def summary(level: Level) -> dict:
    return {
        "p50": percentile(level.latencies, 0.50),
        "p95": percentile(level.latencies, 0.95),
        "p99": percentile(level.latencies, 0.99),
        "turns_per_second": len(level.latencies) / level.seconds,
    }


def outbox_rate(database: str, twilio: FakeTwilio, texts: int) -> float:
    """Texts queued in one transaction, then delivered by both services' passes (every
    5 s): per second from the first one Twilio received to the last."""
    store = Store.connect(database, upgrade=False)
    batch = uuid.uuid4().hex[:8]
    sent_before = len(twilio.posts("Messages"))
    with store.unit_of_work() as session:
        for n in range(texts):
            queue_sms(session, f"+1415777{n:04d}", f"Bench text {n}", f"bench:{batch}:{n}", "bench")
    store.engine.dispose()
    deadline, first = time.monotonic() + 300, None
    while (received := len(twilio.posts("Messages")) - sent_before) < texts:
        if time.monotonic() > deadline:
            raise ServerFailed("the outbox did not deliver the bench texts within 5 minutes")
        if received and first is None:
            first = time.monotonic()
        time.sleep(0.01)
    return texts / max(time.monotonic() - (first or time.monotonic()), 1e-3)


def redis_ceiling() -> float:
    """GET and SET per second that this Redis serves 50 clients (redis-benchmark)."""
    database = REDIS.rsplit("/", 1)[1]
    out = subprocess.run(
        ["redis-benchmark", "-q", "-n", "50000", "-t", "get,set", "--dbnum", database, "--csv"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rates = [float(row.split(",")[1].strip('"')) for row in out.splitlines()[1:] if row]
    return statistics.mean(rates)


def postgres_ceiling(url: str) -> float:
    """Transactions per second of pgbench's simple-update script (three writes and a read
    each, like a turn's), 8 clients for 10 s, on a scratch database."""
    subprocess.run(["pgbench", "-q", "-i", "-s", "4", url], capture_output=True, check=True)
    out = subprocess.run(
        ["pgbench", "-N", "-c", "8", "-j", "2", "-T", "10", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r"tps = ([0-9.]+)", out).group(1))  # type: ignore[union-attr]


def fresh_database() -> str:
    name = f"settle_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def run(turns: int, texts: int) -> dict:
    database = fresh_database()
    redis.Redis.from_url(REDIS).flushdb()
    stripe, twilio = FakeStripe().start(), FakeTwilio().start()
    stack = None
    try:
        with tempfile.TemporaryDirectory(prefix="settle-bench-scale-") as tmp:
            conversations = -(-turns // PER_CONVERSATION)
            data = write_bench_data(Path(tmp), conversations)
            stack = start_scaled(Path(tmp), stripe.url, twilio.url, database, REDIS, [data])
            urls = [servers.rasa_url for servers in stack.all]
            with starter_bot(Path(tmp)) as starter:
                for url in [s.rasa_url for s in stack.all] + [starter.url]:
                    measure(hello(url), range(20), 10, {})  # warm-up
                results: dict = {"turns": turns, "levels": {}}
                for concurrency in (1, 10):
                    starter_level = measure(
                        hello(starter.url), range(turns), concurrency, {"rasa": starter.process.pid}
                    )
                    spread = lambda i: hello(urls[i % 2])(i)  # noqa: E731
                    results["levels"][str(concurrency)] = {
                        "scaled": scaled_level(stack, database, spread, range(turns), concurrency),
                        "starter": {**summary(starter_level), "cpu_ms_per_turn": starter_level.cpu},
                    }
                # Whole pay flows (pay, identity, pick, yes: a link), 10 at once, the
                # conversations to the two servers in turn: what capacity.py sizes.
                results["pay_flow"] = scaled_level(
                    stack,
                    database,
                    lambda n: conversation(stack.all[n % 2], n),
                    range(conversations),
                    10,
                )
                results["outbox_texts_per_second"] = outbox_rate(database, twilio, texts)
        stack.stop()
        stack = None
        scratch = fresh_database()
        try:
            results["postgres_tps_ceiling"] = postgres_ceiling(scratch)
        finally:
            drop_database(scratch)
        results["redis_ops_ceiling"] = redis_ceiling()
        return results
    finally:
        if stack is not None:
            stack.stop()
        stripe.stop()
        twilio.stop()
        drop_database(database)
        redis.Redis.from_url(REDIS).flushdb()


def print_table(results: dict) -> None:
    print(
        f"\nScaled out: 2 Rasa servers + 2 Settle services, PostgreSQL and Redis; "
        f"{results['turns']} REST hellos per level\n"
    )
    print(f"{'':<22}{'Settle, scaled':^24}{'starter bot':^24}  p95 ratio")
    for concurrency, level in results["levels"].items():
        cells = [
            " / ".join(f"{level[bot][s]:.0f}" for s in ("p50", "p95", "p99"))
            for bot in ("scaled", "starter")
        ]
        ratio = level["scaled"]["p95"] / level["starter"]["p95"]
        print(f"{f'{concurrency} at once, ms':<22}{cells[0]:^24}{cells[1]:^24}  {ratio:.2f}×")
    print()
    levels = {f"hello, {n} at once": level["scaled"] for n, level in results["levels"].items()}
    for name, scaled in {**levels, "pay-flow turn, 10 at once": results["pay_flow"]}.items():
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in scaled["cpu_ms_per_turn"].items())
        rss = ", ".join(f"{k} {v:.0f}" for k, v in scaled["rss_mb"].items())
        rate = scaled["turns_per_second"]
        print(f"{name}: {rate:.1f} turns/s; CPU ms/turn: {cpu}")
        print(
            f"  per turn: {scaled['db_transactions_per_turn']:.1f} DB transactions, "
            f"{scaled['db_rows_read_per_turn']:.0f} rows read, "
            f"{scaled['db_rows_written_per_turn']:.1f} rows written, "
            f"{scaled['db_bytes_per_turn'] / 1024:.1f} KB of database, "
            f"{scaled['redis_commands_per_turn']:.1f} Redis commands; RSS MB: {rss}"
        )
    print(f"\nOutbox: {results['outbox_texts_per_second']:.0f} texts/s delivered by 2 services")
    print(
        f"This machine's ceilings: PostgreSQL {results['postgres_tps_ceiling']:.0f} "
        f"pgbench transactions/s, Redis {results['redis_ops_ceiling']:.0f} GET/SET/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100, help="turns per level (default 100)")
    parser.add_argument("--texts", type=int, default=300, help="texts for the outbox rate")
    args = parser.parse_args(argv)
    try:
        results = run(args.turns, args.texts)
    except ServerFailed as failed:
        print(f"error: {failed}", file=sys.stderr)
        return 2
    print_table(results)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"\nWritten to {OUT.relative_to(ROOT)}; `python scripts/capacity.py` sizes a deployment.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
