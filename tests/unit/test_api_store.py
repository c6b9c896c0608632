"""The billing-system API's tables and rules without HTTP: migration 0014, keys, the
day an Idempotency-Key is kept, and what a push may not do to a collected invoice."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, select

from settle.api import idempotency, keys, upserts
from settle.api.records import ApiIdempotency, ApiKey
from settle.api.rows import InvalidFields, invoice_from_json
from settle.store.db import Store
from settle.store.models import AuditEntry, Invoice
from tests.migrations import downgrade, schema_drift


def test_the_api_tables_match_migration_0014_and_it_downgrades(store):
    assert schema_drift(store, "api_keys", "api_idempotency") == []
    downgrade(store, "0013")
    assert "api_keys" not in inspect(store.engine).get_table_names()
    Store.connect(str(store.engine.url)).engine.dispose()
    assert {"api_keys", "api_idempotency"} <= set(inspect(store.engine).get_table_names())


def test_a_key_is_kept_as_its_hash_and_stops_when_revoked(sqlite_store):
    with sqlite_store.unit_of_work() as session:
        key_id, key = keys.create_key(session, "erp", "cli:test")
    with sqlite_store.unit_of_work() as session:
        assert session.scalar(select(ApiKey.key_hash)) == keys.key_hash(key) != key
        assert keys.caller(session, key, None) == "api:erp"
        assert keys.caller(session, key + "x", None) is None
        assert keys.caller(session, "anything", "anything") == "api:env"
        assert keys.caller(session, "", "") is None
        keys.revoke_key(session, key_id, "cli:test")
    with sqlite_store.unit_of_work() as session:
        assert keys.caller(session, key, None) is None


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "", None, "abc"])
def test_only_a_bearer_header_carries_a_token(header):
    assert keys.bearer_token(header) is None
    assert keys.bearer_token("Bearer sk_1") == keys.bearer_token("bearer  sk_1 ") == "sk_1"


def test_an_idempotency_key_is_forgotten_after_a_day(sqlite_store):
    digest = idempotency.body_digest(b"{}")
    with sqlite_store.unit_of_work() as session:
        idempotency.remember(session, "api:erp", "k1", digest, 201, {"a": 1})
    with sqlite_store.unit_of_work() as session:
        assert idempotency.earlier_answer(session, "api:erp", "k1", digest) == (201, {"a": 1})
        assert idempotency.earlier_answer(session, "api:other", "k1", digest) is None
        with pytest.raises(idempotency.KeyReused):
            idempotency.earlier_answer(session, "api:erp", "k1", idempotency.body_digest(b"[]"))
        row = session.scalar(select(ApiIdempotency))
        row.created_at = row.created_at - dt.timedelta(hours=25)
    with sqlite_store.unit_of_work() as session:
        assert idempotency.forget_old(session) == 1
        assert idempotency.earlier_answer(session, "api:erp", "k1", digest) is None


def push(session, **changes):
    body = {
        "invoice_id": "INV-1001",
        "customer_id": "C001",
        "amount": "285.00",
        "currency": "USD",
        "issued_on": "2026-11-02",
        "due_on": "2026-12-03",
        "status": "open",
        "description": "Water heater repair",
        **changes,
    }
    invoice_id, values = invoice_from_json(body)
    return upserts.upsert_invoice(session, invoice_id, values, "api:test")


def test_a_collected_invoice_may_only_be_voided(demo_store):
    with demo_store.unit_of_work() as session:
        invoice = session.get(Invoice, "INV-1001")
        invoice.amount_paid_minor, invoice.status = invoice.amount_minor, "paid"
    with demo_store.unit_of_work() as session:
        for changes in ({"status": "open"}, {"status": "void", "amount": "1.00"}):
            with pytest.raises(upserts.Conflict, match="paid"):
                push(session, **changes)
        assert push(session, status="paid").status == 200  # as it is: nothing to do
        assert push(session, status="void").body["status"] == "void"
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject == "invoice:INV-1001")
        ).all()
        assert actions == ["invoice.voided_by_billing"]


def test_an_invoice_of_an_unknown_customer_is_refused(demo_store):
    with demo_store.unit_of_work() as session, pytest.raises(InvalidFields) as refused:
        push(session, invoice_id="NEW-1", customer_id="NOBODY")
    assert refused.value.errors[0]["field"] == "customer_id"
