"""Payment plans: schedules (property tests), offers, starting a plan, saved cards,
off-session installments, failures and retries, reminders, completion."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from settle.adapters.payments import ChargeResult, PaymentGatewayError, SandboxGateway
from settle.billing.disputes import open_dispute
from settle.billing.reconcile import handle_payment_event
from settle.messaging.consent import record_opt_out
from settle.plans import (
    PlanNotAvailable,
    ScheduleError,
    charge_due_installments,
    plan_options,
    schedule,
    start_plan,
)
from settle.plans.eligibility import InvoiceFacts, decide_offer
from settle.plans.notices import installment_link
from settle.rules.policy import INTERVALS, PlanRules, Policy, Skills
from settle.store import models
from settle.store.models import AuditEntry, Customer, Invoice, Message, Payment, PaymentLink, Plan

PHONE = "+14155550101"
TODAY = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.timezone.utc)  # 09:00 in Los Angeles


# --- schedules --------------------------------------------------------------------------

rules_strategy = st.builds(
    lambda counts, min_inst, interval, max_days: PlanRules(
        min_balance_minor=min_inst * min(counts),
        installment_counts=tuple(sorted(counts)),
        default_count=min(counts),
        min_installment_minor=min_inst,
        interval=interval,
        max_days=max_days,
    ),
    st.sets(st.integers(2, 12), min_size=1, max_size=4),
    st.integers(1, 50_000),
    st.sampled_from(sorted(INTERVALS)),
    st.integers(1, 400),
)


@hsettings(max_examples=400, deadline=None)
@given(
    balance=st.integers(1, 10_000_000),
    count=st.integers(1, 24),
    rules=rules_strategy,
    start=st.dates(dt.date(2024, 1, 1), dt.date(2030, 12, 31)),
)
def test_a_schedule_sums_exactly_stays_above_the_minimum_and_inside_max_days(
    balance, count, rules, start
):
    try:
        installments = schedule(balance, count, rules, start)
    except ScheduleError as refused:
        # Refused only for a rule it would break.
        regular = balance // count
        assert refused.reason in ("below_min_installment", "too_long")
        if refused.reason == "below_min_installment":
            assert regular < rules.min_installment_minor
        return
    assert len(installments) == count
    assert sum(i.amount_minor for i in installments) == balance  # to the cent
    assert all(i.amount_minor >= rules.min_installment_minor for i in installments)
    assert installments[0].due_on == start
    assert (installments[-1].due_on - start).days <= rules.max_days
    assert [i.due_on for i in installments] == sorted({i.due_on for i in installments})
    # Equal but for the remainder cents, which go on the first.
    assert len({i.amount_minor for i in installments[1:]}) <= 1
    assert 0 <= installments[0].amount_minor - installments[-1].amount_minor < count


@hsettings(max_examples=400, deadline=None)
@given(
    balance=st.integers(-1000, 10_000_000),
    status=st.sampled_from(["open", "paid", "void", "disputed"]),
    disputed=st.booleans(),
    plan_status=st.sampled_from([None, "pending_card", "active"]),
    enabled=st.booleans(),
    rules=rules_strategy,
    today=st.dates(dt.date(2024, 1, 1), dt.date(2030, 12, 31)),
)
def test_an_offer_keeps_every_rule_and_a_refusal_names_the_first_rule_broken(
    balance, status, disputed, plan_status, enabled, rules, today
):
    facts = InvoiceFacts("INV-1", status, balance, "USD", disputed, plan_status)
    policy = Policy(plans=rules, skills=Skills(plans=enabled))
    offer = decide_offer(facts, policy, today)
    broken = [
        reason
        for reason, breaks in [
            ("plans_disabled", not enabled),
            ("not_open", status != "open" or balance <= 0),
            ("disputed", disputed),
            ("already_on_plan", plan_status == "active"),
            ("below_minimum", balance < rules.min_balance_minor),
        ]
        if breaks
    ]
    if broken:
        assert (offer.eligible, offer.reason, offer.options) == (False, broken[0], [])
        return
    counts = [o.count for o in offer.options]
    assert counts == sorted(set(counts)) and set(counts) <= set(rules.installment_counts)
    assert offer.eligible == bool(counts)
    assert offer.reason == ("eligible" if counts else "no_fitting_plan")
    first_day = today + dt.timedelta(days=rules.first_due_within_days)
    for option in offer.options:  # each offered plan is the schedule of its count
        assert list(option.installments) == schedule(balance, option.count, rules, first_day)
    for count in set(rules.installment_counts) - set(counts):  # and none was left out
        with pytest.raises(ScheduleError):
            schedule(balance, count, rules, first_day)
    if counts:
        assert offer.default in offer.options
        assert all(
            abs(offer.default.count - rules.default_count) <= abs(c - rules.default_count)
            for c in counts
        )


def test_monthly_dates_keep_the_day_or_the_last_day_of_the_month():
    rules = PlanRules(interval="monthly", max_days=400, min_installment_minor=1)
    days = [i.due_on for i in schedule(1000, 4, rules, dt.date(2026, 1, 31))]
    assert days == [
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
    ]


def test_the_remainder_cents_go_on_the_first_installment():
    amounts = [i.amount_minor for i in schedule(28501, 3, PlanRules(), TODAY)]
    assert amounts == [9501, 9500, 9500]


# --- offers -----------------------------------------------------------------------------


def _seed(session, amount=28500, status="open", timezone="America/Los_Angeles"):
    session.add(Customer(id="C1", name="Ava", phone=PHONE, postal_code="94110", timezone=timezone))
    session.add(
        Invoice(
            id="INV-1",
            customer_id="C1",
            amount_minor=amount,
            currency="USD",
            issued_on=dt.date(2026, 1, 1),
            due_on=dt.date(2026, 2, 1),
            status=status,
        )
    )
    session.flush()


@pytest.mark.parametrize(
    "amount, status, policy, reason",
    [
        (28500, "open", Policy(), "eligible"),
        (9999, "open", Policy(), "below_minimum"),
        (28500, "paid", Policy(), "not_open"),
        (28500, "open", Policy(skills=Skills(plans=False)), "plans_disabled"),
        (
            28500,
            "open",
            Policy(
                plans=PlanRules(
                    min_installment_minor=20000,
                    min_balance_minor=28500,
                    installment_counts=(2, 3),
                    default_count=2,
                )
            ),
            "no_fitting_plan",
        ),
    ],
)
def test_offers_and_reasons(store, amount, status, policy, reason):
    with store.unit_of_work() as session:
        _seed(session, amount, status)
        offer = plan_options(session, policy, "INV-1", TODAY)
    assert offer.reason == reason
    assert offer.eligible == (reason == "eligible")
    if offer.eligible:
        assert [o.count for o in offer.options] == [2, 3, 4, 6]
        assert offer.default.count == 3
        assert offer.default.installments[0].due_on == TODAY
        assert [i.amount_minor for i in offer.default.installments] == [9500, 9500, 9500]
    else:
        assert offer.options == [] and offer.default is None


def test_only_counts_above_the_minimum_installment_are_offered(store):
    policy = Policy(plans=replace(PlanRules(), min_installment_minor=6000, first_due_within_days=7))
    with store.unit_of_work() as session:
        _seed(session, 28500)
        offer = plan_options(session, policy, "INV-1", TODAY)
    assert [o.count for o in offer.options] == [2, 3, 4]  # 6 × 47.50 is below 60.00
    assert offer.default.first_due_on == TODAY + dt.timedelta(days=7)


def test_a_disputed_invoice_gets_no_plan(store):
    with store.unit_of_work() as session:
        _seed(session)
        open_dispute(session, "C1", "INV-1", "the work was not done", "test")
        assert plan_options(session, Policy(), "INV-1", TODAY).reason == "disputed"
    with pytest.raises(PlanNotAvailable) as refused:
        start_plan(
            store,
            SandboxGateway("https://settle.test"),
            SETTINGS,
            Policy(),
            "C1",
            "INV-1",
            3,
            "turn-1",
            "test",
        )
    assert refused.value.reason == "disputed"


# --- starting a plan and charging it -----------------------------------------------------


class RecordingGateway(SandboxGateway):
    """The sandbox, remembering every call (and declining when told to)."""

    provider = "stripe"

    def __init__(self):
        super().__init__("https://settle.test")
        self.calls = []
        self.answers = []  # ChargeResult or exception, consumed in order

    def ensure_customer(self, customer_id, name, phone, email, idempotency_key):
        self.calls.append(("customer", idempotency_key))
        return "cus_test_1"

    def create_setup_checkout(self, request):
        self.calls.append(("setup", request.idempotency_key))
        return super().create_setup_checkout(request)

    def create_checkout(self, request):
        self.calls.append(("checkout", request.idempotency_key, request.amount_minor))
        self.descriptions = getattr(self, "descriptions", []) + [request.description]
        return super().create_checkout(request)

    def saved_payment_method(self, setup_intent_id):
        self.calls.append(("setup_intent", setup_intent_id))
        return "pm_card_1"

    def charge_off_session(self, charge):
        self.calls.append(
            (
                "charge",
                charge.idempotency_key,
                charge.amount_minor,
                charge.payment_method_id,
                charge.stripe_customer_id,
            )
        )
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return ChargeResult(f"pi_{len(self.calls)}", "succeeded")

    def charges(self):
        return [c for c in self.calls if c[0] == "charge"]


from settle.config import BusinessSettings, Settings  # noqa: E402

SETTINGS = Settings(
    database_url="sqlite://",
    public_base_url="https://settle.test",
    business=BusinessSettings(name="Acme Plumbing", support_phone="+14155550100"),
)


def _start(store, gateway, count=3, key="turn-1", policy=None):
    policy = policy or Policy()
    return start_plan(
        store,
        gateway,
        SETTINGS,
        policy,
        "C1",
        "INV-1",
        count,
        key,
        "conversation:test",
        today=TODAY,
    )


def _save_card(store, gateway, plan_id, event_id="evt_setup"):
    with store.unit_of_work() as session:
        plan = session.get(Plan, plan_id)
        event = {
            "id": event_id,
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": plan.setup_session_id,
                    "mode": "setup",
                    "setup_intent": "seti_1",
                    "customer": "cus_test_1",
                    "metadata": {"plan_id": str(plan_id)},
                }
            },
        }
        return handle_payment_event(session, event, SETTINGS, "stripe", gateway, Policy())


def test_start_plan_records_it_and_texts_the_card_page_once(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    started = _start(store, gateway)
    again = _start(store, gateway)  # the action ran twice
    assert (again.plan_id, again.url, again.reused) == (started.plan_id, started.url, True)
    assert started.reused is False and started.phone_last_digits == "0101"
    assert [i.amount_minor for i in started.option.installments] == [9500, 9500, 9500]
    [customer, setup] = gateway.calls
    assert customer == ("customer", "settle:customer:C1")
    assert setup[0] == "setup" and setup[1].startswith(f"settle:setup:plan:{started.plan_id}:")
    with store.unit_of_work() as session:
        plan = session.get(Plan, started.plan_id)
        assert (plan.status, plan.installment_count, plan.total_minor) == ("pending_card", 3, 28500)
        assert [(i.seq, i.due_on, i.status) for i in plan.installments] == [
            (1, TODAY, "scheduled"),
            (2, dt.date(2026, 4, 2), "scheduled"),
            (3, dt.date(2026, 5, 2), "scheduled"),
        ]
        assert session.get(Customer, "C1").stripe_customer_id == "cus_test_1"
        texts = session.scalars(select(Message)).all()
        assert len(texts) == 1 and started.url in texts[0].body and "3 payments" in texts[0].body
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "plan.created"))


def test_another_count_before_the_card_replaces_the_plan_but_not_after(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    first = _start(store, gateway, count=3)
    second = _start(store, gateway, count=4, key="turn-2")
    assert second.plan_id != first.plan_id and len(second.option.installments) == 4
    with store.unit_of_work() as session:
        assert session.get(Plan, first.plan_id).status == "cancelled"
    assert _save_card(store, gateway, second.plan_id) == "plan_active"
    with pytest.raises(PlanNotAvailable) as refused:
        _start(store, gateway, count=2, key="turn-3")
    assert refused.value.reason == "already_on_plan"
    with pytest.raises(PlanNotAvailable) as refused:
        start_plan(store, gateway, SETTINGS, Policy(), "C2", "INV-1", 3, "x", "test")
    assert refused.value.reason == "not_found"


def test_a_count_the_rules_do_not_allow_is_refused(store):
    with store.unit_of_work() as session:
        _seed(session)
    with pytest.raises(PlanNotAvailable) as refused:
        _start(store, RecordingGateway(), count=5)
    assert refused.value.reason == "count_not_allowed"


def test_saved_card_activates_texts_the_schedule_and_charges_each_installment_on_its_date(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway).plan_id
    assert _save_card(store, gateway, plan_id) == "plan_active"
    assert _save_card(store, gateway, plan_id, "evt_setup") == "duplicate"  # redelivered
    with store.unit_of_work() as session:
        plan = session.get(Plan, plan_id)
        assert (plan.status, plan.payment_method_id) == ("active", "pm_card_1")
        confirmation = session.scalar(
            select(Message).where(Message.idempotency_key == f"plan_confirmed:{plan_id}")
        )
        assert "$95.00" in confirmation.body and confirmation.body.count("\n") >= 3

    first = charge_due_installments(store, gateway, SETTINGS, Policy(), NOW)
    assert (first.charged, first.failed) == (1, 0)
    again = charge_due_installments(store, gateway, SETTINGS, Policy(), NOW)
    assert again.charged == 0  # nothing else is due today
    installment_ids = _installment_ids(store, plan_id)
    assert gateway.charges() == [
        ("charge", f"settle:installment:{installment_ids[0]}:1", 9500, "pm_card_1", "cus_test_1")
    ]
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, "INV-1")
        assert (invoice.balance_minor, invoice.status) == (19000, "open")
        assert session.scalars(select(Payment.provider_ref)).all() == ["pi_4"]

    # Three days before the second installment: a reminder, once.
    before = NOW + dt.timedelta(days=28)
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), before).reminded == 1
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), before).reminded == 0
    for day in (
        dt.datetime(2026, 4, 2, 17, tzinfo=dt.timezone.utc),
        dt.datetime(2026, 5, 2, 17, tzinfo=dt.timezone.utc),
    ):
        assert charge_due_installments(store, gateway, SETTINGS, Policy(), day).charged == 1
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, "INV-1")
        plan = session.get(Plan, plan_id)
        assert (invoice.balance_minor, invoice.status, plan.status) == (0, "paid", "completed")
        assert [i.status for i in plan.installments] == ["paid", "paid", "paid"]
        last = session.scalar(
            select(Message).where(
                Message.idempotency_key == f"installment_paid:{installment_ids[2]}"
            )
        )
        assert "paid in full" in last.body


def _installment_ids(store, plan_id):
    with store.unit_of_work() as session:
        return [i.id for i in session.get(Plan, plan_id).installments]


def test_the_due_date_is_the_customers_day_not_utc(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway).plan_id
    _save_card(store, gateway, plan_id)
    # 2026-03-02 06:00 UTC is still March 1st in Los Angeles.
    early = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.timezone.utc)
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), early).charged == 0
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), NOW).charged == 1


def test_a_declined_installment_texts_a_pay_link_and_is_retried_then_the_plan_fails(store):
    gateway = RecordingGateway()
    policy = Policy(plans=replace(PlanRules(), retry_attempts=1, retry_days=3))
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway, policy=policy).plan_id
    _save_card(store, gateway, plan_id)
    first_id = _installment_ids(store, plan_id)[0]
    gateway.answers = [
        ChargeResult("pi_declined_1", "failed", "Your card was declined."),
        ChargeResult("pi_declined_2", "failed", "Your card was declined."),
    ]
    assert charge_due_installments(store, gateway, SETTINGS, policy, NOW).failed == 1
    with store.unit_of_work() as session:
        installment = session.get(models.Installment, first_id)
        assert (installment.status, installment.attempts) == ("failed", 1)
        assert installment.next_attempt_at == NOW + dt.timedelta(days=3)
        link = session.scalar(select(PaymentLink).where(PaymentLink.installment_id == first_id))
        assert link.amount_minor == 9500
        assert link.expires_at <= installment.next_attempt_at  # gone before the retry
        text = session.scalar(
            select(Message).where(Message.idempotency_key == f"installment_failed:{first_id}:1")
        )
        assert link.url in text.body and "try your card again" in text.body
    # Not retried before its time, then retried under a new attempt number.
    assert charge_due_installments(store, gateway, SETTINGS, policy, NOW).failed == 0
    later = NOW + dt.timedelta(days=3, minutes=1)
    assert charge_due_installments(store, gateway, SETTINGS, policy, later).failed == 1
    assert [c[1] for c in gateway.charges()] == [
        f"settle:installment:{first_id}:1",
        f"settle:installment:{first_id}:2",
    ]
    with store.unit_of_work() as session:
        plan = session.get(Plan, plan_id)
        assert plan.status == "failed" and plan.installments[0].next_attempt_at is None
        final = session.scalar(
            select(Message).where(Message.idempotency_key == f"installment_failed:{first_id}:2")
        )
        assert "+14155550100" in final.body
    assert (
        charge_due_installments(
            store, gateway, SETTINGS, policy, later + dt.timedelta(days=30)
        ).failed
        == 0
    )


def test_a_declined_installments_pay_page_names_it_in_the_customers_language(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
        session.get(Customer, "C1").language = "de"
    plan_id = _start(store, gateway).plan_id
    _save_card(store, gateway, plan_id)
    gateway.answers = [ChargeResult("pi_declined_1", "failed", "Your card was declined.")]
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), NOW).failed == 1
    assert gateway.descriptions[-1].startswith("Rechnung INV-1, Rate 1 von "), gateway.descriptions


def test_an_installment_paid_by_hand_through_its_link(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway).plan_id
    _save_card(store, gateway, plan_id)
    first_id = _installment_ids(store, plan_id)[0]
    gateway.answers = [ChargeResult("pi_declined", "failed", "Insufficient funds.")]
    charge_due_installments(store, gateway, SETTINGS, Policy(), NOW)
    with store.unit_of_work() as session:
        link = session.scalar(select(PaymentLink).where(PaymentLink.installment_id == first_id))
        event = {
            "id": "evt_hand",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": link.session_id,
                    "payment_status": "paid",
                    "amount_total": 9500,
                    "currency": "usd",
                    "payment_intent": "pi_by_hand",
                }
            },
        }
        assert handle_payment_event(session, event, SETTINGS, "stripe", gateway) == "partially_paid"
    with store.unit_of_work() as session:
        assert session.get(models.Installment, first_id).status == "paid"
        assert session.get(Invoice, "INV-1").balance_minor == 19000
    later = NOW + dt.timedelta(days=3, minutes=1)
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), later).charged == 0
    assert len(gateway.charges()) == 1  # never charged again


def test_an_unanswered_charge_is_asked_again_with_the_same_key(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway).plan_id
    _save_card(store, gateway, plan_id)
    gateway.answers = [PaymentGatewayError("timed out")]
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), NOW).unanswered == 1
    # Another pass inside the lease does not touch it; after the lease, the same key again.
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), NOW).charged == 0
    after = NOW + dt.timedelta(minutes=16)
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), after).charged == 1
    keys = [c[1] for c in gateway.charges()]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_webhooks_settle_a_processing_installment_once(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway).plan_id
    _save_card(store, gateway, plan_id)
    gateway.answers = [ChargeResult("pi_slow", "processing")]
    assert charge_due_installments(store, gateway, SETTINGS, Policy(), NOW).processing == 1
    event = {
        "id": "evt_pi",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {"id": "pi_slow", "amount": 9500, "amount_received": 9500, "metadata": {}}
        },
    }
    with store.unit_of_work() as session:
        assert (
            handle_payment_event(session, event, SETTINGS, "stripe", gateway) == "installment_paid"
        )
    with store.unit_of_work() as session:
        again = dict(event, id="evt_pi_2")
        assert handle_payment_event(session, again, SETTINGS, "stripe", gateway) == "duplicate"
        assert session.get(Invoice, "INV-1").balance_minor == 19000


def test_reminders_respect_opt_outs(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway).plan_id
    _save_card(store, gateway, plan_id)
    charge_due_installments(store, gateway, SETTINGS, Policy(), NOW)
    with store.unit_of_work() as session:
        record_opt_out(session, PHONE, "sms", "test")
    charge_due_installments(store, gateway, SETTINGS, Policy(), NOW + dt.timedelta(days=28))
    with store.unit_of_work() as session:
        reminder = session.scalar(
            select(Message).where(Message.idempotency_key.like("installment_reminder:%"))
        )
        assert reminder.status == "refused"


def test_two_passes_racing_charge_an_installment_once(database_url):
    import threading

    from settle.store.db import Store

    store = Store.connect(database_url)
    try:
        gateway = RecordingGateway()
        with store.unit_of_work() as session:
            _seed(session)
        plan_id = _start(store, gateway).plan_id
        _save_card(store, gateway, plan_id)
        barrier = threading.Barrier(4)
        results = []

        def run():
            other = Store(store.engine)
            barrier.wait()
            results.append(charge_due_installments(other, gateway, SETTINGS, Policy(), NOW))

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(r.charged for r in results) == 1
        assert len(gateway.charges()) == 1
    finally:
        store.engine.dispose()


def test_an_expired_card_page_is_replaced_not_texted_again(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    first = _start(store, gateway)
    with store.unit_of_work() as session:
        plan = session.get(Plan, first.plan_id)
        plan.created_at = plan.created_at - dt.timedelta(days=2)
    second = _start(store, gateway, key="turn-9")
    assert second.plan_id != first.plan_id and second.reused is False
    with store.unit_of_work() as session:
        assert session.get(Plan, first.plan_id).status == "cancelled"
        assert session.get(Plan, second.plan_id).status == "pending_card"


def test_two_racing_requests_start_one_plan(database_url):
    import threading

    from settle.store.db import Store

    store = Store.connect(database_url)
    try:
        gateway = RecordingGateway()
        with store.unit_of_work() as session:
            _seed(session)
        barrier, started = threading.Barrier(2), []

        def request(key):
            barrier.wait()
            started.append(_start(store, gateway, key=key))

        threads = [threading.Thread(target=request, args=(f"turn-{n}",)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({s.plan_id for s in started}) == 1
        assert sorted(s.reused for s in started) == [False, True]
        with store.unit_of_work() as session:
            assert len(session.scalars(select(Plan)).all()) == 1
        # A twin that raced the first to Stripe sent the same claim's key: one page at Stripe.
        assert len({c[1] for c in gateway.calls if c[0] == "setup"}) == 1
    finally:
        store.engine.dispose()


def test_a_plan_waiting_for_its_card_does_not_block_offers_and_expires_with_its_page(store):
    gateway = RecordingGateway()
    with store.unit_of_work() as session:
        _seed(session)
    started = _start(store, gateway)
    with store.unit_of_work() as session:
        assert plan_options(session, Policy(), "INV-1", TODAY).eligible
        plan = session.get(Plan, started.plan_id)
        event = {
            "id": "evt_exp",
            "type": "checkout.session.expired",
            "data": {"object": {"id": plan.setup_session_id, "mode": "setup", "status": "expired"}},
        }
        assert handle_payment_event(session, event, SETTINGS, "stripe", gateway) == "plan_cancelled"
        assert session.get(Plan, started.plan_id).status == "cancelled"
    _save_card(store, gateway, started.plan_id)  # too late: the page had expired
    with store.unit_of_work() as session:
        assert session.get(Plan, started.plan_id).status == "cancelled"
        assert plan_options(session, Policy(), "INV-1", TODAY).eligible
    assert _save_card(store, gateway, started.plan_id, "evt_setup_late") == "duplicate"


def test_invoice_show_lists_the_plan(sqlite_store, monkeypatch, capsys):
    from settle.app.cli import main

    gateway = RecordingGateway()
    with sqlite_store.unit_of_work() as session:
        _seed(session)
    _start(sqlite_store, gateway)
    monkeypatch.setenv("DATABASE_URL", str(sqlite_store.engine.url))
    monkeypatch.delenv("SETTLE_SETTINGS", raising=False)
    assert main(["invoice", "show", "INV-1"]) == 0
    out = capsys.readouterr().out
    assert "(pending_card), 3 monthly installments:" in out and "1. $95.00 due 2026-03-02" in out


# --- no database lock held while Stripe answers (settle.store.claims) ----------------------


class WritesWhileAnswering(RecordingGateway):
    """Another customer's turn writes while Stripe is answering: a lock held across the call
    would make it wait out its short busy timeout and fail."""

    def __init__(self, url, fail_checkouts=0):
        super().__init__()
        self.url, self.fail_checkouts = url, fail_checkouts

    def _another_customer_writes(self):
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url, connect_args={"timeout": 0.5})
        try:
            with engine.begin() as connection:
                connection.execute(text("UPDATE customers SET language = 'en' WHERE id = 'C2'"))
        finally:
            engine.dispose()

    def ensure_customer(self, *args, **kwargs):
        self._another_customer_writes()
        return super().ensure_customer(*args, **kwargs)

    def create_setup_checkout(self, request):
        self._another_customer_writes()
        return super().create_setup_checkout(request)

    def create_checkout(self, request):
        self._another_customer_writes()
        if self.fail_checkouts:
            self.fail_checkouts -= 1
            raise PaymentGatewayError("Stripe timed out")
        return super().create_checkout(request)


def _seed_two(session):
    _seed(session)
    session.add(
        Customer(
            id="C2",
            name="Bo Ray",
            phone="+14155550102",
            postal_code="94110",
            language="es",
            timezone="America/Los_Angeles",
        )
    )


def test_starting_a_plan_holds_no_lock_while_stripe_makes_its_page(sqlite_store):
    gateway = WritesWhileAnswering(str(sqlite_store.engine.url))
    with sqlite_store.unit_of_work() as session:
        _seed_two(session)
    started = _start(sqlite_store, gateway)
    assert [c[0] for c in gateway.calls] == ["customer", "setup"]
    with sqlite_store.unit_of_work() as session:
        assert session.get(Plan, started.plan_id).setup_url == started.url


def test_a_page_stripe_could_not_make_is_asked_again_by_the_same_request(sqlite_store):
    gateway = RecordingGateway()
    with sqlite_store.unit_of_work() as session:
        _seed(session)
    gateway.create_setup_checkout = lambda request: (_ for _ in ()).throw(
        PaymentGatewayError("Stripe timed out")
    )
    with pytest.raises(PaymentGatewayError):
        _start(sqlite_store, gateway)
    del gateway.create_setup_checkout  # Stripe is back
    started = _start(sqlite_store, gateway)
    with sqlite_store.unit_of_work() as session:
        assert len(session.scalars(select(Plan)).all()) == 1
        texts = session.scalars(select(Message)).all()
        assert len(texts) == 1 and started.url in texts[0].body


def test_a_decline_text_and_its_link_come_after_the_charge_with_no_lock_held(sqlite_store):
    gateway = WritesWhileAnswering(str(sqlite_store.engine.url), fail_checkouts=1)
    with sqlite_store.unit_of_work() as session:
        _seed_two(session)
    plan_id = _start(sqlite_store, gateway).plan_id
    _save_card(sqlite_store, gateway, plan_id)
    first_id = _installment_ids(sqlite_store, plan_id)[0]
    gateway.answers = [ChargeResult("pi_declined", "failed", "Your card was declined.")]
    # Stripe fails the pay-by-hand page: the decline is recorded, the text waits for its link.
    summary = charge_due_installments(sqlite_store, gateway, SETTINGS, Policy(), NOW)
    assert (summary.failed, summary.notified) == (1, 0)
    with sqlite_store.unit_of_work() as session:
        assert session.get(models.Installment, first_id).status == "failed"
        assert (
            session.scalars(
                select(Message).where(Message.idempotency_key.like("installment_failed:%"))
            ).all()
            == []
        )
    # The next pass makes the link and sends the text, once.
    later = NOW + dt.timedelta(minutes=5)
    assert charge_due_installments(sqlite_store, gateway, SETTINGS, Policy(), later).notified == 1
    assert charge_due_installments(sqlite_store, gateway, SETTINGS, Policy(), later).notified == 0
    with sqlite_store.unit_of_work() as session:
        link = session.scalar(select(PaymentLink).where(PaymentLink.installment_id == first_id))
        [text] = session.scalars(
            select(Message).where(Message.idempotency_key == f"installment_failed:{first_id}:1")
        ).all()
        assert link.url in text.body and text.proactive


class SlowCheckouts(RecordingGateway):
    """Stripe's idempotency, answering slowly: racing callers with one key get one session."""

    def __init__(self):
        super().__init__()
        self.by_key = {}

    def create_checkout(self, request):
        import time

        time.sleep(0.2)
        if request.idempotency_key not in self.by_key:
            self.by_key[request.idempotency_key] = super().create_checkout(request)
        return self.by_key[request.idempotency_key]


def test_racing_passes_store_one_pay_by_hand_link_for_a_declined_installment(store):
    import threading

    gateway = SlowCheckouts()
    with store.unit_of_work() as session:
        _seed(session)
    plan_id = _start(store, gateway).plan_id
    _save_card(store, gateway, plan_id)
    first_id = _installment_ids(store, plan_id)[0]
    with store.unit_of_work() as session:  # declined, its link not made yet
        session.get(models.Installment, first_id).status = "failed"
    results, errors, start = [], [], threading.Barrier(4)

    def make_link():
        start.wait()
        try:
            results.append(installment_link(store, gateway, SETTINGS, first_id, "test", NOW))
        except Exception as error:  # the race must not surface as an error
            errors.append(error)

    threads = [threading.Thread(target=make_link) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(results)) == 1
    with store.unit_of_work() as session:
        links = session.scalars(select(PaymentLink).where(PaymentLink.installment_id == first_id))
        assert len(links.all()) == 1
        created = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "payment_link.created")
        ).all()
        assert len([e for e in created if e.detail.get("installment_id") == first_id]) == 1
