"""What the benchmarks drive: Settle's real servers with local Stripe and Twilio, bench
customers with open invoices, and the pay flow as a customer walks it (REST or voice).

Shared by scripts/bench.py (the pay flow at 1 and 10 concurrent) and scripts/bench_turns.py
(the cost of one turn, side by side with Rasa's starter bot).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes import FakeStripe, FakeTwilio  # noqa: E402
from tests.harness import Servers, start_servers  # noqa: E402

TURNS = ("I want to pay my bill", "{invoice} and my zip is 94110", "the second one", "yes")
MAX_CUSTOMERS = 1000  # invoice numbers are INV-7<3 digits><k>


class ServerFailed(RuntimeError):
    """A server the bench needs did not start."""


@dataclass
class SettleStack:
    """Settle's servers, the fakes they talk to, and bench customers handed out once each."""

    servers: Servers
    stripe: FakeStripe
    twilio: FakeTwilio
    customers: int
    used: int = field(default=0, init=False)

    def take(self, count: int) -> range:
        """count customers no conversation has used yet (each pays once)."""
        if self.used + count > self.customers:
            raise RuntimeError(f"only {self.customers} bench customers: ask for more")
        self.used += count
        return range(self.used - count, self.used)


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


@contextlib.contextmanager
def settle_stack(customers: int, rasa_launcher: list[str] | None = None) -> Iterator[SettleStack]:
    """Settle as `make run` serves it (SQLite), on loopback with local Stripe and Twilio.

    rasa_launcher replaces the `rasa` command (scripts/profile_turn.py runs it profiled)."""
    if customers > MAX_CUSTOMERS:
        raise ValueError(f"at most {MAX_CUSTOMERS} bench customers")
    with tempfile.TemporaryDirectory(prefix="settle-bench-") as tmp, contextlib.ExitStack() as up:
        work = Path(tmp)
        stripe, twilio = FakeStripe().start(), FakeTwilio().start()
        up.callback(stripe.stop)
        up.callback(twilio.stop)
        try:
            servers = start_servers(
                work / "servers",
                stripe.url,
                twilio.url,
                extra_data=[write_bench_data(work, customers)],
                rasa=False,
            )
            up.callback(servers.stop)
            servers.start_rasa(rasa_launcher)
        except RuntimeError as error:
            raise ServerFailed(f"Settle's servers did not start: {error}") from error
        yield SettleStack(servers, stripe, twilio, customers)


def conversation(servers: Servers, n: int) -> list[float]:
    """Bench customer n pays over the REST channel: pay, identity, pick, yes (ms per turn)."""
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


def call(servers: Servers, n: int) -> list[float]:
    """Bench customer n calls, recognised by caller ID: ring, 'pay my bill', keypad 2,
    keypad 1 (yes). One turn is Twilio's webhook in to TwiML out, <Redirect>s followed."""
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


def percentile(values: list[float], fraction: float) -> float:
    """The value at that rank (fraction 0.95: p95)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]
