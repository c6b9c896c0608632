"""The work queue in pages over real HTTP: at most PER_PAGE items a page, oldest first, with
the count of what waits; what a person decided never shows; a bad page number lands on the
first or last page, not an error; and a page costs the same few SQL statements however long
the queue is (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event, inspect, select

from settle.access.records import IdentityLock
from settle.config import Settings
from settle.console.queue import KINDS, PER_PAGE, queue_page, work_queue
from settle.console.queue.waiting import waiting_keys
from settle.store.models import AuditEntry, Customer, Dispute, Invoice, Payment, utcnow
from tests.migrations import downgrade, schema_drift
from tests.security.test_work_queue import console, gateway  # noqa: F401 (fixtures)

START = utcnow().replace(microsecond=0) - dt.timedelta(days=30)
HANDOFF = re.compile(r"/console/queue/handoff/(\d+)/done")


def _handoffs(store, count: int, done_every: int = 0) -> list[int]:
    """`count` hand-offs a minute apart, oldest first; every `done_every`-th one marked done.
    Returns the ids still waiting, oldest first."""
    waiting = []
    with store.unit_of_work() as session:
        for n in range(count):
            at = START + dt.timedelta(minutes=n)
            entry = AuditEntry(
                at=at, actor="conversation:x", action="handoff.requested", subject=""
            )
            entry.detail = {"reason": "asked", "channel": "sms"}
            session.add(entry)
            session.flush()
            if done_every and n % done_every == 0:
                session.add(
                    AuditEntry(
                        at=at + dt.timedelta(seconds=1),
                        actor="operator:bo@example.com",
                        action="handoff.done",
                        subject=f"handoff:{entry.id}",
                        detail={},
                    )
                )
            else:
                waiting.append(entry.id)
    return waiting


def test_the_queue_shows_fifty_a_page_oldest_first_and_never_what_is_done(console):  # noqa: F811
    waiting = _handoffs(console.store, 120, done_every=2)
    assert len(waiting) == 60
    agent = console.signed_in("bo@example.com", "agent")
    first = agent.get("/console").body
    assert "Work queue (60)" in first and "Hand-offs: 60" in first
    assert [int(n) for n in HANDOFF.findall(first)] == waiting[:PER_PAGE] and PER_PAGE == 50
    assert "Page 1 of 2" in first and "href='/console?page=2'" in first
    assert "page=0" not in first  # no older page before the first
    second = agent.get("/console?page=2").body
    assert [int(n) for n in HANDOFF.findall(second)] == waiting[PER_PAGE:]
    assert "Page 2 of 2" in second and "href='/console?page=1'" in second
    assert "page=3" not in second


def test_a_decision_shows_again_the_page_it_was_made_on(console):  # noqa: F811
    waiting = _handoffs(console.store, 60)
    agent = console.signed_in("bo@example.com", "agent")
    page = agent.get("/console?page=2").body
    assert f"action=/console/queue/handoff/{waiting[-1]}/done>" in page
    assert "<input type=hidden name=page value=2>" in page
    token = re.search(r"name=csrf value='([^']+)'", page).group(1)
    form = {"csrf": token, "page": "2", "note": "called back"}
    reply = agent.post(f"/console/queue/handoff/{waiting[-1]}/done", form)
    assert reply.status == 200 and "Work queue (59)" in reply.body
    assert "Page 2 of 2" in reply.body
    assert [int(n) for n in HANDOFF.findall(reply.body)] == waiting[PER_PAGE:-1]


@pytest.mark.parametrize(
    ("asked", "shown"),
    [
        ("x", 1),
        ("", 1),
        ("-3", 1),
        ("0", 1),
        ("1.5", 1),
        ("9" * 5000, 1),  # longer than Python reads as an int: not a number
        ("99999999999999999999999", 2),
        ("3", 2),
    ],
)
def test_a_bad_page_number_shows_the_first_or_last_page(console, asked, shown):  # noqa: F811
    waiting = _handoffs(console.store, 60)
    agent = console.signed_in("bo@example.com", "agent")
    reply = agent.get(f"/console?page={asked}")
    assert reply.status == 200, reply.body
    assert f"Page {shown} of 2" in reply.body
    expected = waiting[:PER_PAGE] if shown == 1 else waiting[PER_PAGE:]
    assert [int(n) for n in HANDOFF.findall(reply.body)] == expected


def test_an_empty_queue_has_one_page_and_no_links(console):  # noqa: F811
    agent = console.signed_in("bo@example.com", "agent")
    page = agent.get("/console?page=7").body
    assert "Nothing waits for a person" in page and "?page=" not in page


def _every_kind(store, count: int, first: int = 0) -> None:
    """`count` items of each kind (two locks), each with its customer and invoice, and
    decided ones beside them."""
    now = utcnow()
    with store.unit_of_work() as session:
        for n in range(first, first + count):
            customer, invoice = f"C{n}", f"INV-{n}"
            session.add(
                Customer(
                    id=customer, name=f"Ann {n}", phone=f"+1415555{n:04d}", postal_code="94110"
                )
            )
            session.add(
                Invoice(
                    id=invoice,
                    customer_id=customer,
                    amount_minor=10000 + n,
                    currency="USD",
                    issued_on=dt.date(2026, 1, 1),
                    due_on=dt.date(2026, 2, 1),
                )
            )
            session.flush()
            payment = Payment(
                invoice_id=invoice,
                amount_minor=5000,
                currency="USD",
                provider="sandbox",
                provider_ref=f"pi_{n}",
            )
            other = Payment(
                invoice_id=invoice,
                amount_minor=500,
                currency="USD",
                provider="sandbox",
                provider_ref=f"pi_other_{n}",
            )
            session.add_all([payment, other])
            session.add(Dispute(invoice_id=invoice, customer_id=customer, reason="Not mine"))
            session.add(Dispute(invoice_id=invoice, customer_id=customer, status="resolved"))
            session.flush()
            detail = {"verified_customer": customer, "invoice": invoice, "channel": "sms"}
            for action, subject, extra in (
                ("handoff.requested", "", detail),
                ("refund.person", f"payment:{payment.id}", {"rule": "over_limit"}),
                ("refund.person", f"payment:{payment.id}", {"rule": "over_limit"}),  # again
                ("refund.person", f"payment:{payment.id}", {"rule": "other_provider"}),
                ("payment.flagged", f"invoice:{invoice}", {"flag": "overpaid"}),
                ("payment.unmatched", f"checkout:cs_{n}", {"amount_minor": 5, "currency": "USD"}),
            ):
                if action == "payment.flagged":
                    extra = {**extra, "payment_id": payment.id}
                session.add(AuditEntry(actor="x", action=action, subject=subject, detail=extra))
            until = now + dt.timedelta(hours=1)
            session.add(IdentityLock(scope="invoice", key=invoice, misses=3, until=until))
            session.add(IdentityLock(scope="customer", key=customer, misses=3, until=until))
            session.add(
                IdentityLock(scope="customer", key=customer, misses=3, until=now, cleared_at=now)
            )
            session.flush()
            # Decided: a hand-off done, a flag resolved, a refund decided after its request.
            entry = AuditEntry(actor="x", action="handoff.requested", subject="", detail=detail)
            flag = AuditEntry(
                actor="x", action="payment.needs_review", subject=f"invoice:{invoice}"
            )
            refund = f"payment:{other.id}"
            decided = AuditEntry(actor="x", action="refund.person", subject=refund)
            session.add_all([entry, flag, decided])
            session.flush()
            session.add_all(
                [
                    AuditEntry(actor="x", action="handoff.done", subject=f"handoff:{entry.id}"),
                    AuditEntry(actor="x", action="flag.resolved", subject=f"flag:{flag.id}"),
                    AuditEntry(actor="x", action="refund.declined", subject=refund),
                ]
            )


@contextmanager
def _statements(engine):
    said: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        said.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield said
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_page_costs_the_same_statements_however_long_the_queue(store):
    settings = Settings(database_url="sqlite://")
    costs = []
    for count in (3, 30):
        _every_kind(store, count - 3 if costs else count, first=3 if costs else 0)
        with store.unit_of_work() as session, _statements(store.engine) as said:
            page = queue_page(session, settings, "1")
        costs.append(len(said))
        assert page.total == count * 7 and len(page.items) == min(PER_PAGE, count * 7)
        assert page.counts == {
            "handoff": count,
            "dispute": count,
            "refund": count,
            "overpaid": count,
            "mismatch": count,
            "lock": 2 * count,
        }
    assert costs[0] == costs[1] and costs[0] <= 25, costs


def test_the_pages_together_are_the_whole_queue_in_its_order(store):
    settings = Settings(database_url="sqlite://")
    _every_kind(store, 9)
    with store.unit_of_work() as session:
        whole = work_queue(session, settings)
        paged = [item for n in (1, 2) for item in queue_page(session, settings, n).items]
    assert paged == whole and len(whole) == 63
    keys = [(item.at, KINDS.index(item.kind), item.id) for item in whole]
    assert keys == sorted(keys)
    customers = {item.customer for item in whole if item.kind != "mismatch"}
    assert "unverified" not in customers and "Ann 0 (C0)" in customers


def test_decisions_are_looked_up_by_index_not_by_reading_the_audit_log(sqlite_store):
    """Whether an item is decided is a search of audit_log's (action, subject) index: the
    log is never scanned, once or per item (SQLite's plan of the page's query)."""
    keys = waiting_keys(utcnow()).subquery()
    query = select(keys.c.id).order_by(keys.c.at, keys.c.rank, keys.c.id).limit(PER_PAGE)
    compiled = str(query.compile(sqlite_store.engine, compile_kwargs={"literal_binds": True}))
    with sqlite_store.engine.connect() as connection:
        plan = [row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled)]
    assert [step for step in plan if step.startswith("SCAN audit_log")] == [], plan


def test_the_audit_index_matches_migration_0016_and_it_downgrades(store):
    assert schema_drift(store, "audit_log") == []
    downgrade(store, "0015")
    indexes = {index["name"] for index in inspect(store.engine).get_indexes("audit_log")}
    assert "ix_audit_log_action_subject" not in indexes
