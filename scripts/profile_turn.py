"""Where the CPU of a Settle REST "hello" turn goes, inside the real `rasa run`.

Starts Settle as scripts/bench_turns.py does, with Rasa launched through
scripts/profiled_rasa.py. After a warm-up, three passes of --turns hellos, one at a time,
each from a new conversation:

1. plain: latency, and CPU of the Rasa process per turn (/proc);
2. step timers: CPU (event-loop thread clock) and wall ms per turn in each of Rasa's steps,
   inclusive — a step's callees count in it, so the indented rows are parts of the row above;
3. cProfile: the functions with the most time of their own. cProfile slows call-heavy
   Python far more than the rest, so read it for where, and the timers for how much.

    .venv/bin/python scripts/profile_turn.py [--turns 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench_flows import settle_stack
from bench_turns import STATS, hello, measure
from profiled_rasa import STEPS

INDENT = {  # the steps' nesting, for the table
    "whole turn": 0,
    "policies": 2,
    "custom action calls": 0,
}
IDLE = ("run_forever", "run_until_complete", "poll", "select")  # the event loop waiting


def wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the profiled Rasa wrote no {path.name}")
        time.sleep(0.2)


def pass_with(signal_number: int, pid: int, turn, turns: int, result: Path) -> None:
    os.kill(pid, signal_number)
    time.sleep(0.5)  # the handler runs between two bytecodes of the idle loop
    measure(turn, range(turns), 1, {})
    os.kill(pid, signal_number)
    wait_for(result)


def print_steps(path: Path, turns: int) -> None:
    steps = json.loads(path.read_text())
    print(f"\n{'step (inclusive)':<36}{'CPU ms':>8}{'wall ms':>9}{'calls':>7}   per turn")
    for label, _, _ in STEPS:
        step = steps.get(label, {"calls": 0, "cpu": 0, "wall": 0})
        indent = INDENT.get(label, 1)
        print(
            f"{'  ' * indent + label:<36}{step['cpu'] * 1000 / turns:>8.1f}"
            f"{step['wall'] * 1000 / turns:>9.1f}{step['calls'] / turns:>7.1f}"
        )


def print_profile(path: Path, turns: int, top: int = 25) -> None:
    raw = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    busy = {key: value for key, value in raw.items() if not key[2].endswith(IDLE)}
    total = sum(tt for _, _, tt, _, _ in busy.values())
    print(f"\ncProfile: {total * 1000 / turns:.0f} ms per turn busy on the loop (slowed).")
    print("Most time of their own (ms per turn, own / inclusive, share of busy):")
    ranked = sorted(busy.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for (filename, line, name), (_, _, own, inclusive, _) in ranked:
        where = filename.split("site-packages/")[-1].split("lib/python3.10/")[-1]
        print(
            f"  {own * 1000 / turns:6.2f} {inclusive * 1000 / turns:7.2f} {own / total:5.0%}"
            f"  {name} ({where}:{line})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="keep steps.json and the pstats file here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="settle-profile-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        prefix = folder / "hello"
        for stale in (Path(f"{prefix}.steps.json"), Path(f"{prefix}.prof")):
            stale.unlink(missing_ok=True)
        script = Path(__file__).resolve().parent / "profiled_rasa.py"
        with settle_stack(1, rasa_launcher=[sys.executable, str(script), str(prefix)]) as stack:
            rasa = stack.servers.processes[-1]
            turn = hello(stack.servers.rasa_url)
            measure(turn, range(20), 1, {})  # warm-up
            plain = measure(turn, range(args.turns), 1, {"rasa": rasa.pid})
            pass_with(signal.SIGUSR1, rasa.pid, turn, args.turns, Path(f"{prefix}.steps.json"))
            pass_with(signal.SIGUSR2, rasa.pid, turn, args.turns, Path(f"{prefix}.prof"))
        print(
            f"{args.turns} hellos, one at a time: "
            + " / ".join(f"{s} {plain.stat(s):.0f}" for s in STATS)
            + f" ms; Rasa process CPU {plain.cpu['rasa']:.1f} ms per turn"
        )
        print_steps(Path(f"{prefix}.steps.json"), args.turns)
        print_profile(Path(f"{prefix}.prof"), args.turns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
