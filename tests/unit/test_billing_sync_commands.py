"""The sync's settings, `settle sync status | replay`, `settle export` and the documented
way to verify a signature."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from settle.config import ConfigError, Settings
from settle.store.models import AuditEntry, Credit, CreditUse, Customer, Invoice, Payment, Refund
from settle.sync.outbox import record_event
from settle.sync.records import SyncDelivery
from settle.sync.signing import signature

DOC = Path(__file__).resolve().parents[2] / "docs" / "billing-sync.md"
A, B = "https://erp.example.test/settle", "https://books.example.test/hook"


def test_an_endpoint_needs_the_secret(monkeypatch):
    monkeypatch.delenv("SETTLE_SETTINGS", raising=False)
    with pytest.raises(ConfigError, match="SETTLE_SYNC_SECRET must be set"):
        Settings.from_env({"SETTLE_SYNC_URL": A})
    settings = Settings.from_env({"SETTLE_SYNC_URL": f"{A}, {B}", "SETTLE_SYNC_SECRET": "s"})
    assert settings.sync.urls == (A, B) and "'s'" not in repr(settings)
    with pytest.raises(ConfigError, match="SETTLE_SYNC_URL: 'ftp://x' is not an http"):
        Settings.from_env({"SETTLE_SYNC_URL": "ftp://x", "SETTLE_SYNC_SECRET": "s"})
    assert not Settings.from_env({}).sync.enabled


def test_endpoints_from_the_settings_file(tmp_path):
    file = tmp_path / "settle.yml"
    file.write_text(f"sync:\n  urls: [{A}]\n")
    env = {"SETTLE_SETTINGS": str(file), "SETTLE_SYNC_SECRET": "s"}
    assert Settings.from_env(env).sync.urls == (A,)
    assert Settings.from_env({**env, "SETTLE_SYNC_URL": B}).sync.urls == (B,)  # the env wins
    file.write_text(f"sync:\n  url: {A}\n")
    with pytest.raises(ConfigError, match="unknown sync setting"):
        Settings.from_env(env)


def test_the_documented_verification_verifies():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    scope: dict = {}
    exec(code, scope)
    genuine = scope["settle_event_is_genuine"]
    body = b'{"id":"evt_1","type":"payment.succeeded"}'
    header = signature("whsec", int(time.time()), body)
    assert genuine("whsec", header, body)
    assert not genuine("other", header, body)
    assert not genuine("whsec", header, body + b" ")
    assert not genuine("whsec", signature("whsec", int(time.time()) - 301, body), body)
    assert not genuine("whsec", "v1=abc", body)


@pytest.fixture
def settle_cli(sqlite_store, monkeypatch):
    from settle.app.cli import main

    monkeypatch.setenv("DATABASE_URL", str(sqlite_store.engine.url))
    monkeypatch.delenv("SETTLE_SETTINGS", raising=False)
    monkeypatch.setenv("SETTLE_SYNC_URL", f"{A},{B}")
    monkeypatch.setenv("SETTLE_SYNC_SECRET", "whsec")
    return main


def test_sync_status_and_replay(sqlite_store, settle_cli, capsys):
    now = dt.datetime.now(dt.timezone.utc)
    with sqlite_store.unit_of_work() as session:
        old = record_event(session, "payment.succeeded", "invoice:I1", {}, (A, B), now)
        new = record_event(session, "invoice.paid", "invoice:I1", {}, (A, B), now)
        session.flush()
        for delivery in session.scalars(select(SyncDelivery)):
            delivery.queued_at = now - dt.timedelta(minutes=10)
            if delivery.endpoint == A:
                delivery.status, delivery.delivered_at = "delivered", now
            elif delivery.event_id == old.id:
                delivery.status, delivery.attempts, delivery.last_error = "failed", 90, "HTTP 500"
            else:
                delivery.attempts, delivery.last_error = 3, "ConnectTimeout: no answer"
        old_id, new_id = old.event_id, new.event_id
    assert settle_cli(["sync", "status", "--json"]) == 0
    lines = {line["endpoint"]: line for line in json.loads(capsys.readouterr().out)}
    assert (lines[A]["delivered"], lines[A]["pending"], lines[A]["failed"]) == (2, 0, 0)
    assert (lines[B]["pending"], lines[B]["failed"], lines[B]["delivered"]) == (1, 1, 0)
    assert 590 <= lines[B]["oldest_pending_seconds"] <= 700
    assert lines[B]["last_error"] == "ConnectTimeout: no answer"
    assert lines[B]["failures"] == [
        {"event_id": old_id, "type": "payment.succeeded", "attempts": 90, "last_error": "HTTP 500"}
    ]
    assert settle_cli(["sync", "status"]) == 0
    assert f"failed {old_id} payment.succeeded after 90 attempts: HTTP 500" in (
        capsys.readouterr().out
    )
    today = now.date().isoformat()
    assert settle_cli(["sync", "replay", "--since", today, "--type", "payment.succeeded"]) == 0
    assert "2 deliveries queued again" in capsys.readouterr().out
    with sqlite_store.unit_of_work() as session:
        rows = session.execute(select(SyncDelivery.endpoint, SyncDelivery.status)).all()
        replayed = session.scalars(
            select(SyncDelivery).where(SyncDelivery.event_id == old.id)
        ).all()
        assert {(d.status, d.attempts) for d in replayed} == {("pending", 0)}
    assert sorted(rows) == sorted(
        [(A, "pending"), (A, "delivered"), (B, "pending"), (B, "pending")]
    )
    assert new_id != old_id
    with pytest.raises(SystemExit):
        settle_cli(["sync", "replay", "--since", "2026-02-30"])


def seed_books(session):
    """A known month: $285.00 paid, $20.00 refunded, $15.00 kept as credit and $10.00 of it
    used on another invoice, a $50.00 chargeback; the business is in New York."""
    at = lambda day, hour: dt.datetime(2026, 11, day, hour, tzinfo=dt.timezone.utc)  # noqa: E731
    session.add(Customer(id="C1", name="Ava", phone="+14155550101", postal_code="94110"))
    for invoice_id, amount in (("INV-1", 28500), ("INV-2", 1000), ("INV-3", 5000)):
        session.add(
            Invoice(
                id=invoice_id,
                customer_id="C1",
                amount_minor=amount,
                currency="USD",
                issued_on=dt.date(2026, 11, 1),
                due_on=dt.date(2026, 12, 1),
            )
        )
    session.flush()
    paid = Payment(
        invoice_id="INV-1",
        amount_minor=30000,
        currency="USD",
        provider="stripe",
        provider_ref="pi_A",
        created_at=at(3, 3),  # 22:00 on the 2nd in New York
    )
    late = Payment(
        invoice_id="INV-3",
        amount_minor=5000,
        currency="USD",
        provider="stripe",
        provider_ref="pi_B",
        created_at=at(20, 15),
    )
    session.add_all([paid, late])
    session.flush()
    session.add(
        Refund(
            payment_id=paid.id,
            customer_id="C1",
            amount_minor=2000,
            currency="USD",
            reason="duplicate",
            status="succeeded",
            provider_ref="re_A",
            idempotency_key="k1",
            updated_at=at(5, 15),
        )
    )
    credit = Credit(
        customer_id="C1",
        payment_id=paid.id,
        amount_minor=1500,
        remaining_minor=500,
        currency="USD",
        created_by="operator:ana",
        created_at=at(6, 15),
    )
    session.add(credit)
    session.flush()
    session.add(
        CreditUse(credit_id=credit.id, invoice_id="INV-2", amount_minor=1000, created_at=at(6, 15))
    )
    session.add(
        AuditEntry(
            at=at(25, 15),
            actor="stripe",
            action="chargeback.created",
            subject="invoice:INV-3",
            detail={"payment_id": late.id, "dispute_id": "dp_1", "amount_minor": 5000},
        )
    )
    return credit.id


def test_the_export_is_a_bank_feed(sqlite_store, settle_cli, capsys):
    with sqlite_store.unit_of_work() as session:
        credit_id = seed_books(session)
    assert (
        settle_cli(["export", "--since", "2026-11-01", "--until", "2026-11-30", "--format", "csv"])
        == 0
    )
    credit = f"settle-credit-{credit_id}"
    assert capsys.readouterr().out.splitlines() == [
        "date,description,amount,currency,reference",
        "2026-11-02,Payment for invoice INV-1,300.00,USD,pi_A",
        "2026-11-05,Refund for invoice INV-1,-20.00,USD,re_A",
        f"2026-11-06,Overpayment on invoice INV-1 kept as credit for C1,-15.00,USD,{credit}",
        f"2026-11-06,Credit applied to invoice INV-2,10.00,USD,{credit}",
        "2026-11-20,Payment for invoice INV-3,50.00,USD,pi_B",
        "2026-11-25,Chargeback on invoice INV-3,-50.00,USD,dp_1",
    ]
    assert (
        settle_cli(["export", "--since", "2026-11-03", "--until", "2026-11-19", "--format", "csv"])
        == 0
    )
    days = [line.split(",")[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert days == ["2026-11-05", "2026-11-06", "2026-11-06"]


def test_the_feed_reads_the_same_on_both_databases(store):
    from settle.sync.export import feed_csv, feed_lines

    with store.unit_of_work() as session:
        seed_books(session)
    with store.unit_of_work() as session:
        lines = feed_lines(session, dt.date(2026, 11, 1), dt.date(2026, 11, 30), "America/New_York")
        rows = feed_csv(lines).splitlines()
    assert [row.rsplit(",", 3)[1:] for row in rows[1:]] == [
        ["300.00", "USD", "pi_A"],
        ["-20.00", "USD", "re_A"],
        ["-15.00", "USD", rows[3].rsplit(",", 1)[1]],
        ["10.00", "USD", rows[3].rsplit(",", 1)[1]],
        ["50.00", "USD", "pi_B"],
        ["-50.00", "USD", "dp_1"],
    ]
