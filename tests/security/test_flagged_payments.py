"""Flagged payments in the console's work queue, over real HTTP: an overpayment is refunded
(the difference only, through the refund path's idempotency key) or kept as credit that
pays toward the customer's next invoices; a payment that matches nothing is marked
reviewed. Each decision is made once, the customer is told in their language, and the
operator is in the audit log."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from settle.app.cli_billing import import_files
from settle.billing.credits import apply_credits, available_credit
from settle.billing.disputes import open_dispute
from settle.billing.reconcile import handle_payment_event
from settle.console import flagged
from settle.core import i18n
from settle.core.money import format_money
from settle.refunds.decision import OVERPAYMENT, RefundFacts, decide
from settle.rules.policy import Policy
from settle.store.models import AuditEntry, Credit, CreditUse, Customer, Invoice, Refund, utcnow
from tests.security import test_work_queue as queue_tests
from tests.security.test_work_queue import _form, _messages

# The work queue's console and counting gateway, shared with its tests.
console, gateway = queue_tests.console, queue_tests.gateway
LOCALE = i18n.locale_for("fr", "US")  # how Lea, in the US, is written to


def _invoice(session, invoice_id: str, amount: int, due: dt.date, currency: str = "USD") -> None:
    session.add(
        Invoice(
            id=invoice_id,
            customer_id="C1",
            amount_minor=amount,
            currency=currency,
            issued_on=due - dt.timedelta(days=30),
            due_on=due,
        )
    )


def _overpay(store, settings, paid: int = 100000) -> int:
    """Lea (French) pays 1,000.00 on INV-1 of 800.00; returns the flag's queue item."""
    with store.unit_of_work() as session:
        session.add(
            Customer(id="C1", name="Lea", phone="+14155550101", postal_code="94110", language="fr")
        )
        _invoice(session, "INV-1", 80000, dt.date(2026, 2, 1))
        session.flush()
        event = {
            "id": "evt_over",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": "cs_over",
                    "payment_status": "paid",
                    "amount_total": paid,
                    "currency": "usd",
                    "payment_intent": "pi_over",
                    "client_reference_id": "INV-1",
                }
            },
        }
        assert handle_payment_event(session, event, settings, provider="sandbox") == "paid"
        return session.scalar(select(AuditEntry.id).where(AuditEntry.action == "payment.flagged"))


def _state(store, invoice_id: str = "INV-1") -> tuple[str, int]:
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, invoice_id)
        return invoice.status, invoice.amount_paid_minor


def _texts(store) -> list[str]:
    """Lea's texts, with Babel's no-break spaces as the outbox sends them (plain spaces)."""
    return [body for to, body in _messages(store) if to == "+14155550101"]


def _sent(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def _fr(key: str, **money) -> str:
    values = {name: format_money(minor, "USD", LOCALE) for name, minor in money.items()}
    return i18n.text(key, "fr", business="Acme Plumbing", invoice="INV-1", **values)


def test_an_agent_refunds_only_the_difference_once(console, settings, gateway):
    item = _overpay(console.store, settings)
    agent = console.signed_in("bo@example.com", "agent")
    page = agent.get("/console").body
    assert "Overpaid" in page and "$200.00" in page
    path = f"/console/queue/overpaid/{item}/refund"
    form = _form(agent, path)
    assert agent.post(path, form).status == 200
    again = agent.post(path, form)
    assert again.status == 409 and "already decided" in again.body
    assert [(r.amount_minor, r.payment_intent) for r in gateway.refunds] == [(20000, "pi_over")]
    with console.store.unit_of_work() as session:
        refund = session.scalars(select(Refund)).one()
        assert (refund.reason, refund.status, refund.amount_minor) == (
            OVERPAYMENT,
            "succeeded",
            20000,
        )
    assert _state(console.store) == ("paid", 80000)  # paid exactly, nothing hidden
    assert ("operator:bo@example.com", "flag.resolved", f"flag:{item}") in console.audit()
    assert f"/console/queue/overpaid/{item}/" not in agent.get("/console").body
    assert any("200,00" in text for text in _texts(console.store))  # told, in French


def test_the_difference_is_refundable_long_after_the_refund_window(console, settings, gateway):
    """Money paid beyond an invoice is the customer's: no window or reason rule applies."""
    item = _overpay(console.store, settings)
    with console.store.unit_of_work() as session:
        for refund_row in session.scalars(select(AuditEntry)):
            refund_row.at = utcnow() - dt.timedelta(days=400)
        from settle.store.models import Payment

        session.scalars(select(Payment)).one().created_at = utcnow() - dt.timedelta(days=400)
    outcome = flagged.refund_difference(console.store, gateway, settings, item, "operator:x")
    assert outcome.changed and [r.amount_minor for r in gateway.refunds] == [20000]


def test_a_customer_cannot_get_an_overpayment_refund_without_a_person():
    facts = RefundFacts(
        payment_minor=1000,
        paid_at=utcnow(),
        provider="stripe",
        refunded=(),
        recent_refunds=0,
        reason=OVERPAYMENT,
        requested_minor=1000,
    )
    assert decide(facts, Policy(), utcnow()).outcome == "person"
    assert (
        decide(
            facts.__class__(**{**facts.__dict__, "requested_minor": 1001}), Policy(), utcnow()
        ).rule
        == "invalid_amount"
    )


def test_kept_credit_pays_the_open_invoice_then_the_next_imported_one(
    console, settings, gateway, tmp_path
):
    item = _overpay(console.store, settings)
    with console.store.unit_of_work() as session:
        _invoice(session, "INV-2", 15000, dt.date(2026, 3, 1))
    agent = console.signed_in("bo@example.com", "agent")
    path = f"/console/queue/overpaid/{item}/credit"
    form = _form(agent, path)
    assert "the customer is told" in agent.post(path, form).body
    assert agent.post(path, form).status == 409
    assert gateway.refunds == []
    assert _state(console.store) == ("paid", 80000)
    assert _state(console.store, "INV-2") == ("paid", 15000)
    with console.store.unit_of_work() as session:
        credit = session.scalars(select(Credit)).one()
        assert (credit.amount_minor, credit.remaining_minor) == (20000, 5000)
        assert credit.created_by == "operator:bo@example.com"
    assert _texts(console.store)[-2:] == [
        _sent(_fr("credit_kept", amount=20000)),
        _sent(
            i18n.text(
                "credit_applied",
                "fr",
                business="Acme Plumbing",
                invoice="INV-2",
                amount=format_money(15000, "USD", LOCALE),
                balance=format_money(0, "USD", LOCALE),
            )
        ),
    ]

    invoices = tmp_path / "invoices.csv"
    invoices.write_text(
        "invoice_id,customer_id,amount,currency,issued_on,due_on,status,description\n"
        "INV-3,C1,120.00,USD,2026-03-01,2026-04-01,open,Service\n"
    )
    assert import_files(console.store, settings, None, invoices) == 0
    assert _state(console.store, "INV-3") == ("open", 5000)
    with console.store.unit_of_work() as session:
        assert available_credit(session, "C1") == {}
        assert [
            u.amount_minor for u in session.scalars(select(CreditUse).order_by(CreditUse.id))
        ] == [15000, 5000]


def test_credit_leaves_disputed_and_other_currency_invoices_alone(console, settings):
    item = _overpay(console.store, settings)
    with console.store.unit_of_work() as session:
        _invoice(session, "INV-D", 5000, dt.date(2026, 3, 1))
        _invoice(session, "INV-E", 5000, dt.date(2026, 3, 2), currency="EUR")
        session.flush()
        open_dispute(session, "C1", "INV-D", "not mine", "conversation:x", settings)
    assert flagged.keep_credit(console.store, settings, item, "operator:x").changed
    assert _state(console.store, "INV-D") == ("open", 0)
    assert _state(console.store, "INV-E") == ("open", 0)
    with console.store.unit_of_work() as session:
        assert available_credit(session, "C1") == {"USD": 20000}
        assert apply_credits(session, settings, "C1", "test") == 0


def test_a_refund_under_way_keeps_the_same_money_from_becoming_credit(console, settings, gateway):
    item = _overpay(console.store, settings)
    with console.store.unit_of_work() as session:
        session.add(
            AuditEntry(actor="operator:a", action=flagged.REFUNDING, subject=f"flag:{item}")
        )
    outcome = flagged.keep_credit(console.store, settings, item, "operator:b")
    assert not outcome.changed and "being refunded" in outcome.message
    with console.store.unit_of_work() as session:
        assert session.scalars(select(Credit)).all() == []


def test_a_failed_refund_leaves_the_item_for_credit(console, settings, gateway, monkeypatch):
    from settle.adapters.payments import PaymentGatewayError

    item = _overpay(console.store, settings)

    def refuse(request):
        raise PaymentGatewayError("card network down")

    monkeypatch.setattr(gateway, "refund", refuse)
    outcome = flagged.refund_difference(console.store, gateway, settings, item, "operator:a")
    assert not outcome.changed and "stays in the queue" in outcome.message
    assert _state(console.store) == ("paid", 100000)
    assert flagged.keep_credit(console.store, settings, item, "operator:a").changed
    assert _state(console.store) == ("paid", 80000)


def test_a_payment_that_matches_nothing_is_marked_reviewed_with_a_note(console, settings):
    with console.store.unit_of_work() as session:
        event = {
            "id": "evt_lost",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": "cs_lost",
                    "payment_status": "paid",
                    "amount_total": 4200,
                    "currency": "usd",
                }
            },
        }
        assert handle_payment_event(session, event, settings, provider="sandbox") == "unmatched"
        item = session.scalar(select(AuditEntry.id).where(AuditEntry.action == "payment.unmatched"))
    agent = console.signed_in("bo@example.com", "agent")
    assert "matches no invoice" in agent.get("/console").body
    path = f"/console/queue/mismatch/{item}/reviewed"
    empty = agent.post(path, _form(agent, path, note=" "))
    assert empty.status == 409 and "Say what was done" in empty.body
    done = agent.post(path, _form(agent, path, note="refunded in Stripe re_123"))
    assert done.status == 200
    assert "Nothing waits for a person" in agent.get("/console").body
    with console.store.unit_of_work() as session:
        resolved = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "flag.resolved")
        ).one()
        assert resolved.detail["note"] == "refunded in Stripe re_123"


@pytest.mark.parametrize("kind, action", [("overpaid", "refund"), ("mismatch", "reviewed")])
def test_an_item_of_another_kind_is_not_found(console, settings, kind, action):
    item = _overpay(console.store, settings)
    with console.store.unit_of_work() as session:
        other = session.scalar(select(AuditEntry.id).where(AuditEntry.action == "payment.recorded"))
    target = other if kind == "overpaid" else item
    agent = console.signed_in("bo@example.com", "agent")
    token = re.search(r"name=csrf value='([^']+)'", agent.get("/console").body).group(1)
    reply = agent.post(f"/console/queue/{kind}/{target}/{action}", {"csrf": token, "note": "x"})
    assert reply.status == 404
    assert _state(console.store) == ("paid", 100000)


def test_a_payment_whose_excess_became_credit_refunds_only_the_rest(console, settings, gateway):
    """1,000.00 paid on 800.00, 200.00 kept as credit: a refund of the payment returns
    800.00 at most, or the customer would have the 200.00 twice (back and as credit)."""
    from settle.refunds.issue import issue_refund

    item = _overpay(console.store, settings)
    assert flagged.keep_credit(console.store, settings, item, "operator:a").changed
    with console.store.unit_of_work() as session:
        payment_id = session.get(AuditEntry, item).detail["payment_id"]
    result = issue_refund(
        console.store,
        gateway,
        settings,
        settings.policy,
        "C1",
        payment_id,
        "overcharge",
        "operator:a",
        approved=True,
    )
    assert (result.status, result.amount_minor) == ("issued", 80000)
    assert [r.amount_minor for r in gateway.refunds] == [80000]
    too_much = issue_refund(
        console.store,
        gateway,
        settings,
        settings.policy,
        "C1",
        payment_id,
        "overcharge",
        "operator:a",
        amount_minor=90000,
        approved=True,
    )
    assert too_much.status != "issued"
