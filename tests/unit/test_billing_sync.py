"""Outbound sync: which money changes become events, written in the change's transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import func, inspect, select

from settle.adapters.payments import ChargeResult
from settle.api.upserts import record_billing_opt_out
from settle.billing.credits import keep_as_credit
from settle.billing.disputes import open_dispute, resolve_dispute
from settle.billing.importer import import_billing_data
from settle.billing.reconcile import handle_payment_event
from settle.messaging.consent import record_opt_in, record_opt_out
from settle.store.db import Store
from settle.store.models import Invoice, Payment
from settle.sync.outbox import attach
from settle.sync.records import SyncDelivery, SyncEvent
from settle.sync.settings import SyncSettings
from tests.conftest import DEMO
from tests.migrations import downgrade, schema_drift
from tests.unit.sync_support import SECRET, SYNC, A, B, events, paid, pay, synced_store


@pytest.fixture
def synced(store):
    return synced_store(store)


def test_the_sync_tables_match_migration_0015_and_it_downgrades(store):
    assert schema_drift(store, "sync_") == []
    downgrade(store, "0014")
    assert "sync_events" not in inspect(store.engine).get_table_names()
    Store.connect(str(store.engine.url)).engine.dispose()
    assert "sync_deliveries" in inspect(store.engine).get_table_names()


def test_a_payment_is_written_as_events_with_its_change_one_delivery_per_endpoint(store, settings):
    with store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    attach(store, SyncSettings((A, B), SECRET))
    assert pay(store, settings, "evt_1", 10000, "pi_1") == "partially_paid"
    assert pay(store, settings, "evt_2", 18500, "pi_2") == "paid"
    kinds = [(kind, subject) for kind, subject, _ in events(store)]
    assert kinds == [
        ("payment.succeeded", "invoice:INV-1001"),
        ("invoice.partially_paid", "invoice:INV-1001"),
        ("payment.succeeded", "invoice:INV-1001"),
        ("invoice.paid", "invoice:INV-1001"),
    ]
    first, partial, _, full = (data for _, _, data in events(store))
    assert (first["amount"], first["currency"], first["provider_ref"]) == (10000, "USD", "pi_1")
    assert (partial["amount_paid"], partial["balance"], partial["currency"]) == (
        10000,
        18500,
        "USD",
    )
    assert (full["status"], full["balance"]) == ("paid", 0)
    with store.unit_of_work() as session:
        assert session.scalar(select(func.count(SyncDelivery.id))) == 8
        assert set(session.scalars(select(SyncDelivery.endpoint))) == {A, B}
        ids = session.scalars(select(SyncEvent.event_id)).all()
    assert all(i.startswith("evt_") and len(i) == 36 for i in ids) and len(set(ids)) == 4


def test_a_change_rolled_back_sends_nothing(synced, settings):
    with pytest.raises(RuntimeError):
        with synced.unit_of_work() as session:
            handle_payment_event(session, paid("evt_1", 10000, "pi_1"), settings)
            session.flush()
            assert session.scalar(select(func.count(SyncEvent.id))) == 2
            raise RuntimeError("the webhook's transaction fails")
    assert events(synced) == []


def test_no_endpoint_no_events(store, settings):
    with store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    attach(store, SyncSettings())
    pay(store, settings, "evt_1", 10000, "pi_1")
    assert events(store) == []


def test_disputes_opt_outs_and_credits_are_events(synced, settings):
    pay(synced, settings, "evt_1", 30000, "pi_1")  # $15.00 over
    with synced.unit_of_work() as session:
        payment_id = session.scalars(select(Payment.id)).one()
        dispute = open_dispute(session, "C002", "INV-2001", "I never got it", "conversation:x")
        session.flush()
        resolve_dispute(session, dispute.id, "operator:ana", outcome="upheld")
        record_opt_out(session, "+14155550101", "sms:STOP", "conversation:x")
        session.flush()
        record_opt_in(session, "+14155550101", "sms:START", "conversation:x")
        session.add(
            Invoice(
                id="INV-1002",
                customer_id="C001",
                amount_minor=5000,
                currency="USD",
                issued_on=dt.date(2026, 12, 1),
                due_on=dt.date(2026, 12, 31),
            )
        )
        keep_as_credit(session, settings, payment_id, "operator:ana")
    kinds = [kind for kind, _, _ in events(synced)][2:]
    assert kinds == [
        "dispute.created",
        "dispute.resolved",
        "customer.opted_out",
        "customer.opted_in",
        "credit.created",
        "invoice.paid",
        "credit.applied",
        "invoice.partially_paid",
    ]
    by_kind = {kind: data for kind, _, data in events(synced)}
    assert by_kind["customer.opted_out"]["customer_ids"] == ["C001"]
    assert by_kind["customer.opted_out"]["source"] == "sms:STOP"
    assert by_kind["dispute.resolved"]["outcome"] == "upheld"
    assert by_kind["credit.applied"]["invoice_id"] == "INV-1002"
    assert by_kind["invoice.partially_paid"]["balance"] == 3500
    assert (by_kind["credit.created"]["amount"], by_kind["credit.created"]["currency"]) == (
        1500,
        "USD",
    )


def test_refunds_and_chargebacks_are_events(synced, settings):
    pay(synced, settings, "evt_1", 28500, "pi_1")
    with synced.unit_of_work() as session:
        handle_payment_event(
            session,
            {
                "id": "evt_r",
                "type": "charge.refunded",
                "data": {
                    "object": {"id": "ch_1", "payment_intent": "pi_1", "amount_refunded": 2000}
                },
            },
            settings,
        )
        handle_payment_event(
            session,
            {
                "id": "evt_c",
                "type": "charge.dispute.created",
                "data": {
                    "object": {
                        "id": "dp_1",
                        "payment_intent": "pi_1",
                        "amount": 26500,
                        "currency": "usd",
                        "reason": "fraudulent",
                    }
                },
            },
            settings,
        )
    by_kind = {kind: data for kind, _, data in events(synced)}
    assert (by_kind["refund.succeeded"]["amount"], by_kind["refund.succeeded"]["currency"]) == (
        2000,
        "USD",
    )
    # The invoice as Settle holds it after the refund: 20.00 owed again, reopened (and held
    # for staff), so the billing system need not ask.
    assert by_kind["refund.succeeded"]["invoice"] == {
        "invoice_id": "INV-1001",
        "customer_id": "C001",
        "status": "open",
        "amount": 28500,
        "amount_paid": 26500,
        "balance": 2000,
        "currency": "USD",
    }
    assert by_kind["chargeback.created"]["amount"] == 26500
    assert by_kind["chargeback.created"]["provider_dispute_id"] == "dp_1"
    assert "dispute.created" in by_kind


def test_a_plan_its_installments_and_its_failure_are_events(store):
    from settle.plans import charge_due_installments
    from settle.rules.policy import PlanRules, Policy
    from tests.unit.test_plans import NOW, SETTINGS, RecordingGateway, _save_card, _seed, _start

    attach(store, SYNC)
    gateway = RecordingGateway()
    policy = Policy(plans=replace(PlanRules(), retry_attempts=0))
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway, policy=policy).plan_id
    _save_card(store, gateway, plan_id)
    assert charge_due_installments(store, gateway, SETTINGS, policy, NOW).charged == 1
    gateway.answers = [ChargeResult("pi_declined", "failed", "Your card was declined.")]
    later = NOW + dt.timedelta(days=31)
    assert charge_due_installments(store, gateway, SETTINGS, policy, later).failed == 1
    assert [kind for kind, _, _ in events(store)] == [
        "plan.created",
        "payment.succeeded",
        "plan.installment_paid",
        "invoice.partially_paid",
        "plan.failed",
    ]
    created, _, paid_one, invoice, failed = (data for _, _, data in events(store))
    assert created["total"] == 28500 and len(created["installments"]) == 3
    assert (paid_one["installment"], paid_one["installments"], paid_one["amount"]) == (1, 3, 9500)
    assert invoice["balance"] == 19000
    assert failed == {"plan_id": plan_id, "invoice_id": "INV-1", "error": "Your card was declined."}


def test_a_paid_invoice_voided_by_the_billing_system_is_an_event(synced, settings):
    from settle.api.rows import invoice_from_json
    from settle.api.upserts import upsert_invoice

    pay(synced, settings, "evt_1", 28500, "pi_1")
    body = {
        "invoice_id": "INV-1001",
        "customer_id": "C001",
        "amount": "285.00",
        "currency": "USD",
        "issued_on": "2026-11-02",
        "due_on": "2026-12-03",
        "status": "void",
        "description": "Water heater repair",
    }
    with synced.unit_of_work() as session:
        assert upsert_invoice(session, *invoice_from_json(body), "api:erp").status == 200
    kind, subject, data = events(synced)[-1]
    assert (kind, subject, data["status"], data["amount_paid"]) == (
        "invoice.voided",
        "invoice:INV-1001",
        "void",
        28500,
    )


def test_an_opt_out_the_billing_system_sent_is_still_an_event_naming_its_source(synced):
    """Echoed, not skipped: every endpoint hears every opt-out, and the billing system can
    tell its own by the source."""
    with synced.unit_of_work() as session:
        written = record_billing_opt_out(session, "+14155550101", "sms", "api:erp")
    assert written.status == 201
    ((kind, subject, data),) = events(synced)
    assert (kind, subject) == ("customer.opted_out", "phone:+14155550101")
    assert data == {
        "contact": "+14155550101",
        "channel": "sms",
        "customer_ids": ["C001"],
        "source": "api:erp",
    }


def _plan_events(store):
    return [(kind, data) for kind, _, data in events(store) if kind.startswith("plan.")]


def test_a_plan_paid_to_the_end_is_a_completed_event_after_its_last_installment(store):
    from settle.plans import charge_due_installments
    from settle.rules.policy import Policy
    from tests.unit.test_plans import NOW, SETTINGS, RecordingGateway, _save_card, _seed, _start

    attach(store, SYNC)
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway).plan_id
    _save_card(store, gateway, plan_id)
    for day in (NOW, NOW + dt.timedelta(days=31), NOW + dt.timedelta(days=61)):
        assert charge_due_installments(store, gateway, SETTINGS, Policy(), day).charged == 1
    kinds = [kind for kind, _ in _plan_events(store)]
    assert kinds == ["plan.created"] + ["plan.installment_paid"] * 3 + ["plan.completed"]
    assert _plan_events(store)[-1][1] == {
        "plan_id": plan_id,
        "invoice_id": "INV-1",
        "reason": "every installment paid",
        "installments_paid": 3,
        "installments": 3,
    }
    assert [k for k, _, _ in events(store)][-2:] == ["invoice.paid", "plan.completed"]


def test_a_plan_replaced_before_its_card_is_a_cancelled_event(store):
    from tests.unit.test_plans import RecordingGateway, _seed, _start

    attach(store, SYNC)
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    first = _start(store, gateway, count=3).plan_id
    second = _start(store, gateway, count=4, key="turn-2").plan_id
    assert [(kind, data["plan_id"]) for kind, data in _plan_events(store)] == [
        ("plan.created", first),
        ("plan.cancelled", first),
        ("plan.created", second),
    ]
    cancelled = _plan_events(store)[1][1]
    assert (cancelled["reason"], cancelled["installments_paid"]) == (
        "replaced before the card was saved",
        0,
    )


def test_a_plan_whose_invoice_was_paid_another_way_stops_as_completed(store):
    from settle.plans import charge_due_installments
    from settle.rules.policy import Policy
    from tests.unit.test_plans import NOW, SETTINGS, RecordingGateway, _save_card, _seed, _start

    attach(store, SYNC)
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway).plan_id
    _save_card(store, gateway, plan_id)
    with store.unit_of_work() as session:
        session.get(Invoice, "INV-1").status = "void"
    charge_due_installments(store, gateway, SETTINGS, Policy(), NOW)
    kind, data = _plan_events(store)[-1]
    assert (kind, data["plan_id"], data["reason"]) == (
        "plan.cancelled",
        plan_id,
        "invoice void, nothing left to pay",
    )
