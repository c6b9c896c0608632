"""50 customers at once across two Rasa servers and two Settle services (PostgreSQL, Redis):
REST, signed texts and signed calls, every turn to the other server, one Rasa server killed
halfway. Every conversation completes; nothing is lost, doubled, paid twice or sent twice."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.fakes import FakeStripe, FakeTwilio
from tests.http.conftest import wait_for
from tests.http.test_pay_over_http import paid_event
from tests.scale.stack import start_scaled

pytestmark = [pytest.mark.scale, pytest.mark.servers, pytest.mark.postgres]

REST, SMS, VOICE = range(20), range(20, 40), range(40, 50)
CUSTOMERS = 50


def phone(n: int) -> str:
    return f"+1415555{2000 + n:04d}"


def amount_minor(n: int) -> int:
    return 10_000 + n * 100


@pytest.fixture
def billing_files(tmp_path: Path) -> list[tuple]:
    customers, invoices = tmp_path / "customers.csv", tmp_path / "invoices.csv"
    customers.write_text(
        "customer_id,name,phone,email,postal_code,language,timezone\n"
        + "".join(
            f"C{5000 + n},Scale Customer {n},{phone(n)},c{n}@example.com,94110,en,"
            "America/Los_Angeles\n"
            for n in range(CUSTOMERS)
        )
    )
    invoices.write_text(
        "invoice_id,customer_id,amount,currency,issued_on,due_on,status,description\n"
        + "".join(
            f"INV-{5000 + n},C{5000 + n},{amount_minor(n) // 100}.00,USD,2026-11-01,"
            "2026-12-20,open,Service\n"
            for n in range(CUSTOMERS)
        )
    )
    return [(customers, invoices)]


@pytest.fixture
def stack(tmp_path, postgres_url, redis_url, billing_files):
    stripe, twilio = FakeStripe().start(), FakeTwilio().start()
    stack = start_scaled(tmp_path, stripe.url, twilio.url, postgres_url, redis_url, billing_files)
    yield stack, stripe, twilio, postgres_url, redis_url
    stack.stop()
    stripe.stop()
    twilio.stop()


def said(twiml) -> str:
    return " ".join(s.text or "" for s in twiml.iter("Say"))


class Conversation:
    """One customer's turns; each turn goes to the other Rasa server."""

    def __init__(self, stack, n: int):
        self.stack, self.n, self.sent, self.heard = stack, n, [], []
        self.channel = "rest" if n in REST else "sms" if n in SMS else "voice"
        self.sender = f"web-scale-{n}" if self.channel == "rest" else phone(n)
        self.call_sid, self.twiml, self.question = f"CA-scale-{n}", None, ""

    def steps(self) -> list[str]:
        invoice = f"INV-{5000 + self.n}"
        return {
            "rest": ["I want to pay my bill", f"invoice {invoice}, zip 94110", "yes"],
            "sms": ["hello", "I want to pay my bill", "yes"],
            # The call starts (/greet), the caller says nothing, then pays.
            "voice": ["/greet", "", "I want to pay my bill", "yes please"],
        }[self.channel]

    def turn(self, step: int) -> None:
        rasa = self.stack.rasa_for(self.n + step)
        try:
            self._turn(rasa, step)
        except Exception as error:
            raise AssertionError(
                f"{self.channel} customer {self.n}, turn {step + 1}, at {rasa.rasa_url} "
                f"({time.strftime('%H:%M:%S')}): {error!r}"
            ) from error

    def _turn(self, rasa, step: int) -> None:
        words = self.steps()[step]
        if self.channel == "rest":
            self.heard += rasa.say(self.sender, words)
        elif self.channel == "sms":
            status, body = rasa.sms(self.sender, words)
            assert status == 200, body
        elif step == 0:
            status, self.twiml = rasa.call(self.call_sid, self.sender)
            assert status == 200, self.twiml
            self.question = self.twiml.find("Gather/Say").text
        else:
            fields = {"SpeechResult": words} if words else {}
            status, self.twiml = rasa.answer(self.call_sid, self.sender, self.twiml, **fields)
            assert status == 200, self.twiml
            self.heard.append(said(self.twiml))
            if not words:  # the other server asks the same question again
                assert self.question in said(self.twiml), said(self.twiml)
        if words:
            self.sent.append(words)


@pytest.mark.timeout(900)
def test_fifty_customers_across_two_of_everything_with_a_crash(stack):
    stack, stripe, twilio, database_url, redis_url = stack
    conversations = [Conversation(stack, n) for n in range(CUSTOMERS)]
    halfway, crashed = threading.Barrier(CUSTOMERS + 1), threading.Event()
    failures: list[BaseException] = []

    def talk(conversation: Conversation) -> None:
        try:
            for step in range(2):
                conversation.turn(step)
        except BaseException as error:
            failures.append(error)
        finally:
            halfway.wait(timeout=600)
        crashed.wait(timeout=600)
        if not failures:
            for step in range(2, len(conversation.steps())):
                conversation.turn(step)

    with ThreadPoolExecutor(CUSTOMERS) as pool:
        running = [pool.submit(talk, c) for c in conversations]
        halfway.wait(timeout=600)
        try:
            assert not failures, failures[0]
            stack.kill_second_rasa()  # nothing in flight; the second half meets one server
        finally:
            crashed.set()
        for done in running:
            done.result(timeout=600)

    # Every conversation completes: a link for its invoice, on its channel.
    def texts_to(number: str) -> list[str]:
        return [r.form["Body"] for r in twilio.posts("Messages") if r.form.get("To") == number]

    for c in conversations:
        if c.channel == "sms":
            linked = lambda number=c.sender: any(  # noqa: E731
                "checkout.stripe.test" in t for t in texts_to(number)
            )
            assert wait_for(linked, 60), c.n
        else:
            assert any("texted a secure payment link" in h for h in c.heard), (c.n, c.heard)

    # One checkout per invoice, for the amount on file; paid once though Stripe tells both.
    sessions = {}
    for record in stripe.posts("/v1/checkout/sessions"):
        sessions.setdefault(record.form["metadata[invoice_id]"], []).append(record)
    assert sorted(sessions) == [f"INV-{5000 + n}" for n in range(CUSTOMERS)]
    outcomes = Counter()

    def pay(n: int) -> None:
        (record,) = sessions[f"INV-{5000 + n}"]
        assert record.form["line_items[0][price_data][unit_amount]"] == str(amount_minor(n))
        session = stripe._by_key[record.headers["idempotency-key"]]
        event = paid_event(session, f"evt_scale_{n}", amount_minor(n))
        with ThreadPoolExecutor(2) as both:
            replies = list(both.map(lambda s: s.stripe_event(event), stack.all))
        for status, body in replies:
            assert status == 200, body
            outcomes[json.loads(body)["outcome"]] += 1

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(pay, range(CUSTOMERS)))
    assert outcomes == {"paid": CUSTOMERS, "duplicate": CUSTOMERS}

    engine = create_engine(database_url)
    with engine.connect() as db:
        payments = db.execute(
            text("SELECT invoice_id, amount_minor FROM payments WHERE invoice_id LIKE 'INV-50%'")
        ).all()
        paid = db.execute(
            text("SELECT count(*) FROM invoices WHERE id LIKE 'INV-50%' AND status = 'paid'")
        ).scalar()
        # Every word each customer said is in their conversation once, in order.
        for c in conversations:
            said_rows = db.execute(
                text(
                    "SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' "
                    "ORDER BY id"
                ),
                {"s": c.sender},
            ).scalars()
            user_events = [json.loads(row) for row in said_rows]
            assert [e["text"] for e in user_events] == c.sent, c.n
            ids = [e.get("message_id") for e in user_events]
            assert len(ids) == len(set(ids)), c.n
    engine.dispose()
    assert sorted(payments) == sorted(
        (f"INV-{5000 + n}", amount_minor(n)) for n in range(CUSTOMERS)
    )
    assert paid == CUSTOMERS

    # One link and one receipt per customer by text, and no text sent twice.
    assert wait_for(
        lambda: all(
            sum("received" in t for t in texts_to(phone(n))) == 1 for n in range(CUSTOMERS)
        ),
        60,
    )
    for n in range(CUSTOMERS):
        assert sum("checkout.stripe.test" in t for t in texts_to(phone(n))) == 1, n
    sent = Counter((r.form["To"], r.form["Body"]) for r in twilio.posts("Messages"))
    assert [key for key, times in sent.items() if times > 1] == []
    # No lock outlives its turn.
    assert redis.Redis.from_url(redis_url).keys("settle:lock:*") == []
