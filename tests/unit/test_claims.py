"""Outside calls hold no database lock, and a retry sends the same key with the same request."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, select, text

from settle.adapters.payments import CheckoutRequest, CheckoutSession, PaymentGatewayError
from settle.billing.checkout import ensure_link, ensure_links
from settle.store import claims
from settle.store.claims import GatewayClaim
from settle.store.models import AuditEntry, Invoice, PaymentLink, utcnow
from tests.migrations import schema_drift


class Gateway:
    """Stripe's idempotency: the same key answers with the first session."""

    provider = "stripe"

    def __init__(self, during=None, fail: bool = False):
        self.requests: list[CheckoutRequest] = []
        self.by_key = {}
        self.during, self.fail = during, fail

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        self.requests.append(request)
        if self.during:
            self.during()
        if self.fail:
            raise PaymentGatewayError("Stripe said 500")
        if request.idempotency_key not in self.by_key:
            number = len(self.by_key) + 1
            self.by_key[request.idempotency_key] = CheckoutSession(
                f"cs_test_{number}", f"https://checkout.stripe.test/{number}", request.expires_at
            )
        return self.by_key[request.idempotency_key]


def test_no_database_lock_is_held_while_the_gateway_answers(demo_store, settings):
    url = str(demo_store.engine.url)

    def another_customer_writes():  # with a short busy timeout: a held lock would fail it
        engine = create_engine(url, connect_args={"timeout": 0.5})
        with engine.begin() as connection:
            connection.execute(text("UPDATE customers SET language = 'en' WHERE id = 'C002'"))
        engine.dispose()

    link_id, reused = ensure_link(
        demo_store, Gateway(during=another_customer_writes), settings, "INV-1001", "test", "C001"
    )
    assert not reused and link_id


def test_a_retry_after_a_crash_sends_the_same_key_with_the_same_request(demo_store, settings):
    with demo_store.unit_of_work() as session:  # the claim a crashed attempt left behind
        stale = claims.claim(
            session,
            "checkout",
            "invoice:INV-1001",
            28500,
            {"expires_at": "2026-12-31T12:00:00+00:00", "provider": "stripe"},
        )
        key = stale.idempotency_key
    gateway = Gateway()
    ensure_link(demo_store, gateway, settings, "INV-1001", "test", "C001")
    [request] = gateway.requests
    assert request.idempotency_key == key
    assert request.expires_at.isoformat() == "2026-12-31T12:00:00+00:00"
    with demo_store.unit_of_work() as session:
        assert (
            session.scalar(select(GatewayClaim.status).where(GatewayClaim.idempotency_key == key))
            == "done"
        )


def test_a_failed_call_is_recorded_and_the_next_attempt_gets_a_new_key(demo_store, settings):
    failing = Gateway(fail=True)
    with pytest.raises(PaymentGatewayError):
        ensure_link(demo_store, failing, settings, "INV-1001", "test", "C001")
    working = Gateway()
    ensure_link(demo_store, working, settings, "INV-1001", "test", "C001")
    assert failing.requests[0].idempotency_key != working.requests[0].idempotency_key
    with demo_store.unit_of_work() as session:
        statuses = session.scalars(select(GatewayClaim.status).order_by(GatewayClaim.id)).all()
        assert statuses == ["failed", "done"]
        assert "Stripe said 500" in session.scalars(select(GatewayClaim.error)).first()


def test_racing_requests_share_one_claim_and_make_one_link(demo_store, settings):
    gateway = Gateway(during=lambda: time.sleep(0.2))
    results, start = [], threading.Barrier(4)

    def ask():
        start.wait()
        results.append(ensure_link(demo_store, gateway, settings, "INV-1001", "test", "C001"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({link_id for link_id, _ in results}) == 1
    assert len({r.idempotency_key for r in gateway.requests}) == 1
    with demo_store.unit_of_work() as session:
        assert len(session.scalars(select(PaymentLink)).all()) == 1


def test_a_link_made_while_the_balance_changed_is_void_and_a_new_one_made(demo_store, settings):
    def a_payment_arrives():
        with demo_store.unit_of_work() as session:
            invoice = session.get(Invoice, "INV-1001")
            if invoice.amount_paid_minor == 0:
                invoice.amount_paid_minor = 5000

    gateway = Gateway(during=a_payment_arrives)
    link_id, _ = ensure_link(demo_store, gateway, settings, "INV-1001", "test", "C001")
    with demo_store.unit_of_work() as session:
        links = {link.amount_minor: link.status for link in session.scalars(select(PaymentLink))}
        assert links == {28500: "void", 23500: "open"}
        assert session.get(PaymentLink, link_id).amount_minor == 23500
        assert "payment_link.void" in session.scalars(select(AuditEntry.action)).all()


def test_links_for_many_invoices_leave_out_the_ones_that_failed(demo_store, settings):
    class HalfBroken(Gateway):
        def create_checkout(self, request):
            if request.invoice_id == "INV-2001":
                raise PaymentGatewayError("no")
            return super().create_checkout(request)

    found = ensure_links(
        demo_store,
        HalfBroken(),
        settings,
        ["INV-1001", "INV-2001", "INV-4001"],
        "test",
        now=utcnow(),
    )
    assert set(found) == {"INV-1001"}  # INV-2001 failed, INV-4001 has nothing to pay


def test_the_claim_table_and_payment_flag_match_migration_0007(store):
    assert schema_drift(store, "gateway_claims", "'flag'", "'proactive'") == []


def test_the_courier_delivers_in_the_background_and_the_caller_does_not_wait(demo_store, settings):
    from settle.adapters.payments import SandboxGateway
    from settle.adapters.sms import Delivery
    from settle.app import runtime
    from settle.messaging.outbox import queue_sms

    class StalledSms:  # Twilio answers only when the test says so
        def __init__(self):
            self.sent, self.called, self.answer = [], threading.Event(), threading.Event()

        def send(self, to, body):
            self.called.set()
            self.answer.wait(5)
            self.sent.append(body)
            return Delivery("sent", f"SM{len(self.sent)}")

    sms = StalledSms()
    app = runtime.Settle(settings, demo_store, SandboxGateway(settings.public_base_url), sms)
    with demo_store.unit_of_work() as session:
        queue_sms(session, "+14155550101", "hello", key="courier-1", actor="test")
    app.request_delivery()  # returns while Twilio has not answered
    assert sms.called.wait(5) and sms.sent == []
    sms.answer.set()
    deadline = time.monotonic() + 5
    while not sms.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sms.sent == ["hello"]


def test_proactive_messages_wait_for_contact_hours_and_replies_do_not(demo_store):
    import datetime as dt

    from settle.adapters.sms import Delivery
    from settle.core.clock import local_time
    from settle.messaging.delivery import deliver_pending
    from settle.messaging.outbox import queue_sms
    from settle.reminders.contact_rules import contact_hours
    from settle.rules.cadence import ContactWindow

    class Rules:  # a window that opened three hours from now, wherever C001 is
        def window_for(self, region):
            start = (local_time(utcnow(), "America/Los_Angeles") + dt.timedelta(hours=3)).time()
            end = (dt.datetime.combine(dt.date.today(), start) + dt.timedelta(hours=1)).time()
            return (
                ContactWindow(start=start, end=end)
                if end > start
                else ContactWindow(start=dt.time(3, 0), end=dt.time(4, 0))
            )

    class Sms:
        sent = []

        def send(self, to, body):
            self.sent.append(body)
            return Delivery("sent", f"SM{len(self.sent)}")

    sms = Sms()
    with demo_store.unit_of_work() as session:
        queue_sms(
            session,
            "+14155550101",
            "your installment is due",
            key="p-1",
            actor="t",
            customer_id="C001",
            proactive=True,
        )
        queue_sms(
            session,
            "+14155550101",
            "thanks for your payment",
            key="r-1",
            actor="t",
            customer_id="C001",
        )
    deliver_pending(demo_store, sms, hours=contact_hours(Rules()))
    assert sms.sent == ["thanks for your payment"]
    with demo_store.unit_of_work() as session:
        from settle.store.models import Message

        held = session.scalars(select(Message).where(Message.idempotency_key == "p-1")).one()
        assert held.status == "queued" and held.next_attempt_at > utcnow() + dt.timedelta(hours=2)
        assert "message.held" in session.scalars(select(AuditEntry.action)).all()
    deliver_pending(demo_store, sms, hours=contact_hours(Rules()))  # not due yet: stays held
    assert sms.sent == ["thanks for your payment"]


def test_twilio_throttling_is_retried_when_it_says(demo_store):
    import datetime as dt

    from settle.adapters.sms import TwilioSms
    from settle.messaging.delivery import deliver_pending
    from settle.messaging.outbox import queue_sms
    from settle.store.models import Message
    from tests.fakes import FakeTwilio

    twilio = FakeTwilio().start()
    try:
        sms = TwilioSms("AC" + "0" * 32, "token", "+14155550199", api_base=twilio.url)
        with demo_store.unit_of_work() as session:
            queue_sms(session, "+14155550101", "hello", key="throttled", actor="t")
        twilio.throttle_next = 1  # 429 with Retry-After: 1
        before = utcnow()
        assert deliver_pending(demo_store, sms) == []
        with demo_store.unit_of_work() as session:
            message = session.scalars(select(Message)).one()
            assert message.status == "queued"  # 429 is not the end of it
            assert message.next_attempt_at <= before + dt.timedelta(seconds=3)  # not 5 s backoff
    finally:
        twilio.stop()


def test_a_saved_card_is_looked_up_before_the_webhook_transaction(demo_store, settings):
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    from settle.adapters.payments import SandboxGateway
    from settle.app import runtime, webhooks
    from settle.plans import start_plan
    from settle.rules.policy import Policy
    from tests.unit.trackers import RecordingSms

    url = str(demo_store.engine.url)

    class LooksUpWhileOthersWrite(SandboxGateway):
        looked_up = []

        def saved_payment_method(self, setup_intent_id):
            engine = create_engine(url, connect_args={"timeout": 0.5})
            with engine.begin() as connection:  # another customer's turn writes meanwhile
                connection.execute(sql("UPDATE customers SET language = 'en' WHERE id = 'C002'"))
            engine.dispose()
            self.looked_up.append(setup_intent_id)
            return "pm_card_visa"

    gateway = LooksUpWhileOthersWrite(settings.public_base_url)
    app = runtime.Settle(settings, demo_store, gateway, RecordingSms())
    runtime.use(app)
    try:
        plan = start_plan(
            demo_store, gateway, settings, Policy(), "C001", "INV-1001", 3, "k", "t", text_it=False
        )
        with demo_store.unit_of_work() as session:
            from settle.store.models import Plan

            setup_id = session.get(Plan, plan.plan_id).setup_session_id
        outcome = webhooks.apply_event(
            {
                "id": "evt_setup",
                "type": "checkout.session.completed",
                "data": {"object": {"id": setup_id, "mode": "setup", "setup_intent": "seti_1"}},
            },
            "sandbox",
        )
        assert outcome == "plan_active" and gateway.looked_up == ["seti_1"]
    finally:
        runtime.use(None)


def test_a_webhook_is_answered_while_stripe_works_on_what_follows(demo_store, settings):
    """A card just saved: the first installment's charge is Stripe's work, on the courier,
    not inside Stripe's webhook request (which it would time out and send again)."""
    from settle.adapters.payments import ChargeResult, SandboxGateway
    from settle.app import runtime, webhooks
    from settle.plans import start_plan
    from settle.rules.policy import Policy
    from settle.store.models import Installment, Plan
    from tests.unit.trackers import RecordingSms

    class StalledCharges(SandboxGateway):
        def __init__(self, base):
            super().__init__(base)
            self.charging, self.answer = threading.Event(), threading.Event()

        def saved_payment_method(self, setup_intent_id):
            return "pm_card_visa"

        def charge_off_session(self, charge):
            self.charging.set()
            self.answer.wait(10)
            return ChargeResult("pi_later", "succeeded")

    gateway = StalledCharges(settings.public_base_url)
    runtime.use(runtime.Settle(settings, demo_store, gateway, RecordingSms()))
    try:
        plan = start_plan(
            demo_store, gateway, settings, Policy(), "C001", "INV-1001", 3, "k", "t", text_it=False
        )
        with demo_store.unit_of_work() as session:
            setup_id = session.get(Plan, plan.plan_id).setup_session_id
        started = time.monotonic()
        outcome = webhooks.apply_event(
            {
                "id": "evt_setup_stalled",
                "type": "checkout.session.completed",
                "data": {"object": {"id": setup_id, "mode": "setup", "setup_intent": "seti_1"}},
            },
            "sandbox",
        )
        assert outcome == "plan_active" and time.monotonic() - started < 2
        assert gateway.charging.wait(5)  # Stripe is charging, the webhook has its answer
        gateway.answer.set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with demo_store.unit_of_work() as session:
                first = session.scalars(
                    select(Installment).where(Installment.plan_id == plan.plan_id)
                ).first()
                if first.status == "paid":
                    break
            time.sleep(0.05)
        assert first.status == "paid"
    finally:
        gateway.answer.set()
        runtime.use(None)


def test_a_failing_background_job_logs_its_name_never_the_secrets(settings, caplog):
    """A job holds the application's settings (Stripe, Twilio and action secrets): when it
    fails, the log names the job and nothing it was handed."""
    import dataclasses
    import functools
    import logging

    from settle.app import runtime

    secret = dataclasses.replace(
        settings,
        stripe_api_key="sk_live_LEAKCANARY",
        twilio_auth_token="tw_LEAKCANARY",
        action_secret="act_LEAKCANARY",
        smtp_url="smtp://user:pw_LEAKCANARY@mail.test:587",
    )
    assert "LEAKCANARY" not in repr(secret)

    def charge_new_plan(app_settings, event):
        raise RuntimeError("database is locked")

    done = threading.Event()
    courier = runtime._Courier(done.set)
    with caplog.at_level(logging.ERROR):
        courier.run_soon(functools.partial(charge_new_plan, secret, {"id": "evt_1"}))
        assert done.wait(5)
    logged = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records)
    assert "charge_new_plan" in logged and "LEAKCANARY" not in logged
