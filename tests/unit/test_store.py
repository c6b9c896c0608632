"""The billing store on SQLite and PostgreSQL: schema, UTC times, uniqueness, balances."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, StatementError

from settle.store.db import Store
from settle.store.models import (
    AuditEntry,
    Customer,
    Invoice,
    Message,
    Payment,
    PaymentLink,
    ProcessedEvent,
)

TABLES = {
    "customers",
    "invoices",
    "payment_links",
    "payments",
    "messages",
    "opt_outs",
    "processed_events",
    "audit_log",
}


def _customer_and_invoice(session, invoice_id="INV-1", amount=28500, paid=0):
    session.add(Customer(id="C1", name="Ann", phone="+14155550101", postal_code="94110"))
    session.add(
        Invoice(
            id=invoice_id,
            customer_id="C1",
            amount_minor=amount,
            amount_paid_minor=paid,
            currency="USD",
            issued_on=dt.date(2026, 1, 1),
            due_on=dt.date(2026, 2, 1),
        )
    )
    session.flush()


def _link(session_id, invoice_id="INV-1"):
    return PaymentLink(
        invoice_id=invoice_id,
        provider="sandbox",
        session_id=session_id,
        url=f"https://pay.example.test/{session_id}",
        amount_minor=28500,
        currency="USD",
        expires_at=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc),
    )


def test_migration_creates_the_tables(store):
    names = set(inspect(store.engine).get_table_names())
    assert TABLES <= names
    assert "alembic_version" in names
    columns = {c["name"] for c in inspect(store.engine).get_columns("invoices")}
    assert {
        "id",
        "customer_id",
        "amount_minor",
        "amount_paid_minor",
        "currency",
        "issued_on",
        "due_on",
        "status",
    } <= columns


def test_migrating_again_is_a_no_op(store):
    with store.unit_of_work() as session:
        _customer_and_invoice(session)
    again = Store.connect(str(store.engine.url))  # runs the migrations to head once more
    try:
        with again.unit_of_work() as session:
            assert session.get(Invoice, "INV-1").amount_minor == 28500
    finally:
        again.engine.dispose()


@pytest.mark.postgres
@pytest.mark.timeout(60)  # without the lock the upgrades wait on each other for good
def test_replicas_starting_together_migrate_an_empty_database_once(postgres_url):
    """Every `settle` command and service migrates first: replicas that start at the same
    moment must not race (a PostgreSQL advisory lock serializes the upgrade)."""
    import threading

    start, errors, stores = threading.Barrier(6), [], []

    def start_replica():
        start.wait()
        try:
            stores.append(Store.connect(postgres_url))
        except Exception as error:  # the race must not surface
            errors.append(error)

    replicas = [threading.Thread(target=start_replica) for _ in range(6)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join()
    try:
        assert errors == [] and len(stores) == 6
        with stores[0].engine.connect() as connection:
            versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            assert len(versions.all()) == 1
        assert TABLES <= set(inspect(stores[0].engine).get_table_names())
    finally:
        for store in stores:
            store.engine.dispose()


def test_aware_datetimes_round_trip_as_utc(store):
    india = dt.timezone(dt.timedelta(hours=5, minutes=30))
    moment = dt.datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=india)
    with store.unit_of_work() as session:
        _customer_and_invoice(session)
        link = _link("cs_1")
        link.expires_at = moment
        session.add(link)
    with store.unit_of_work() as session:
        stored = session.scalar(select(PaymentLink).where(PaymentLink.session_id == "cs_1"))
        expires = stored.expires_at
        created = stored.created_at
    assert expires == moment  # the same instant...
    assert expires.utcoffset() == dt.timedelta(0)  # ...told in UTC
    assert (expires.hour, expires.minute, expires.microsecond) == (3, 56, 589793)
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)


def test_comparisons_with_aware_datetimes_work_in_queries(store):
    with store.unit_of_work() as session:
        _customer_and_invoice(session)
        session.add(_link("cs_1"))
    with store.unit_of_work() as session:
        before = dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.timezone.utc)
        after = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        # 2026-12-01 01:00+02:00 is 2026-11-30 23:00 UTC, an hour *before* expiry.
        assert session.scalar(select(PaymentLink.id).where(PaymentLink.expires_at > before))
        assert (
            session.scalar(select(PaymentLink.id).where(PaymentLink.expires_at > after)) is not None
        )
        late = dt.datetime(2026, 12, 1, 0, 0, 1, tzinfo=dt.timezone.utc)
        assert session.scalar(select(PaymentLink.id).where(PaymentLink.expires_at > late)) is None


def test_naive_datetimes_are_refused(store):
    with pytest.raises(StatementError, match="naive datetime"):
        with store.unit_of_work() as session:
            _customer_and_invoice(session)
            link = _link("cs_1")
            link.expires_at = dt.datetime(2026, 12, 1, 12, 0)
            session.add(link)
    with store.unit_of_work() as session:
        assert session.scalar(select(PaymentLink.id)) is None
        assert session.get(Invoice, "INV-1") is None  # the whole unit of work rolled back


def test_payment_provider_ref_is_unique(store):
    with store.unit_of_work() as session:
        _customer_and_invoice(session)
        session.add(
            Payment(
                invoice_id="INV-1",
                amount_minor=100,
                currency="USD",
                provider="stripe",
                provider_ref="pi_1",
            )
        )
    with pytest.raises(IntegrityError):
        with store.unit_of_work() as session:
            session.add(
                Payment(
                    invoice_id="INV-1",
                    amount_minor=100,
                    currency="USD",
                    provider="stripe",
                    provider_ref="pi_1",
                )
            )
    with store.unit_of_work() as session:
        assert len(session.scalars(select(Payment)).all()) == 1
        session.add(
            Payment(
                invoice_id="INV-1",
                amount_minor=100,
                currency="USD",
                provider="stripe",
                provider_ref="pi_2",
            )
        )
    with store.unit_of_work() as session:
        assert len(session.scalars(select(Payment)).all()) == 2


def test_message_idempotency_key_is_unique(store):
    with store.unit_of_work() as session:
        session.add(Message(idempotency_key="k1", to="+14155550101", body="one"))
    with pytest.raises(IntegrityError):
        with store.unit_of_work() as session:
            session.add(Message(idempotency_key="k1", to="+14155550101", body="two"))
    with store.unit_of_work() as session:
        assert [m.body for m in session.scalars(select(Message))] == ["one"]


def test_payment_link_session_id_is_unique(store):
    with store.unit_of_work() as session:
        _customer_and_invoice(session)
        session.add(_link("cs_1"))
    with pytest.raises(IntegrityError):
        with store.unit_of_work() as session:
            session.add(_link("cs_1"))
    with store.unit_of_work() as session:
        assert len(session.scalars(select(PaymentLink)).all()) == 1


def test_processed_event_id_is_unique(store):
    with store.unit_of_work() as session:
        session.add(ProcessedEvent(event_id="evt_1", provider="stripe", type="x"))
    with pytest.raises(IntegrityError):
        with store.unit_of_work() as session:
            session.add(ProcessedEvent(event_id="evt_1", provider="stripe", type="x"))


def test_invoice_needs_a_known_customer(store):
    with pytest.raises(IntegrityError):
        with store.unit_of_work() as session:
            session.add(
                Invoice(
                    id="INV-9",
                    customer_id="nobody",
                    amount_minor=1,
                    currency="USD",
                    issued_on=dt.date(2026, 1, 1),
                    due_on=dt.date(2026, 2, 1),
                )
            )


@pytest.mark.parametrize(
    "amount, paid, balance",
    [
        (28500, 0, 28500),
        (28500, 10000, 18500),
        (28500, 28500, 0),
        (28500, 30000, 0),  # an overpayment never shows as a negative balance
    ],
)
def test_invoice_balance(store, amount, paid, balance):
    with store.unit_of_work() as session:
        _customer_and_invoice(session, amount=amount, paid=paid)
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, "INV-1")
        assert invoice.balance_minor == balance
        assert invoice.status == "open" and invoice.amount_paid_minor == paid


def test_audit_detail_round_trips_as_json(store):
    with store.unit_of_work() as session:
        session.add(
            AuditEntry(
                actor="test",
                action="x.done",
                subject="invoice:INV-1",
                detail={"amount_minor": 28500, "ok": True, "who": "Zoë"},
            )
        )
    with store.unit_of_work() as session:
        entry = session.scalars(select(AuditEntry)).one()
        assert entry.detail == {"amount_minor": 28500, "ok": True, "who": "Zoë"}
        assert entry.at.utcoffset() == dt.timedelta(0)
