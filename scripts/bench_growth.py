"""Does a turn cost more as its conversation grows? A 40-turn REST conversation, repeated.

Settle runs as `make run` serves it (scripts/bench_flows.py). Each conversation alternates
a greeting, a request that runs a custom action (the pay flow's identity question), and
short replies, so every turn reloads and saves the conversation and some send it to the
action server. Prints the median latency at turns 2, 10, 20, 30 and 40 and turn 40 / turn 2
(issue 15: at most 1.2). `make bench` runs it after the turn table; `make bench-growth` alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid

from bench_flows import ServerFailed, SettleStack, settle_stack

from tests.harness import http

MESSAGES = ("hello", "I want to pay my bill", "no thanks", "what can you do", "ok")
MARKS = (2, 10, 20, 30, 40)


def one_conversation(url: str, turns: int) -> list[float]:
    sender, latencies = f"growth-{uuid.uuid4().hex[:12]}", []
    for n in range(turns):
        started = time.perf_counter()
        body = json.dumps({"sender": sender, "message": MESSAGES[n % len(MESSAGES)]})
        status, _ = http(
            "POST",
            f"{url}/webhooks/rest/webhook",
            body.encode(),
            {"Content-Type": "application/json"},
        )
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"turn {n + 1} of {sender}: HTTP {status}")
    return latencies


def run(stack: SettleStack, conversations: int = 15, turns: int = 40) -> None:
    """Measure on stack's Settle and print the table."""
    url = stack.servers.rasa_url
    one_conversation(url, 10)  # warm-up
    runs = [one_conversation(url, turns) for _ in range(conversations)]
    marks = [mark for mark in MARKS if mark <= turns]
    medians = {mark: statistics.median(r[mark - 1] for r in runs) for mark in marks}
    print(f"\nTurn latency by position in a conversation, ms (median of {conversations})")
    print("  ".join(f"turn {mark}: {medians[mark]:.1f}" for mark in marks))
    print(f"turn {marks[-1]} / turn 2: {medians[marks[-1]] / medians[2]:.2f}× (issue 15: ≤ 1.2×)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=15)
    parser.add_argument("--turns", type=int, default=40)
    args = parser.parse_args(argv)
    try:
        with settle_stack(4) as stack:
            run(stack, args.conversations, args.turns)
    except ServerFailed as failed:
        print(f"error: {failed}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
