"""What a deployment needs for N concurrent callers, worked out from the figures the last
`make bench-scale` measured (var/bench/scale.json): the table in docs/capacity.md.

The measured figures are per turn (CPU, database and Redis traffic, memory per process)
and per machine (PostgreSQL's and Redis's ceilings, the outbox's rate). The assumptions
are options: how often a caller takes a turn, how many turns a call has, how busy a core
may run. Every replica count is for the peak, with each process at --utilisation.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "var" / "bench" / "scale.json"
# SQLAlchemy's default pool per process: 5 kept open, 10 more under load.
CONNECTIONS_PER_PROCESS = 15
POSTGRES_MAX_CONNECTIONS = 100  # PostgreSQL's default


def plan(figures: dict, callers: int, turn_seconds: float, turns_per_call: int, busy: float):
    level = figures["pay_flow"]  # a pay-flow turn: NLU, policies, an action, the stores
    cpu = level["cpu_ms_per_turn"]
    # Each process's CPU is divided by every turn of the level (both servers'): the sum
    # over the processes of a kind is what a turn costs that kind.
    rasa_ms = sum(v for k, v in cpu.items() if k.startswith("rasa"))
    settle_ms = sum(v for k, v in cpu.items() if k.startswith("settle"))
    rss = level["rss_mb"]
    rasa_mb = max(v for k, v in rss.items() if k.startswith("rasa"))
    settle_mb = max(v for k, v in rss.items() if k.startswith("settle"))

    turns = callers / turn_seconds  # turns per second at the peak
    rasa_workers = math.ceil(turns * rasa_ms / 1000 / busy)
    settle_services = math.ceil(turns * settle_ms / 1000 / busy)
    db_tps = turns * level["db_transactions_per_turn"]
    redis_ops = turns * level["redis_commands_per_turn"]
    # A finished call texts a link and later a receipt.
    texts = 2 * callers / (turns_per_call * turn_seconds)
    connections = (rasa_workers + settle_services) * CONNECTIONS_PER_PROCESS
    call_bytes = level["db_bytes_per_turn"] * turns_per_call

    per_turn = {k: level[f"db_{k}_per_turn"] for k in ("transactions", "rows_written", "bytes")}
    pg_ceiling, redis_ceiling = figures["postgres_tps_ceiling"], figures["redis_ops_ceiling"]
    outbox = figures["outbox_texts_per_second"]
    memory_gb = (rasa_workers * rasa_mb + settle_services * settle_mb) / 1024
    rows = [
        ("turns/s at the peak", f"{turns:.0f}", f"a turn every {turn_seconds:g} s a caller"),
        (
            "Rasa workers (a core each)",
            f"{rasa_workers}",
            f"{rasa_ms:.1f} CPU ms a turn: {1000 / rasa_ms:.0f} turns/s a worker at 100 %",
        ),
        (
            "Settle services (a core each)",
            f"{settle_services}",
            f"{settle_ms:.1f} CPU ms a turn: {1000 / settle_ms:.0f} turns/s a service at 100 %",
        ),
        (
            "memory",
            f"{memory_gb:.1f} GB",
            f"{rasa_mb:.0f} MB a Rasa worker, {settle_mb:.0f} MB a Settle service",
        ),
        (
            "PostgreSQL transactions/s",
            f"{db_tps:.0f}",
            f"{per_turn['transactions']:.1f} a turn; ceiling here {pg_ceiling:.0f} (pgbench)",
        ),
        (
            "PostgreSQL rows written/s",
            f"{turns * per_turn['rows_written']:.0f}",
            f"{per_turn['rows_written']:.1f} a turn",
        ),
        (
            "PostgreSQL connections",
            f"{connections}",
            f"{CONNECTIONS_PER_PROCESS} a process at most; max_connections defaults to "
            f"{POSTGRES_MAX_CONNECTIONS}: PgBouncer, or raise it",
        ),
        (
            "database growth",
            f"{call_bytes / 1024:.0f} KB a call",
            f"{per_turn['bytes'] / 1024:.1f} KB a turn; "
            f"100,000 calls: {call_bytes * 100_000 / 1024**3:.1f} GB",
        ),
        (
            "Redis commands/s",
            f"{redis_ops:.0f}",
            f"{level['redis_commands_per_turn']:.1f} a turn; ceiling here {redis_ceiling:.0f}",
        ),
        (
            "texts/s",
            f"{texts:.1f}",
            f"a link and a receipt a call; 2 services sent {outbox:.0f}/s here "
            "(Twilio: 1/s a long code)",
        ),
    ]

    # Which part gives out first as callers grow, with the replicas above.
    limits = {
        "Rasa workers": rasa_workers * 1000 / rasa_ms * turn_seconds,
        "Settle services": settle_services * 1000 / settle_ms * turn_seconds,
        "PostgreSQL (one machine like this)": figures["postgres_tps_ceiling"]
        / level["db_transactions_per_turn"]
        * turn_seconds,
        "PostgreSQL connections (default 100)": callers
        * POSTGRES_MAX_CONNECTIONS
        / max(connections, 1),
        # Each service's delivery pass sends what it measured, half the two services' rate.
        "Outbox (delivery passes)": settle_services
        * outbox
        / 2
        / (2 / (turns_per_call * turn_seconds)),
        "Redis (one machine like this)": figures["redis_ops_ceiling"]
        / max(level["redis_commands_per_turn"], 0.01)
        * turn_seconds,
    }
    return rows, limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--callers", type=int, default=1000)
    parser.add_argument("--turn-seconds", type=float, default=8.0, help="between a caller's turns")
    parser.add_argument("--turns-per-call", type=int, default=8)
    parser.add_argument("--utilisation", type=float, default=0.6, help="how busy a core may run")
    parser.add_argument("--figures", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    if not args.figures.exists():
        print(f"error: {args.figures} is missing: run `make bench-scale` first", file=sys.stderr)
        return 2
    figures = json.loads(args.figures.read_text())
    rows, limits = plan(
        figures, args.callers, args.turn_seconds, args.turns_per_call, args.utilisation
    )
    print(f"\n{args.callers} concurrent callers, from {args.figures.relative_to(ROOT)}\n")
    print("| what | needed | from |\n|---|---|---|")
    for what, needed, source in rows:
        print(f"| {what} | {needed} | {source} |")
    print("\nCallers each part carries before it gives out (replicas as above):\n")
    print("| part | callers |\n|---|---|")
    for part, carried in sorted(limits.items(), key=lambda item: item[1]):
        print(f"| {part} | {carried:,.0f} |")
    first = min(limits, key=limits.get)  # type: ignore[arg-type]
    print(f"\nFirst to give out: {first}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
