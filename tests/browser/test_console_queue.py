"""The console's work queue in headless Chromium, against the Settle service's app served
in-process: an agent signs in, rejects a dispute and approves a refund, and the customer is
told each time. Screenshots go to results/browser/."""

from __future__ import annotations

import pytest
from sanic import Sanic
from sqlalchemy import select

from settle.app import runtime
from settle.app.service import build_app
from settle.billing.disputes import open_dispute
from settle.console import accounts
from settle.refunds.issue import issue_refund
from settle.store.models import Dispute, Message, Refund
from tests.browser.test_console_report import first_sign_in
from tests.browser.test_webchat import browser, shot  # noqa: F401 (a fixture)
from tests.security.test_work_queue import CountingGateway, _seed
from tests.unit.test_readiness import serving
from tests.unit.trackers import RecordingSms


@pytest.fixture
def service(sqlite_store, settings, monkeypatch):
    """A dispute and a refund the policy leaves to a person, both for Lea (French)."""
    gateway = CountingGateway(settings.public_base_url)
    monkeypatch.setattr(Sanic, "test_mode", True)
    runtime.use(runtime.Settle(settings, sqlite_store, gateway, RecordingSms()))
    payment_id = _seed(sqlite_store)
    with sqlite_store.unit_of_work() as session:
        open_dispute(session, "C1", "INV-1", "Never done", "conversation:+14155550101")
        password = accounts.add_operator(session, "bo@example.com", "agent", "test")
    refund = issue_refund(
        sqlite_store, gateway, settings, settings.policy, "C1", payment_id, "overcharge", "x"
    )
    assert refund.status == "person" and gateway.refunds == []
    with serving(build_app()) as url:
        yield url, password, gateway
    runtime.use(None)


def test_an_agent_settles_a_dispute_and_a_refund_from_the_queue(browser, service, sqlite_store):  # noqa: F811
    url, password, gateway = service
    page = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
    page.goto(f"{url}/console")
    first_sign_in(page, "bo@example.com", password)
    assert "Work queue (2)" in page.content()
    shot(page, "console-03-queue")

    dispute = page.locator("form[action$='/rejected']")
    dispute.locator("input[name=note]").fill("Work was done, photos on file")
    dispute.locator("button").click()
    page.wait_for_load_state()
    assert "the customer is told" in page.content()
    page.goto(f"{url}/console")
    assert "Work queue (1)" in page.content()
    page.locator("form[action$='/approve'] button").click()
    page.wait_for_load_state()
    page.goto(f"{url}/console")
    assert "Nothing waits for a person" in page.content()
    shot(page, "console-04-queue-done")

    assert len(gateway.refunds) == 1
    with sqlite_store.unit_of_work() as session:
        assert session.scalar(select(Dispute.status)) == "resolved"
        assert [r.status for r in session.scalars(select(Refund))] == ["succeeded"]
        told = [m.body for m in session.scalars(select(Message).order_by(Message.id))]
    assert len(told) == 2 and all(body.startswith("Acme Plumbing") for body in told)
