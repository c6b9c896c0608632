"""Refunds: the policy's rules, one refund per payment (even racing), Stripe's answers and
webhooks, and the confirmation text once the refund has succeeded."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from settle.adapters.payments import PaymentGatewayError, RefundReceipt
from settle.billing.reconcile import handle_payment_event
from settle.config import BusinessSettings, Settings
from settle.refunds import decide_payment, issue_refund, refundable_payments
from settle.refunds.decision import PriorRefund, RefundFacts, decide
from settle.rules.policy import STRIPE_REFUND_REASONS, Policy, RefundPolicy, Skills
from settle.store.db import Store
from settle.store.models import AuditEntry, Customer, Invoice, Message, Payment, Refund, utcnow

SETTINGS = Settings(
    database_url="sqlite://",
    public_base_url="https://settle.test",
    business=BusinessSettings(name="Acme Plumbing", support_phone="+14155550100"),
)


class RefundingGateway:
    provider = "stripe"

    def __init__(self, status="pending", error=None, delay=0.0):
        self.requests = []
        self.status, self.error, self.delay = status, error, delay
        self._lock = threading.Lock()

    def refund(self, request):
        import time

        with self._lock:
            self.requests.append(request)
        time.sleep(self.delay)
        if self.error:
            raise self.error
        return RefundReceipt(f"re_{request.payment_intent}", self.status)


def _seed(session, payments=((12000, 3),), customer="C1"):
    """Payments of (amount, days ago) on INV-1 of C1; returns their ids."""
    session.add(Customer(id=customer, name="Ava", phone="+14155550101", postal_code="94110"))
    session.add(
        Invoice(
            id="INV-1",
            customer_id=customer,
            amount_minor=50000,
            currency="USD",
            issued_on=dt.date(2026, 1, 1),
            due_on=dt.date(2026, 2, 1),
        )
    )
    session.flush()
    ids = []
    for n, (amount, days) in enumerate(payments, start=1):
        payment = Payment(
            invoice_id="INV-1",
            amount_minor=amount,
            currency="USD",
            provider="stripe",
            provider_ref=f"pi_{n}",
            created_at=utcnow() - dt.timedelta(days=days),
        )
        session.add(payment)
        session.flush()
        ids.append(payment.id)
    return ids


@pytest.mark.parametrize(
    "policy, reason, amount, days, outcome, rule",
    [
        (Policy(), "duplicate", None, 3, "approve", "within_policy"),
        (Policy(), "overcharge", 5000, 3, "approve", "within_policy"),
        (Policy(), "changed_my_mind", None, 3, "refuse", "reason_not_accepted"),
        (Policy(), "duplicate", None, 61, "refuse", "outside_window"),
        (Policy(), "duplicate", 13000, 3, "refuse", "invalid_amount"),
        (
            Policy(refunds=replace(RefundPolicy(), partial_allowed=False)),
            "duplicate",
            5000,
            3,
            "refuse",
            "partial_not_allowed",
        ),
        (
            Policy(refunds=replace(RefundPolicy(), auto_approve_limit_minor=10000)),
            "duplicate",
            None,
            3,
            "person",
            "over_auto_approve_limit",
        ),
        (Policy(skills=Skills(refunds=False)), "duplicate", None, 3, "person", "refunds_disabled"),
    ],
)
def test_the_policy_decides(store, policy, reason, amount, days, outcome, rule):
    with store.unit_of_work() as session:
        (payment_id,) = _seed(session, ((12000, days),))
        decision = decide_payment(session, policy, payment_id, reason, amount)
    assert (decision.outcome, decision.rule) == (outcome, rule)


def test_too_many_refunds_in_the_period(store):
    policy = Policy(refunds=replace(RefundPolicy(), max_per_customer=1))
    with store.unit_of_work() as session:
        first, second = _seed(session, ((12000, 3), (3000, 2)))
    with store.unit_of_work() as session:
        result = issue_refund(
            store, RefundingGateway(), SETTINGS, policy, "C1", first, "duplicate", "test"
        )
        assert result.status == "issued"
        assert decide_payment(session, policy, second, "duplicate").rule == "too_many_refunds"


def test_refundable_payments_most_recent_first_with_refunds(store):
    with store.unit_of_work() as session:
        old, recent = _seed(session, ((12000, 10), (3000, 1)))
    with store.unit_of_work() as session:
        issue_refund(
            store,
            RefundingGateway(),
            SETTINGS,
            Policy(),
            "C1",
            old,
            "duplicate",
            "test",
            amount_minor=2000,
        )
        listed = refundable_payments(session, "C1")
    assert [(p.id, p.amount_minor, p.refunded_minor) for p in listed] == [
        (recent, 3000, 0),
        (old, 12000, 2000),
    ]


def test_issue_refund_asks_stripe_once_and_confirms_on_success(store):
    gateway = RefundingGateway(status="pending")
    with store.unit_of_work() as session:
        (payment_id,) = _seed(session)
    with store.unit_of_work() as session:
        result = issue_refund(
            store, gateway, SETTINGS, Policy(), "C1", payment_id, "overcharge", "conversation:test"
        )
        again = issue_refund(
            store, gateway, SETTINGS, Policy(), "C1", payment_id, "overcharge", "conversation:test"
        )
    assert (result.status, result.amount_minor) == ("issued", 12000)
    assert (again.status, again.refund_id) == ("already_refunded", result.refund_id)
    assert len(gateway.requests) == 1
    request = gateway.requests[0]
    assert (
        request.payment_intent,
        request.amount_minor,
        request.reason,
        request.idempotency_key,
    ) == ("pi_1", 12000, "requested_by_customer", f"settle:refund:{payment_id}")
    with store.unit_of_work() as session:
        refund = session.get(Refund, result.refund_id)
        assert (refund.status, refund.provider_ref) == ("pending", "re_pi_1")
        assert session.scalar(select(func.count(Message.id))) == 0  # not yet succeeded
        event = {
            "id": "evt_r1",
            "type": "refund.updated",
            "data": {
                "object": {
                    "id": "re_pi_1",
                    "object": "refund",
                    "status": "succeeded",
                    "amount": 12000,
                    "payment_intent": "pi_1",
                }
            },
        }
        assert handle_payment_event(session, event, SETTINGS) == "refund_succeeded"
        charge = {
            "id": "evt_c1",
            "type": "charge.refunded",
            "data": {"object": {"id": "ch_1", "payment_intent": "pi_1", "amount_refunded": 12000}},
        }
        assert handle_payment_event(session, charge, SETTINGS) == "unchanged"
        assert handle_payment_event(session, event, SETTINGS) == "duplicate"
    with store.unit_of_work() as session:
        texts = session.scalars(select(Message)).all()
        assert len(texts) == 1 and "$120.00" in texts[0].body and "INV-1" in texts[0].body
        assert session.get(Refund, result.refund_id).status == "succeeded"
        actions = session.scalars(select(AuditEntry.action)).all()
        assert {"refund.requested", "refund.issued", "refund.succeeded"} <= set(actions)


def test_charge_refunded_alone_confirms_it(store):
    with store.unit_of_work() as session:
        (payment_id,) = _seed(session)
    with store.unit_of_work() as session:
        issue_refund(
            store, RefundingGateway(), SETTINGS, Policy(), "C1", payment_id, "duplicate", "test"
        )
        charge = {
            "id": "evt_c1",
            "type": "charge.refunded",
            "data": {"object": {"id": "ch_1", "payment_intent": "pi_1", "amount_refunded": 12000}},
        }
        assert handle_payment_event(session, charge, SETTINGS) == "refund_succeeded"


def test_a_stripe_failure_keeps_the_refund_failed_and_a_person_follows_up(store):
    gateway = RefundingGateway(error=PaymentGatewayError("Stripe refused the refund: boom"))
    with store.unit_of_work() as session:
        (payment_id,) = _seed(session)
    with store.unit_of_work() as session:
        result = issue_refund(
            store, gateway, SETTINGS, Policy(), "C1", payment_id, "duplicate", "test"
        )
    assert (result.status, result.rule) == ("failed", "gateway_error")
    with store.unit_of_work() as session:
        refund = session.get(Refund, result.refund_id)
        assert refund.status == "failed" and "boom" in refund.error
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "refund.failed"))
    retry = issue_refund(
        store, RefundingGateway(), SETTINGS, Policy(), "C1", payment_id, "duplicate", "test"
    )
    assert (retry.status, retry.rule) == ("person", "previous_refund_failed")


def test_someone_elses_payment_is_refused(store):
    with store.unit_of_work() as session:
        (payment_id,) = _seed(session)
    with store.unit_of_work() as session:
        result = issue_refund(
            store, RefundingGateway(), SETTINGS, Policy(), "C2", payment_id, "duplicate", "test"
        )
    assert (result.status, result.rule) == ("refused", "not_your_payment")


def test_refused_and_person_are_audited_without_a_refund(store):
    policy = Policy(refunds=replace(RefundPolicy(), auto_approve_limit_minor=10000))
    gateway = RefundingGateway()
    with store.unit_of_work() as session:
        (payment_id,) = _seed(session)
    with store.unit_of_work() as session:
        person = issue_refund(
            store, gateway, SETTINGS, policy, "C1", payment_id, "duplicate", "test"
        )
        refused = issue_refund(store, gateway, SETTINGS, policy, "C1", payment_id, "nope", "test")
        assert session.scalar(select(func.count(Refund.id))) == 0
    assert (person.status, person.rule) == ("person", "over_auto_approve_limit")
    assert (refused.status, refused.rule) == ("refused", "reason_not_accepted")
    assert gateway.requests == []


def test_a_payment_taken_by_another_provider_goes_to_a_person(store):
    class SandboxRefunds(RefundingGateway):
        provider = "sandbox"

    gateway = SandboxRefunds()
    with store.unit_of_work() as session:
        (payment_id,) = _seed(session)
    result = issue_refund(store, gateway, SETTINGS, Policy(), "C1", payment_id, "duplicate", "t")
    assert (result.status, result.refund_id, result.rule) == ("person", None, "other_provider")
    assert gateway.requests == []
    with store.unit_of_work() as session:
        assert session.scalar(select(func.count(Refund.id))) == 0
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "refund.person")
        ).one()
        assert entry.detail == {"rule": "other_provider", "provider": "stripe"}


def test_an_unknown_payment_is_refused_when_decided_from_the_session(store):
    with store.unit_of_work() as session:
        _seed(session)
        unknown = decide_payment(session, Policy(), 999, "duplicate", 500)
        disabled = decide_payment(session, Policy(skills=Skills(refunds=False)), 999, "duplicate")
    assert (unknown.outcome, unknown.rule, unknown.amount_minor) == (
        "refuse",
        "unknown_payment",
        500,
    )
    assert (disabled.outcome, disabled.rule) == ("person", "refunds_disabled")


def test_two_racing_requests_make_one_refund(database_url):
    """Two threads, two connections, one payment: one Stripe request, one refund row."""
    store = Store.connect(database_url)
    try:
        with store.unit_of_work() as session:
            (payment_id,) = _seed(session)
        gateway = RefundingGateway(delay=0.3)  # Stripe is slow: the other one must wait
        barrier = threading.Barrier(2)
        results = []

        def request():
            barrier.wait()
            with store.unit_of_work():
                results.append(
                    issue_refund(
                        store, gateway, SETTINGS, Policy(), "C1", payment_id, "duplicate", "test"
                    ).status
                )

        threads = [threading.Thread(target=request) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["already_refunded", "issued"]
        assert len(gateway.requests) == 1
        with store.unit_of_work() as session:
            assert session.scalar(select(func.count(Refund.id))) == 1
    finally:
        store.engine.dispose()


def test_no_database_lock_is_held_while_stripe_refunds(sqlite_store):
    from sqlalchemy import create_engine, text

    with sqlite_store.unit_of_work() as session:
        (payment_id,) = _seed(session)
    url = str(sqlite_store.engine.url)

    class WritesMeanwhile(RefundingGateway):
        def refund(self, request):
            engine = create_engine(url, connect_args={"timeout": 0.5})
            with engine.begin() as connection:  # another customer's turn writes meanwhile
                connection.execute(text("UPDATE customers SET language = 'en'"))
            engine.dispose()
            return super().refund(request)

    result = issue_refund(
        sqlite_store, WritesMeanwhile(), SETTINGS, Policy(), "C1", payment_id, "duplicate", "test"
    )
    assert result.status == "issued"


def test_a_refund_cut_off_by_a_crash_is_sent_again_with_its_key(store):
    with store.unit_of_work() as session:
        (payment_id,) = _seed(session)
        session.add(
            Refund(
                payment_id=payment_id,
                customer_id="C1",
                amount_minor=12000,
                currency="USD",
                reason="duplicate",
                status="requested",
                idempotency_key=f"settle:refund:{payment_id}",
                created_at=utcnow() - dt.timedelta(minutes=10),
            )
        )
    gateway = RefundingGateway()
    result = issue_refund(store, gateway, SETTINGS, Policy(), "C1", payment_id, "duplicate", "test")
    assert result.status == "issued"
    [request] = gateway.requests
    assert (request.idempotency_key, request.amount_minor) == (f"settle:refund:{payment_id}", 12000)
    with store.unit_of_work() as session:
        assert session.scalars(select(Refund)).one().status == "pending"


# The pure decision: properties over any facts and any policy.

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
STATUSES = ("requested", "pending", "succeeded", "failed", "canceled")
PROVIDERS = ("stripe", "sandbox")

policies = st.builds(
    Policy,
    skills=st.builds(Skills, refunds=st.booleans()),
    refunds=st.builds(
        RefundPolicy,
        window_days=st.integers(1, 400),
        auto_approve_limit_minor=st.integers(0, 60000),
        partial_allowed=st.booleans(),
        reasons=st.lists(st.sampled_from(sorted(STRIPE_REFUND_REASONS)), unique=True).map(tuple),
        max_per_customer=st.integers(1, 5),
        period_days=st.integers(1, 730),
    ),
)
facts = st.builds(
    RefundFacts,
    payment_minor=st.integers(1, 50000),
    paid_at=st.integers(0, 500 * 86400).map(lambda s: NOW - dt.timedelta(seconds=s)),
    provider=st.sampled_from(PROVIDERS),
    refunded=st.lists(
        st.builds(PriorRefund, status=st.sampled_from(STATUSES), by_settle=st.booleans()),
        max_size=3,
    ).map(tuple),
    recent_refunds=st.integers(0, 6),
    reason=st.sampled_from([*sorted(STRIPE_REFUND_REASONS), "changed_my_mind"]),
    requested_minor=st.none() | st.integers(-100, 60000),
    refunds_through=st.none() | st.sampled_from(PROVIDERS),
)


def _already_refunded(f: RefundFacts) -> bool:
    return any(
        r.status != "failed" if r.by_settle else r.status not in ("failed", "canceled")
        for r in f.refunded
    )


@hypothesis_settings(max_examples=200, deadline=None, database=None)
@given(facts, policies)
def test_decide_never_approves_more_than_the_payment(f, policy):
    decision = decide(f, policy, NOW)
    assert decision.amount_minor == (
        f.payment_minor if f.requested_minor is None else f.requested_minor
    )
    if decision.outcome == "approve":
        assert 0 < decision.amount_minor <= f.payment_minor
        assert decision.amount_minor <= policy.refunds.auto_approve_limit_minor


@hypothesis_settings(max_examples=200, deadline=None, database=None)
@given(facts, policies)
def test_decide_never_approves_past_the_window(f, policy):
    if decide(f, policy, NOW).outcome == "approve":
        assert NOW - f.paid_at <= dt.timedelta(days=policy.refunds.window_days)


@hypothesis_settings(max_examples=200, deadline=None, database=None)
@given(facts, policies)
def test_decide_never_approves_when_already_refunded(f, policy):
    decision = decide(f, policy, NOW)
    if any(r.by_settle for r in f.refunded) or _already_refunded(f):
        assert decision.outcome != "approve"
    if _already_refunded(f) and policy.skills.refunds:
        assert (decision.outcome, decision.rule) == ("refuse", "already_refunded")


@hypothesis_settings(max_examples=200, deadline=None, database=None)
@given(facts, policies)
def test_decide_approves_only_when_every_rule_passes(f, policy):
    rules = policy.refunds
    amount = f.payment_minor if f.requested_minor is None else f.requested_minor
    every_rule_passes = (
        policy.skills.refunds
        and not f.refunded
        and f.reason in rules.reasons
        and NOW - f.paid_at <= dt.timedelta(days=rules.window_days)
        and 0 < amount <= f.payment_minor
        and (amount == f.payment_minor or rules.partial_allowed)
        and f.recent_refunds < rules.max_per_customer
        and amount <= rules.auto_approve_limit_minor
        and f.refunds_through in (None, f.provider)
    )
    decision = decide(f, policy, NOW)
    assert (decision.outcome == "approve") == every_rule_passes
    assert (decision.rule == "within_policy") == every_rule_passes


@hypothesis_settings(max_examples=100, deadline=None, database=None)
@given(facts, policies)
def test_decide_hands_over_when_refunds_are_off_and_names_a_rule_otherwise(f, policy):
    decision = decide(f, policy, NOW)
    assert decision.outcome in ("approve", "refuse", "person")
    if not policy.skills.refunds:
        assert (decision.outcome, decision.rule) == ("person", "refunds_disabled")
    person_rules = {"refunds_disabled", "over_auto_approve_limit", "previous_refund_failed"}
    assert (decision.outcome == "person") == (decision.rule in person_rules | {"other_provider"})
