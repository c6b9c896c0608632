"""`make bench-hostile`: what hostile input costs.

* the card-number masker on the corpus and on 100,000-character adversarial texts;
* over HTTP (real Rasa + Settle servers): a short message, a 100,000-character message,
  and the short messages and /health answered while eight long messages arrive at once.

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from settle.privacy.cards import mask_card_numbers  # noqa: E402
from tests.fakes import FakeStripe, FakeTwilio  # noqa: E402
from tests.harness import http, start_servers  # noqa: E402

CORPUS = yaml.safe_load((ROOT / "tests" / "data" / "card_corpus.yml").read_text(encoding="utf-8"))
ADVERSARIAL = {
    "spaces": " " * 100_000,
    "digits": "4" * 100_000,
    "digit-space": "4 " * 50_000,
    "separators": "4.-/" * 25_000,
    "number words": "four " * 20_000,
    "cards": "4111 1111 1111 1111 " * 5_000,
}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def masker() -> None:
    texts = [form["text"] for form in CORPUS["cards"]] + CORPUS["not_cards"]
    started = time.perf_counter()
    for _ in range(20):
        for text in texts:
            mask_card_numbers(text)
    per = (time.perf_counter() - started) / (20 * len(texts))
    print(f"Card masker: {len(texts)} corpus texts, {per * 1e6:.0f} µs each")
    for name, text in ADVERSARIAL.items():
        started = time.perf_counter()
        mask_card_numbers(text)
        print(f"  100,000 characters of {name:<12}: {ms(time.perf_counter() - started)}")


def rest(servers, sender: str, text: str) -> float:
    started = time.perf_counter()
    status, _ = http(
        "POST",
        f"{servers.rasa_url}/webhooks/rest/webhook",
        json.dumps({"sender": sender, "message": text}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, status
    return time.perf_counter() - started


def health(servers) -> float:
    started = time.perf_counter()
    http("GET", f"{servers.service_url}/health")
    return time.perf_counter() - started


def over_http() -> None:
    with tempfile.TemporaryDirectory(prefix="settle-bench-hostile-") as tmp:
        stripe, twilio = FakeStripe().start(), FakeTwilio().start()
        servers = start_servers(Path(tmp) / "servers", stripe.url, twilio.url)
        try:
            rest(servers, "warm", "hello")
            short = [rest(servers, f"short-{n}", "hello") for n in range(10)]
            long = [rest(servers, f"long-{n}", "inv" + " " * 99_996 + "x") for n in range(10)]
            print("Over HTTP (REST channel, new conversation each):")
            print(f"  'hello'                      : median {ms(statistics.median(short))}")
            print(
                f"  100,000 characters           : median {ms(statistics.median(long))} "
                f"(max {ms(max(long))}), {statistics.median(long) / statistics.median(short):.2f}× "
                "a short message"
            )
            calm = [health(servers) for _ in range(10)]
            with ThreadPoolExecutor(max_workers=8) as pool:
                floods = [pool.submit(rest, servers, f"flood-{n}", "1 " * 50_000) for n in range(8)]
                during = [rest(servers, f"during-{n}", "hello") for n in range(5)]
                healths = [health(servers) for _ in range(10)]
                [f.result() for f in floods]
            print(
                f"  while 8 long messages arrive : 'hello' median {ms(statistics.median(during))}, "
                f"/health max {ms(max(healths))} (idle: {ms(max(calm))})"
            )
        finally:
            servers.stop()
            stripe.stop()
            twilio.stop()


def main() -> int:
    masker()
    over_http()
    return 0


if __name__ == "__main__":
    sys.exit(main())
