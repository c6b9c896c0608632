"""Attacks on the operator console that once got through, each kept as the test that
caught it (the attempts that held are in tests/security/test_console*.py)."""

from __future__ import annotations

from sqlalchemy import select

from settle.app import runtime
from settle.console import resolve
from settle.store.models import AuditEntry, Refund
from tests.security import test_work_queue as work_queue
from tests.security.test_work_queue import console, gateway  # noqa: F401 (fixtures)


def test_a_refund_declined_while_its_approval_is_at_stripe_is_not_also_made(console, gateway):  # noqa: F811
    """Two operators on one refund: Bo approves, and while Stripe answers him Ann declines.
    The customer must not get the money and a message saying no."""
    entry = work_queue._refund_for_a_person(console, gateway)
    declined = []
    refund = gateway.refund

    def slow_stripe(request):
        settle = runtime.current()
        ann = "operator:ann@example.com"
        declined.append(resolve.decline_refund(settle.store, settle.settings, entry, ann, "No."))
        return refund(request)

    gateway.refund = slow_stripe
    bo = console.signed_in("bo@example.com", "agent")
    path = f"/console/queue/refund/{entry}/approve"
    assert bo.post(path, work_queue._form(bo, path)).status == 200
    assert [outcome.changed for outcome in declined] == [False]
    assert not any("No." in body for _, body in work_queue._messages(console.store))
    with console.store.unit_of_work() as session:
        assert len(session.scalars(select(Refund)).all()) == 1
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("refund.%"))
        ).all()
    assert "refund.approved" in actions and "refund.declined" not in actions
