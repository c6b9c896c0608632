"""Migration 0004 on SQLite and PostgreSQL: plans, installments, refunds, disputes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from settle.store.db import Store
from settle.store.models import Customer, Dispute, Installment, Invoice, Payment, Plan, Refund
from tests.migrations import downgrade, schema_drift


def _seed(session):
    session.add(Customer(id="C1", name="Ann", phone="+14155550101", postal_code="94110"))
    session.add(
        Invoice(
            id="INV-1",
            customer_id="C1",
            amount_minor=28500,
            currency="USD",
            issued_on=dt.date(2026, 1, 1),
            due_on=dt.date(2026, 2, 1),
        )
    )
    session.flush()
    session.add(
        Payment(
            invoice_id="INV-1",
            amount_minor=100,
            currency="USD",
            provider="stripe",
            provider_ref="pi_1",
        )
    )
    session.flush()


def test_migration_0004_creates_the_tables(store):
    inspector = inspect(store.engine)
    assert {"plans", "installments", "refunds", "disputes"} <= set(inspector.get_table_names())
    assert "stripe_customer_id" in {c["name"] for c in inspector.get_columns("customers")}
    with store.engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert version >= "0004"


def test_models_match_the_migrations(store):
    """The models and the migrated schema agree (nothing for autogenerate to add)."""
    assert schema_drift(store, "plans", "installments", "refunds", "disputes") == []


def test_downgrade_and_upgrade_0004(store):

    downgrade(store, "0003")
    assert "plans" not in inspect(store.engine).get_table_names()
    Store.connect(str(store.engine.url)).engine.dispose()
    assert "plans" in inspect(store.engine).get_table_names()


def test_settle_asks_for_one_refund_per_payment_and_records_every_outside_one(store):
    with store.unit_of_work() as session:
        _seed(session)
        payment_id = session.scalar(select(Payment.id))
        session.add(
            Refund(
                payment_id=payment_id,
                customer_id="C1",
                amount_minor=100,
                currency="USD",
                reason="duplicate",
                idempotency_key=f"settle:refund:{payment_id}",
            )
        )
        for event in ("evt_1", "evt_2"):  # partial refunds made in the Stripe dashboard
            session.add(
                Refund(
                    payment_id=payment_id,
                    customer_id="C1",
                    amount_minor=50,
                    currency="USD",
                    reason="outside_settle",
                    idempotency_key=f"outside:{event}",
                )
            )
    with pytest.raises(IntegrityError):
        with store.unit_of_work() as session:
            session.add(
                Refund(
                    payment_id=payment_id,
                    customer_id="C1",
                    amount_minor=100,
                    currency="USD",
                    reason="duplicate",
                    idempotency_key=f"settle:refund:{payment_id}",
                )
            )


def test_installment_seq_is_unique_per_plan(store):
    with store.unit_of_work() as session:
        _seed(session)
        plan = Plan(
            invoice_id="INV-1",
            customer_id="C1",
            installment_count=2,
            interval="monthly",
            total_minor=28500,
            currency="USD",
        )
        session.add(plan)
        session.flush()
        session.add(
            Installment(plan_id=plan.id, seq=1, due_on=dt.date(2026, 3, 1), amount_minor=14250)
        )
        plan_id = plan.id
    with pytest.raises(IntegrityError):
        with store.unit_of_work() as session:
            session.add(
                Installment(plan_id=plan_id, seq=1, due_on=dt.date(2026, 4, 1), amount_minor=14250)
            )
    with store.unit_of_work() as session:
        session.add(Dispute(invoice_id="INV-1", customer_id="C1", reason="not done"))
    with store.unit_of_work() as session:
        assert session.scalars(select(Dispute)).one().status == "open"
