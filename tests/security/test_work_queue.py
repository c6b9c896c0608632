"""The console's work queue over real HTTP: an agent sees what waits for a person and
decides it once, with the customer told in their language and the operator in the audit
log. Each test checks what changed (or did not), not only the status."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sanic import Sanic
from sqlalchemy import select

from settle.access.lockout import record_miss
from settle.access.records import IdentityLock
from settle.adapters.payments import SandboxGateway
from settle.app import runtime
from settle.app.service import build_app
from settle.billing.disputes import open_dispute
from settle.billing.handoff import record_handoff
from settle.core import i18n
from settle.refunds.issue import issue_refund
from settle.reminders.holds import disputed_invoices
from settle.store.models import (
    AuditEntry,
    Customer,
    Dispute,
    Invoice,
    Message,
    Payment,
    Refund,
    utcnow,
)
from tests.security.test_console import Console
from tests.unit.test_readiness import serving
from tests.unit.trackers import RecordingSms


class CountingGateway(SandboxGateway):
    """The sandbox, counting the refunds it is asked for."""

    def __init__(self, base_url: str):
        super().__init__(base_url)
        self.refunds: list = []

    def refund(self, request):
        self.refunds.append(request)
        return super().refund(request)


@pytest.fixture
def gateway(settings):
    return CountingGateway(settings.public_base_url)


@pytest.fixture
def console(sqlite_store, settings, gateway, monkeypatch):
    monkeypatch.setattr(Sanic, "test_mode", True)
    runtime.use(runtime.Settle(settings, sqlite_store, gateway, RecordingSms()))
    with serving(build_app()) as url:
        yield Console(url, sqlite_store)
    runtime.use(None)


def _seed(store):
    """Lea (French) with invoice INV-1 and a 500.00 sandbox payment on it."""
    with store.unit_of_work() as session:
        session.add(
            Customer(id="C1", name="Lea", phone="+14155550101", postal_code="94110", language="fr")
        )
        session.add(
            Invoice(
                id="INV-1",
                customer_id="C1",
                amount_minor=80000,
                currency="USD",
                issued_on=dt.date(2026, 1, 1),
                due_on=dt.date(2026, 2, 1),
            )
        )
        session.flush()
        payment = Payment(
            invoice_id="INV-1",
            amount_minor=50000,
            currency="USD",
            provider="sandbox",
            provider_ref="pi_1",
            created_at=utcnow() - dt.timedelta(days=2),
        )
        session.add(payment)
        session.flush()
        return payment.id


def _form(browser, path: str, **fields) -> dict:
    """The queue form posting to `path`, filled in (its CSRF token as the page gave it)."""
    page = browser.get("/console").body
    assert f"action={path}>" in page, page
    token = re.search(r"name=csrf value='([^']+)'", page).group(1)
    return {"csrf": token, **fields}


def _messages(store) -> list[tuple[str, str]]:
    with store.unit_of_work() as session:
        return [(m.to, m.body) for m in session.scalars(select(Message).order_by(Message.id))]


def test_an_agent_sees_the_queue_and_settles_a_dispute_once(console):
    _seed(console.store)
    with console.store.unit_of_work() as session:
        dispute = open_dispute(session, "C1", "INV-1", "Never done", "conversation:+14155550101")
        dispute_id = dispute.id
        handoff = record_handoff(session, "conversation:x", "asked", {"channel": "sms"})
    agent = console.signed_in("bo@example.com", "agent")
    page = agent.get("/console").body
    assert "Work queue (2)" in page and "Lea (C1)" in page and "$800.00" in page
    assert page.index(f"/console/queue/dispute/{dispute_id}/") < page.index(
        f"/console/queue/handoff/{handoff}/"
    )  # oldest first
    path = f"/console/queue/dispute/{dispute_id}/rejected"
    form = _form(agent, path, note="Work was done, photos on file")
    assert "the customer is told" in agent.post(path, form).body
    again = agent.post(path, form)
    assert again.status == 409 and "already resolved" in again.body
    with console.store.unit_of_work() as session:
        assert session.get(Dispute, dispute_id).status == "resolved"
        assert session.get(Invoice, "INV-1").status == "open"  # reminders resume
        assert disputed_invoices(session) == set()
    expected = i18n.text("dispute_rejected", "fr", business="Acme Plumbing", invoice="INV-1")
    assert _messages(console.store) == [("+14155550101", expected)]
    assert ("operator:bo@example.com", "dispute.resolved", "invoice:INV-1") in console.audit()
    assert f"/console/queue/dispute/{dispute_id}/" not in agent.get("/console").body
    done = f"/console/queue/handoff/{handoff}/done"
    assert agent.post(done, _form(agent, done, note="called back")).status == 200
    assert "Nothing waits for a person" in agent.get("/console").body


def test_an_upheld_dispute_voids_the_invoice(console):
    _seed(console.store)
    with console.store.unit_of_work() as session:
        dispute_id = open_dispute(session, "C1", "INV-1", "Not mine", "conversation:x").id
    agent = console.signed_in("bo@example.com", "agent")
    path = f"/console/queue/dispute/{dispute_id}/upheld"
    assert agent.post(path, _form(agent, path, note="our mistake")).status == 200
    with console.store.unit_of_work() as session:
        assert session.get(Invoice, "INV-1").status == "void"  # reminders and plans stop
    expected = i18n.text("dispute_upheld", "fr", business="Acme Plumbing", invoice="INV-1")
    assert _messages(console.store) == [("+14155550101", expected)]


def _refund_for_a_person(console, gateway) -> int:
    payment_id = _seed(console.store)
    first = issue_refund(
        console.store,
        gateway,
        runtime.current().settings,
        runtime.current().policy,
        "C1",
        payment_id,
        "overcharge",
        "conversation:x",
    )
    assert first.status == "person" and gateway.refunds == []
    with console.store.unit_of_work() as session:
        return session.scalar(select(AuditEntry.id).where(AuditEntry.action == "refund.person"))


def test_approving_a_refund_twice_refunds_once(console, gateway):
    entry = _refund_for_a_person(console, gateway)
    agent = console.signed_in("bo@example.com", "agent")
    path = f"/console/queue/refund/{entry}/approve"
    form = _form(agent, path)
    assert agent.post(path, form).status == 200
    assert agent.post(path, form).status == 409
    assert len(gateway.refunds) == 1
    with console.store.unit_of_work() as session:
        refunds = session.scalars(select(Refund)).all()
        assert [(r.amount_minor, r.status) for r in refunds] == [(50000, "succeeded")]
    assert [body for _, body in _messages(console.store)][0].startswith("Acme Plumbing : votre")
    assert f"/console/queue/refund/{entry}/" not in agent.get("/console").body


def test_declining_a_refund_tells_the_customer(console, gateway):
    entry = _refund_for_a_person(console, gateway)
    agent = console.signed_in("bo@example.com", "agent")
    path = f"/console/queue/refund/{entry}/decline"
    assert agent.post(path, _form(agent, path, reason="")).status == 409  # a reason is needed
    assert agent.post(path, _form(agent, path, reason="Paid in full.")).status == 200
    assert gateway.refunds == []
    [(to, body)] = _messages(console.store)
    assert to == "+14155550101" and "Paid in full." in body and "500,00" in body
    assert ("operator:bo@example.com", "refund.declined", "payment:1") in console.audit()


def test_unlocking_clears_the_lock(console, settings):
    _seed(console.store)
    with console.store.unit_of_work() as session:
        rules = settings.security.lockout
        for _ in range(rules.limit_for("customer").misses):
            record_miss(session, rules, {"customer": "C1"}, "conversation:x")
        lock_id = session.scalar(select(IdentityLock.id))
    agent = console.signed_in("bo@example.com", "agent")
    path = f"/console/queue/lock/{lock_id}/unlock"
    form = _form(agent, path)
    assert "is lifted" in agent.post(path, form).body
    assert agent.post(path, form).status == 409
    with console.store.unit_of_work() as session:
        lock = session.get(IdentityLock, lock_id)
        assert lock.cleared_by == "operator:bo@example.com"


def test_a_queue_form_without_its_token_changes_nothing(console):
    _seed(console.store)
    with console.store.unit_of_work() as session:
        dispute_id = open_dispute(session, "C1", "INV-1", "Never done", "conversation:x").id
    agent = console.signed_in("bo@example.com", "agent")
    path = f"/console/queue/dispute/{dispute_id}/upheld"
    assert agent.post(path, {"note": "x"}).status == 403
    assert agent.post(path, {"note": "x", "csrf": "guessed"}).status == 403
    with console.store.unit_of_work() as session:
        assert session.get(Dispute, dispute_id).status == "open"
        assert session.get(Invoice, "INV-1").status == "open"
    assert _messages(console.store) == []
