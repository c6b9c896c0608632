"""Disputes: recorded once per invoice, audited, and they stop plans (and reminders)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from settle.billing.disputes import NotDisputable, open_dispute, open_dispute_of, resolve_dispute
from settle.plans import plan_options
from settle.rules.policy import Policy
from settle.store.models import AuditEntry, Customer, Dispute, Invoice


def _seed(session):
    session.add(Customer(id="C1", name="Ava", phone="+14155550101", postal_code="94110"))
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


def test_one_open_dispute_per_invoice(store):
    with store.unit_of_work() as session:
        _seed(session)
        first = open_dispute(
            session, "C1", "INV-1", "  The work was never done.  ", "conversation:test"
        )
        again = open_dispute(session, "C1", "INV-1", "I said it was not done", "conversation:test")
    assert again.id == first.id
    with store.unit_of_work() as session:
        dispute = session.scalars(select(Dispute)).one()
        assert (dispute.status, dispute.reason) == ("open", "The work was never done.")
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "dispute.opened")
        ).all()
        assert len(entries) == 1 and entries[0].subject == "invoice:INV-1"
        assert entries[0].actor == "conversation:test"


def test_a_disputed_invoice_is_not_offered_a_plan_until_resolved(store):
    with store.unit_of_work() as session:
        _seed(session)
        dispute = open_dispute(session, "C1", "INV-1", "not mine", "test")
        assert plan_options(session, Policy(), "INV-1").reason == "disputed"
        resolve_dispute(session, dispute.id, "operator", "customer agreed")
        assert open_dispute_of(session, "INV-1") is None
        assert plan_options(session, Policy(), "INV-1").eligible
        # A new dispute after the first was resolved is a new record.
        assert open_dispute(session, "C1", "INV-1", "again", "test").id != dispute.id
        assert session.scalar(select(func.count(Dispute.id))) == 2


def test_only_the_customers_own_invoice(store):
    with store.unit_of_work() as session:
        _seed(session)
        with pytest.raises(NotDisputable):
            open_dispute(session, "C2", "INV-1", "not mine", "test")
        with pytest.raises(NotDisputable):
            open_dispute(session, "C1", "INV-404", "not mine", "test")


def test_two_racing_requests_record_one_dispute(database_url):
    import threading

    from settle.store.db import Store

    store = Store.connect(database_url)
    try:
        with store.unit_of_work() as session:
            _seed(session)
        barrier, ids = threading.Barrier(2), []

        def request():
            barrier.wait()
            with store.unit_of_work() as session:
                ids.append(open_dispute(session, "C1", "INV-1", "not mine", "test").id)

        threads = [threading.Thread(target=request) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(ids)) == 1
        with store.unit_of_work() as session:
            assert session.scalar(select(func.count(Dispute.id))) == 1
    finally:
        store.engine.dispose()
