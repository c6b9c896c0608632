"""Payment links, the SMS outbox and reconciliation of provider events."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from settle.adapters.payments import CheckoutRequest, CheckoutSession, SandboxGateway
from settle.adapters.sms import Delivery, DeliveryError
from settle.billing.checkout import NotPayable
from settle.billing.ledger import open_invoices
from settle.billing.link_texts import send_payment_link
from settle.billing.reconcile import handle_payment_event
from settle.messaging.consent import is_opted_out, record_opt_in, record_opt_out
from settle.messaging.delivery import MAX_ATTEMPTS, deliver_pending, retry_delay
from settle.messaging.outbox import queue_sms, segments, sms_bodies
from settle.store.models import (
    AuditEntry,
    Customer,
    Invoice,
    Message,
    OptOut,
    Payment,
    PaymentLink,
    ProcessedEvent,
    utcnow,
)

PHONE = "+14155550101"  # C001, owner of INV-1001 ($285.00)


class RecordingGateway:
    """Stands in for Stripe: remembers every checkout it was asked for."""

    provider = "stripe"

    def __init__(self):
        self.requests: list[CheckoutRequest] = []

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        self.requests.append(request)
        session_id = f"cs_test_{len(self.requests)}"
        return CheckoutSession(
            session_id, f"https://checkout.stripe.test/c/{session_id}", request.expires_at
        )


class FakeSender:
    def __init__(self, error: DeliveryError = None):
        self.sent = []
        self.error = error
        self.attempts = 0

    def send(self, to: str, body: str) -> Delivery:
        self.attempts += 1
        if self.error is not None:
            raise self.error
        self.sent.append((to, body))
        return Delivery("sent", f"SM{len(self.sent)}")


@pytest.fixture
def sandbox(settings):
    return SandboxGateway(settings.public_base_url)


def count(session, column):
    return session.scalar(select(func.count(column)))


def actions(session):
    return [a.action for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


# --- payment links ----------------------------------------------------------------------


def test_send_payment_link_texts_the_phone_on_file(demo_store, sandbox, settings):
    with demo_store.unit_of_work() as session:
        sent = send_payment_link(
            demo_store, sandbox, settings, "C001", "INV-1001", "turn-1", "conversation:test"
        )
    assert (sent.invoice_id, sent.amount_minor, sent.currency) == ("INV-1001", 28500, "USD")
    assert sent.url.startswith("https://pay.example.test/sandbox/checkout/cs_sandbox_")
    assert sent.phone_last_digits == "0101"
    assert sent.message_status == "queued" and sent.reused is False
    with demo_store.unit_of_work() as session:
        message = session.scalars(select(Message)).one()
        assert message.to == PHONE and message.customer_id == "C001"
        assert message.status == "queued"
        assert sent.url in message.body
        assert "$285.00" in message.body and "INV-1001" in message.body
        assert "Acme Plumbing" in message.body
        assert "\u202f" not in message.body and "\xa0" not in message.body  # GSM-7 friendly
        link = session.scalars(select(PaymentLink)).one()
        assert (link.url, link.amount_minor, link.status, link.provider) == (
            sent.url,
            28500,
            "open",
            "sandbox",
        )
        assert "payment_link.created" in actions(session)
        assert "message.queued" in actions(session)


def test_same_request_twice_queues_one_message(demo_store, sandbox, settings):
    with demo_store.unit_of_work() as session:
        first = send_payment_link(demo_store, sandbox, settings, "C001", "INV-1001", "turn-1", "t")
    with demo_store.unit_of_work() as session:
        again = send_payment_link(demo_store, sandbox, settings, "C001", "INV-1001", "turn-1", "t")
        assert count(session, Message.id) == 1
        assert count(session, PaymentLink.id) == 1
    assert again.url == first.url and again.reused is True


def test_another_request_reuses_the_open_link(demo_store, settings):
    gateway = RecordingGateway()
    with demo_store.unit_of_work() as session:
        first = send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-1", "t")
    with demo_store.unit_of_work() as session:
        second = send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-2", "t")
        assert count(session, PaymentLink.id) == 1
        messages = session.scalars(select(Message).order_by(Message.id)).all()
        assert len(messages) == 2 and all(first.url in m.body for m in messages)
    assert len(gateway.requests) == 1  # no second checkout session
    assert (first.reused, second.reused) == (False, True)
    assert second.url == first.url


def test_the_checkout_page_names_the_invoice_in_the_customers_language(demo_store, settings):
    gateway = RecordingGateway()
    with demo_store.unit_of_work() as session:
        session.get(Customer, "C001").language = "es"
    send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-1", "t")
    [request] = gateway.requests
    assert request.description.startswith("Factura INV-1001"), request.description


def test_checkout_request_comes_from_the_database(demo_store, settings):
    gateway = RecordingGateway()
    before = utcnow()
    with demo_store.unit_of_work() as session:
        send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-1", "t")
    after = utcnow()
    [request] = gateway.requests
    assert request.invoice_id == "INV-1001" and request.customer_id == "C001"
    assert request.amount_minor == 28500
    assert request.currency == "USD"
    assert request.idempotency_key.startswith("settle:checkout:invoice:INV-1001:")
    assert set(request.metadata) == {"settle_claim"}
    assert "INV-1001" in request.description and "Water heater repair" in request.description
    assert request.success_url == "https://pay.example.test/pay/done?invoice=INV-1001"
    assert request.cancel_url == "https://pay.example.test/pay/cancelled?invoice=INV-1001"
    minutes = dt.timedelta(minutes=1440)
    assert before + minutes <= request.expires_at <= after + minutes
    with demo_store.unit_of_work() as session:
        link = session.scalars(select(PaymentLink)).one()
        assert (link.provider, link.session_id) == ("stripe", "cs_test_1")


def test_checkout_amount_is_the_current_balance(demo_store, settings):
    gateway = RecordingGateway()
    with demo_store.unit_of_work() as session:
        session.get(Invoice, "INV-1001").amount_paid_minor = 10000
    with demo_store.unit_of_work() as session:
        sent = send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-1", "t")
        assert "$185.00" in session.scalars(select(Message)).one().body
    assert sent.amount_minor == 18500
    assert gateway.requests[0].amount_minor == 18500
    assert gateway.requests[0].idempotency_key.startswith("settle:checkout:invoice:INV-1001:")


@pytest.mark.parametrize("remaining", [dt.timedelta(minutes=-1), dt.timedelta(minutes=10)])
def test_expired_or_expiring_link_is_not_reused(demo_store, settings, remaining):
    gateway = RecordingGateway()
    with demo_store.unit_of_work() as session:
        first = send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-1", "t")
    with demo_store.unit_of_work() as session:
        session.scalars(select(PaymentLink)).one().expires_at = utcnow() + remaining
    with demo_store.unit_of_work() as session:
        second = send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-2", "t")
        assert count(session, PaymentLink.id) == 2
    assert second.reused is False and second.url != first.url
    # A new attempt, a new key (the old key went with other parameters).
    first_key, second_key = [r.idempotency_key for r in gateway.requests]
    assert first_key != second_key


def test_link_for_an_old_balance_is_not_reused(demo_store, settings):
    gateway = RecordingGateway()
    send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-1", "t")
    with demo_store.unit_of_work() as session:
        session.get(Invoice, "INV-1001").amount_paid_minor = 5000
    with demo_store.unit_of_work() as session:
        second = send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-2", "t")
    assert second.reused is False and second.amount_minor == 23500
    assert len(gateway.requests) == 2


@pytest.mark.parametrize(
    "customer_id, invoice_id",
    [
        ("C002", "INV-1001"),  # somebody else's invoice
        ("C004", "INV-4001"),  # already paid
        ("C001", "INV-9999"),  # no such invoice
    ],
)
def test_not_payable(demo_store, settings, customer_id, invoice_id):
    gateway = RecordingGateway()
    with demo_store.unit_of_work() as session:
        with pytest.raises(NotPayable):
            send_payment_link(demo_store, gateway, settings, customer_id, invoice_id, "turn-1", "t")
        assert count(session, Message.id) == 0 and count(session, PaymentLink.id) == 0
    assert gateway.requests == []


def test_open_invoice_with_nothing_left_is_not_payable(demo_store, settings):
    gateway = RecordingGateway()
    with demo_store.unit_of_work() as session:
        session.get(Invoice, "INV-1001").amount_paid_minor = 28500
    with demo_store.unit_of_work() as session:
        with pytest.raises(NotPayable):
            send_payment_link(demo_store, gateway, settings, "C001", "INV-1001", "turn-1", "t")
    assert gateway.requests == []


# --- the SMS outbox ---------------------------------------------------------------------


def test_queue_sms_refuses_an_opted_out_number(demo_store):
    with demo_store.unit_of_work() as session:
        assert record_opt_out(session, PHONE, "sms:STOP", "test") is True
        assert record_opt_out(session, PHONE, "sms:STOP", "test") is False  # once only
        message = queue_sms(session, PHONE, "hello", key="k1", actor="test")
        assert message.status == "refused" and message.error == "recipient opted out"
    with demo_store.unit_of_work() as session:
        assert count(session, OptOut.id) == 1
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "message.refused")
        ).one()
        assert refused.subject == "message:k1" and refused.detail["to"] == PHONE
        assert "message.queued" not in actions(session)
    sender = FakeSender()
    assert deliver_pending(demo_store, sender) == []
    assert sender.sent == []


def test_queue_sms_once_per_key(demo_store):
    with demo_store.unit_of_work() as session:
        first = queue_sms(session, PHONE, "one", key="k1", actor="test")
        second = queue_sms(session, PHONE, "two", key="k1", actor="test")
        assert second.id == first.id and second.body == "one"
        assert count(session, Message.id) == 1


def test_deliver_pending_sends_each_message_once(demo_store):
    with demo_store.unit_of_work() as session:
        a = queue_sms(session, PHONE, "first", key="k1", actor="test").id
        b = queue_sms(session, "+12125550102", "second", key="k2", actor="test").id
    sender = FakeSender()
    assert deliver_pending(demo_store, sender) == [a, b]
    assert sender.sent == [(PHONE, "first"), ("+12125550102", "second")]
    assert deliver_pending(demo_store, sender) == []
    assert len(sender.sent) == 2
    with demo_store.unit_of_work() as session:
        message = session.get(Message, a)
        assert (message.status, message.provider_sid, message.error) == ("sent", "SM1", None)
        assert message.sent_at is not None
        assert actions(session).count("message.sent") == 2


def test_transient_failure_leaves_the_message_queued(demo_store):
    with demo_store.unit_of_work() as session:
        message_id = queue_sms(session, PHONE, "hello", key="k1", actor="test").id
    failing = FakeSender(DeliveryError("Twilio unreachable: timeout", permanent=False))
    assert deliver_pending(demo_store, failing) == []
    with demo_store.unit_of_work() as session:
        message = session.get(Message, message_id)
        assert message.status == "queued" and "timeout" in message.error
        failed = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "message.failed")
        ).one()
        assert failed.detail["will_retry"] is True
        assert message.attempts == 1
        assert message.next_attempt_at > utcnow() + dt.timedelta(seconds=4)
    working = FakeSender()
    assert deliver_pending(demo_store, working) == [], "not before its back-off has passed"
    _make_due(demo_store, message_id)
    assert deliver_pending(demo_store, working) == [message_id]  # retried on a later pass
    assert working.sent == [(PHONE, "hello")]
    with demo_store.unit_of_work() as session:
        message = session.get(Message, message_id)
        assert message.status == "sent" and message.error is None and message.attempts == 2


def _make_due(store, message_id):
    with store.unit_of_work() as session:
        session.get(Message, message_id).next_attempt_at = utcnow() - dt.timedelta(seconds=1)


def test_back_off_doubles_and_gives_up_after_the_last_attempt(demo_store):
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 8, 20)] == [
        5,
        10,
        20,
        40,
        600,
        600,
    ]
    with demo_store.unit_of_work() as session:
        message_id = queue_sms(session, PHONE, "hello", key="k1", actor="test").id
    failing = FakeSender(DeliveryError("Twilio unreachable: timeout", permanent=False))
    for _ in range(MAX_ATTEMPTS):
        _make_due(demo_store, message_id)
        deliver_pending(demo_store, failing)
    with demo_store.unit_of_work() as session:
        message = session.get(Message, message_id)
        assert message.status == "failed" and message.attempts == MAX_ATTEMPTS
    assert failing.attempts == MAX_ATTEMPTS


def test_opted_out_at_the_provider_fails_and_records_the_opt_out(demo_store):
    with demo_store.unit_of_work() as session:
        message_id = queue_sms(session, PHONE, "hello", key="k1", actor="test").id
    failing = FakeSender(
        DeliveryError("Twilio error 21610: unsubscribed", permanent=True, opted_out=True)
    )
    assert deliver_pending(demo_store, failing) == []
    with demo_store.unit_of_work() as session:
        assert session.get(Message, message_id).status == "failed"
        assert is_opted_out(session, PHONE)
        assert session.scalars(select(OptOut)).one().source == "twilio:21610"
        assert "contact.opted_out" in actions(session)
        later = queue_sms(session, PHONE, "again", key="k2", actor="test")
        assert later.status == "refused"
    working = FakeSender()
    assert deliver_pending(demo_store, working) == []  # the failed one is not retried
    assert working.sent == []


def test_message_queued_before_an_opt_out_is_refused_at_delivery(demo_store):
    with demo_store.unit_of_work() as session:
        message_id = queue_sms(session, PHONE, "hello", key="k1", actor="test").id
        other = queue_sms(session, "+12125550102", "hi Ben", key="k2", actor="test").id
    with demo_store.unit_of_work() as session:
        record_opt_out(session, PHONE, "sms:STOP", "test")
    sender = FakeSender()
    assert deliver_pending(demo_store, sender) == [other]
    assert sender.sent == [("+12125550102", "hi Ben")]
    with demo_store.unit_of_work() as session:
        message = session.get(Message, message_id)
        assert (message.status, message.error) == ("refused", "recipient opted out")
        assert message.sent_at is None


# --- reconciliation ---------------------------------------------------------------------


@pytest.fixture
def link(demo_store, sandbox, settings):
    """The open sandbox link for INV-1001, with its SMS already delivered."""
    with demo_store.unit_of_work() as session:
        send_payment_link(demo_store, sandbox, settings, "C001", "INV-1001", "turn-1", "t")
        link = session.scalars(select(PaymentLink)).one()
    deliver_pending(demo_store, FakeSender())
    return link


def completed(
    event_id,
    session_id,
    amount=28500,
    currency="usd",
    status="paid",
    intent="pi_1",
    type_="checkout.session.completed",
):
    return {
        "id": event_id,
        "type": type_,
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "payment_status": status,
                "amount_total": amount,
                "currency": currency,
                "payment_intent": intent,
            }
        },
    }


def handle(store, event, settings):
    with store.unit_of_work() as session:
        return handle_payment_event(session, event, settings, provider="sandbox")


def open_invoice_ids(store, customer_id):
    with store.unit_of_work() as session:
        return [i.id for i in open_invoices(session, customer_id)]


def snapshot(store):
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, "INV-1001")
        return (
            invoice.status,
            invoice.amount_paid_minor,
            count(session, Payment.id),
            count(session, Message.id),
            count(session, AuditEntry.id),
        )


def test_completed_checkout_pays_the_invoice(demo_store, settings, link):
    assert handle(demo_store, completed("evt_1", link.session_id), settings) == "paid"
    with demo_store.unit_of_work() as session:
        invoice = session.get(Invoice, "INV-1001")
        assert (invoice.status, invoice.amount_paid_minor, invoice.balance_minor) == (
            "paid",
            28500,
            0,
        )
        payment = session.scalars(select(Payment)).one()
        assert (
            payment.amount_minor,
            payment.currency,
            payment.provider_ref,
            payment.payment_link_id,
        ) == (28500, "USD", "pi_1", link.id)
        assert session.get(PaymentLink, link.id).status == "paid"
        receipt = session.scalar(
            select(Message).where(Message.idempotency_key == f"receipt:{payment.id}")
        )
        assert receipt.to == PHONE and receipt.status == "queued"
        assert "$285.00" in receipt.body and "INV-1001" in receipt.body
        assert "$0.00" in receipt.body
        recorded = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "payment.recorded")
        ).one()
        assert recorded.actor == "sandbox" and recorded.subject == "invoice:INV-1001"
        assert recorded.detail["event_id"] == "evt_1"
        assert recorded.detail["amount_minor"] == 28500
        assert recorded.detail["invoice_status"] == "paid"
        assert session.get(ProcessedEvent, "evt_1").type == "checkout.session.completed"
    assert open_invoice_ids(demo_store, "C001") == []


def test_same_event_again_is_a_duplicate(demo_store, settings, link):
    event = completed("evt_1", link.session_id)
    assert handle(demo_store, event, settings) == "paid"
    before = snapshot(demo_store)
    assert handle(demo_store, event, settings) == "duplicate"
    assert snapshot(demo_store) == before


def test_another_event_for_the_same_payment_is_not_counted_twice(demo_store, settings, link):
    assert (
        handle(demo_store, completed("evt_1", link.session_id, amount=10000), settings)
        == "partially_paid"
    )
    assert (
        handle(demo_store, completed("evt_2", link.session_id, amount=10000), settings)
        == "duplicate"
    )
    assert (
        handle(
            demo_store,
            completed(
                "evt_3",
                link.session_id,
                amount=10000,
                type_="checkout.session.async_payment_succeeded",
            ),
            settings,
        )
        == "duplicate"
    )
    status, paid, payments, messages, _ = snapshot(demo_store)
    assert (status, paid, payments) == ("open", 10000, 1)


def test_partial_payment_leaves_the_rest_open(demo_store, settings, link):
    assert (
        handle(demo_store, completed("evt_1", link.session_id, amount=10000), settings)
        == "partially_paid"
    )
    with demo_store.unit_of_work() as session:
        invoice = session.get(Invoice, "INV-1001")
        assert (invoice.status, invoice.amount_paid_minor, invoice.balance_minor) == (
            "open",
            10000,
            18500,
        )
        receipt = session.scalar(select(Message).where(Message.idempotency_key.like("receipt:%")))
        assert "$100.00" in receipt.body and "$185.00" in receipt.body
    assert open_invoice_ids(demo_store, "C001") == ["INV-1001"]
    # A second payment for the rest settles it.
    assert (
        handle(
            demo_store, completed("evt_2", link.session_id, amount=18500, intent="pi_2"), settings
        )
        == "paid"
    )
    assert snapshot(demo_store)[:3] == ("paid", 28500, 2)


def test_currency_mismatch_needs_review(demo_store, settings, link):
    before = snapshot(demo_store)
    assert (
        handle(demo_store, completed("evt_1", link.session_id, currency="eur"), settings)
        == "needs_review"
    )
    status, paid, payments, messages, audits = snapshot(demo_store)
    assert (status, paid, payments, messages) == before[:4]
    with demo_store.unit_of_work() as session:
        review = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "payment.needs_review")
        ).one()
        assert review.detail["currency"] == "EUR" and review.detail["amount_minor"] == 28500
        assert session.get(PaymentLink, link.id).status == "open"


def test_zero_amount_needs_review(demo_store, settings, link):
    assert (
        handle(demo_store, completed("evt_1", link.session_id, amount=0), settings)
        == "needs_review"
    )
    assert snapshot(demo_store)[:3] == ("open", 0, 0)


def test_unpaid_completion_awaits_the_async_payment(demo_store, settings, link):
    before = snapshot(demo_store)
    assert (
        handle(demo_store, completed("evt_1", link.session_id, status="unpaid"), settings)
        == "awaiting_payment"
    )
    assert snapshot(demo_store)[:4] == before[:4]
    assert (
        handle(
            demo_store,
            completed("evt_2", link.session_id, type_="checkout.session.async_payment_succeeded"),
            settings,
        )
        == "paid"
    )
    assert snapshot(demo_store)[:3] == ("paid", 28500, 1)


def test_expired_checkout_expires_the_link(demo_store, sandbox, settings, link):
    event = {
        "id": "evt_x",
        "type": "checkout.session.expired",
        "data": {"object": {"id": link.session_id, "status": "expired"}},
    }
    assert handle(demo_store, event, settings) == "link_expired"
    with demo_store.unit_of_work() as session:
        assert session.get(PaymentLink, link.id).status == "expired"
        assert session.get(Invoice, "INV-1001").status == "open"
        assert "payment_link.expired" in actions(session)
    with demo_store.unit_of_work() as session:
        sent = send_payment_link(demo_store, sandbox, settings, "C001", "INV-1001", "turn-2", "t")
    assert sent.reused is False and sent.url != link.url


def test_unknown_checkout_is_unmatched(demo_store, settings, link):
    assert handle(demo_store, completed("evt_1", "cs_somebody_else"), settings) == "unmatched"
    assert snapshot(demo_store)[:3] == ("open", 0, 0)


def test_checkout_without_a_link_is_matched_by_metadata(demo_store, settings):
    event = completed("evt_1", "cs_dashboard_made")
    event["data"]["object"]["metadata"] = {"invoice_id": "INV-1001"}
    assert handle(demo_store, event, settings) == "paid"
    with demo_store.unit_of_work() as session:
        assert session.scalars(select(Payment)).one().payment_link_id is None


def test_other_events_are_ignored_and_events_need_an_id(demo_store, settings, link):
    assert handle(demo_store, {"id": "evt_1", "type": "customer.created"}, settings) == "ignored"
    with pytest.raises(ValueError):
        handle(demo_store, {"type": "checkout.session.completed"}, settings)


# --- a rolled-back unit of work leaves no trace, on each backend ----------------------


class Abort(Exception):
    pass


def test_rolled_back_event_is_not_marked_processed(store, settings):
    with pytest.raises(Abort):
        with store.unit_of_work() as session:
            assert (
                handle_payment_event(session, {"id": "evt_1", "type": "x"}, settings) == "ignored"
            )
            raise Abort()  # e.g. the receipt could not be queued
    with store.unit_of_work() as session:
        # Otherwise the redelivered event would be skipped as a duplicate: a payment lost.
        assert session.get(ProcessedEvent, "evt_1") is None


def test_rolled_back_message_is_not_queued(store):
    with pytest.raises(Abort):
        with store.unit_of_work() as session:
            queue_sms(session, PHONE, "hello", key="k1", actor="test")  # its first write
            raise Abort()
    with store.unit_of_work() as session:
        assert count(session, Message.id) == 0


def test_replies_are_grouped_into_few_segments_and_long_ones_split():
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("é" * 100) == 1, "é is in the GSM-7 alphabet"
    assert segments("ł" * 71) == 2, "ł is not: UCS-2, 70 characters a segment"
    assert sms_bodies(["Hello.", "You have 2 open invoices:\n1. $1.00"]) == [
        "Hello.\n\nYou have 2 open invoices:\n1. $1.00"
    ]
    long = ["word " * 300]
    bodies = sms_bodies(long)
    assert all(segments(b) <= 4 for b in bodies) and len(bodies) == 3
    assert " ".join(bodies).split() == long[0].split(), "nothing is lost when splitting"
    assert sms_bodies(["a" * 600, "b" * 100]) == ["a" * 600, "b" * 100]
    assert sms_bodies(["1\u202f000 $"]) == ["1 000 $"], "no UCS-2 for a no-break space"


def test_opt_in_removes_the_opt_out_and_is_audited(demo_store):
    with demo_store.unit_of_work() as session:
        record_opt_out(session, PHONE, "sms:keyword", "test")
    with demo_store.unit_of_work() as session:
        assert record_opt_in(session, PHONE, "sms:keyword", "test") is True
        assert record_opt_in(session, PHONE, "sms:keyword", "test") is False
    with demo_store.unit_of_work() as session:
        assert not is_opted_out(session, PHONE)
        assert (
            session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()[-1]
            == "contact.opted_in"
        )
