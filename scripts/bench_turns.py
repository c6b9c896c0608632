"""What one turn costs Settle, measured in one run side by side with Rasa's starter bot.

Settle runs as `make run` serves it (Rasa with the SQLite tracker store, the Settle service
as action server) with local Stripe and Twilio; the starter bot is `rasa init`'s, on its
own port (scripts/starter_bot.py). After a warm-up, at each level:

* a REST "hello", each from a new conversation, 1 at a time and 10 at once (both bots);
* a pay-flow turn over REST and a voice turn (Twilio webhook in, TwiML out), Settle only;
* CPU per turn of each server's process tree (/proc: user + system), over the level.

With --rounds N every figure is the median of N rounds (the machine may be busy).
`make bench` runs this first; `make bench-turns` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench_flows import ServerFailed, SettleStack, call, conversation, percentile, settle_stack
from starter_bot import starter_bot

# bench_flows (imported above) puts the repository on sys.path.
from tests.harness import http

PER_CONVERSATION = 4  # turns in a pay flow (REST or voice)
STATS = ("p50", "p95", "p99")
SETTLE, STARTER = "Settle", "starter bot"
HELLO_1 = "REST hello, 1 at once"
PAY, VOICE = "REST pay-flow turn, 1 at once", "voice pay-flow turn, 1 at once"


@dataclass
class Level:
    """One measured level: every turn's latency (ms) and CPU ms per turn by process."""

    latencies: list[float]
    cpu: dict[str, float]
    seconds: float = 0.0  # from the first turn sent to the last answered

    def stat(self, name: str) -> float:
        return percentile(self.latencies, int(name[1:]) / 100)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of pid and all its descendants (reaped children included)."""
    parents, cpu = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    tree, grown = {pid}, True
    while grown:
        children = {p for p, parent in parents.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    return sum(cpu.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def measure(
    turns: Callable[[int], list[float]], items: range, concurrency: int, pids: dict[str, int]
) -> Level:
    """Run turns(item) for every item, concurrency at once; latencies and CPU per turn."""
    before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = [ms for batch in pool.map(turns, items) for ms in batch]
    seconds = time.perf_counter() - started
    cpu = {
        name: (tree_cpu_seconds(pid) - before[name]) * 1000 / len(latencies)
        for name, pid in pids.items()
    }
    return Level(latencies, cpu, seconds)


def hello(url: str) -> Callable[[int], list[float]]:
    """A REST "hello" from a conversation nobody has had yet."""

    def turn(_: int) -> list[float]:
        body = json.dumps({"sender": f"bench-{uuid.uuid4().hex}", "message": "hello"}).encode()
        started = time.perf_counter()
        status, reply = http(
            "POST", f"{url}/webhooks/rest/webhook", body, {"Content-Type": "application/json"}
        )
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or '"text"' not in reply:
            raise RuntimeError(f"{url}: 'hello' answered HTTP {status}: {reply[:300]}")
        return [elapsed]

    return turn


@dataclass
class Bot:
    name: str
    url: str
    pids: dict[str, int]  # the processes whose CPU a turn costs, by role


Results = dict[str, dict[str, Level]]  # row -> bot -> level


def one_round(stack: SettleStack, bots: list[Bot], turns: int) -> Results:
    """Every level once, the bots taking turns level by level."""
    results: Results = {}
    for concurrency in (1, 10):
        row = results.setdefault(f"REST hello, {concurrency} at once", {})
        for bot in bots:
            row[bot.name] = measure(hello(bot.url), range(turns), concurrency, bot.pids)
    settle = bots[[bot.name for bot in bots].index(SETTLE)]
    conversations = -(-turns // PER_CONVERSATION)
    for row, flow in ((PAY, conversation), (VOICE, call)):
        customers = stack.take(conversations)
        results[row] = {
            SETTLE: measure(lambda n, f=flow: f(stack.servers, n), customers, 1, settle.pids)
        }
    return results


def warm_up(stack: SettleStack, bots: list[Bot]) -> None:
    for bot in bots:
        measure(hello(bot.url), range(10), 1, {})
        measure(hello(bot.url), range(20), 10, {})
    for customer in stack.take(2):
        conversation(stack.servers, customer)
    for customer in stack.take(2):
        call(stack.servers, customer)


def print_table(rounds: list[Results], turns: int) -> None:
    def median(row: str, bot: str, figure: Callable[[Level], float]) -> float:
        return statistics.median(figure(results[row][bot]) for results in rounds)

    def p95(row: str, bot: str) -> float:
        return median(row, bot, lambda level: level.stat("p95"))

    print(
        f"\nTurn latency, ms: {turns} turns per level after a warm-up"
        + (f"; medians of {len(rounds)} rounds" if len(rounds) > 1 else "")
        + "\nSettle as `make run` serves it (SQLite tracker store, Settle service for actions);"
        + "\nthe starter bot as `rasa init` leaves it (in-memory tracker store, no action server)\n"
    )
    print(f"{'':<32}{'Settle':^22}{'starter bot':^22}")
    print(f"{'':<32}{'p50 / p95 / p99':^22}{'p50 / p95 / p99':^22}  p95 ratio")
    for row, bots in rounds[0].items():
        cells = [
            " / ".join(f"{median(row, bot, lambda lv, s=s: lv.stat(s)):.0f}" for s in STATS)
            if bot in bots
            else "—"
            for bot in (SETTLE, STARTER)
        ]
        if STARTER in bots:
            note = f"{p95(row, SETTLE) / p95(row, STARTER):.2f}× the starter bot"
        elif row == VOICE:
            note = f"{p95(VOICE, SETTLE) / p95(PAY, SETTLE):.2f}× a REST pay-flow turn"
        else:
            note = f"{p95(PAY, SETTLE) / p95(HELLO_1, SETTLE):.2f}× a REST hello"
        print(f"{row:<32}{cells[0]:^22}{cells[1]:^22}  {note}")

    print("\nCPU ms per turn (user + system, each server's process tree)\n")
    columns = [(SETTLE, "rasa"), (SETTLE, "action server"), (STARTER, "rasa")]
    print(f"{'':<32}" + "".join(f"{f'{bot} {role}':^22}" for bot, role in columns))
    for row, bots in rounds[0].items():
        cells = [
            f"{median(row, bot, lambda lv, r=role: lv.cpu[r]):.1f}" if bot in bots else "—"
            for bot, role in columns
        ]
        print(f"{row:<32}" + "".join(f"{cell:^22}" for cell in cells))


def run(stack: SettleStack, workdir: Path, turns: int, rounds: int) -> None:
    """Serve the starter bot next to stack's Settle; measure; print the table."""
    service, rasa = stack.servers.processes  # started in this order by start_servers
    settle = Bot(SETTLE, stack.servers.rasa_url, {"rasa": rasa.pid, "action server": service.pid})
    with starter_bot(workdir) as started:
        starter = Bot(STARTER, started.url, {"rasa": started.process.pid})
        warm_up(stack, [settle, starter])
        results = []
        for n in range(rounds):
            bots = [settle, starter] if n % 2 == 0 else [starter, settle]
            results.append(one_round(stack, bots, turns))
            print(f"  round {n + 1}/{rounds} done", flush=True)
    print_table(results, turns)


def customers_needed(turns: int, rounds: int) -> int:
    return 4 + 2 * rounds * -(-turns // PER_CONVERSATION)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100, help="turns per level (default 100)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; medians are printed")
    args = parser.parse_args(argv)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="settle-bench-turns-") as tmp,
            settle_stack(customers_needed(args.turns, args.rounds)) as stack,
        ):
            run(stack, Path(tmp), args.turns, args.rounds)
    except ServerFailed as failed:
        print(f"error: {failed}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
