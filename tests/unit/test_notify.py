"""notify_customer: one text to one customer, in their language, money and dates in their
locale, queued through the outbox exactly as queue_sms queues it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from settle.messaging.consent import record_opt_out
from settle.messaging.notify import customer_locale, notify_customer
from settle.store.models import AuditEntry, Customer, Message

PHONE = "+14155550101"  # C001, Ava, in Los Angeles


def _customer(session, language: str) -> Customer:
    customer = session.get(Customer, "C001")
    customer.language = language
    return customer


def _reminder(session, settings, customer, key="installment_reminder:1", **kwargs):
    return notify_customer(
        session,
        settings,
        customer,
        "installment_reminder",
        idempotency_key=key,
        actor="test",
        money={"amount": (28500, "USD")},
        dates={"date": dt.date(2026, 6, 5)},
        invoice="INV-1001",
        seq=2,
        count=3,
        **kwargs,
    )


def test_the_body_is_in_the_customers_language_with_their_money_and_dates(demo_store, settings):
    with demo_store.unit_of_work() as session:
        customer = _customer(session, "de")
        assert customer_locale(settings, customer) == "de_DE"
        message = _reminder(session, settings, customer, proactive=True)
        # Babel's no-break space before the $ becomes a plain one (GSM-7), as queue_sms does.
        assert message.body == (
            "Acme Plumbing: Zahlung 2 von 3 für Rechnung INV-1001, 285,00 $, wird am "
            "05.06.2026 von Ihrer gespeicherten Karte abgebucht. Antworten Sie STOP, um keine "
            "Nachrichten mehr zu erhalten."
        )
        assert (message.to, message.customer_id, message.channel) == (PHONE, "C001", "sms")
        assert message.status == "queued" and message.proactive is True
        assert message.idempotency_key == "installment_reminder:1"


def test_english_is_the_business_default(demo_store, settings):
    with demo_store.unit_of_work() as session:
        message = _reminder(session, settings, _customer(session, "en"))
        assert message.body == (
            "Acme Plumbing: payment 2 of 3 for invoice INV-1001, $285.00, will be charged to "
            "your saved card on Jun 5, 2026. Reply STOP to opt out."
        )
        assert message.proactive is False


def test_times_are_read_in_the_customers_zone_and_locale(demo_store, settings):
    with demo_store.unit_of_work() as session:
        message = notify_customer(
            session,
            settings,
            _customer(session, "de"),
            "payment_link",
            idempotency_key="payment_link:1:turn-1",
            actor="test",
            money={"amount": (28500, "USD")},
            times={"expires": dt.datetime(2026, 6, 5, 18, 30, tzinfo=dt.timezone.utc)},
            invoice="INV-1001",
            url="https://pay.example.test/p/1",
        )
        assert message.body == (
            "Acme Plumbing: Rechnung INV-1001 (285,00 $) hier sicher bezahlen: "
            "https://pay.example.test/p/1 Der Link ist gültig bis 05.06.26, 11:30. Zum Abmelden "
            "STOP antworten."
        )


def test_an_opted_out_customer_is_refused_and_audited(demo_store, settings):
    with demo_store.unit_of_work() as session:
        record_opt_out(session, PHONE, "sms:STOP", "test")
        message = _reminder(session, settings, _customer(session, "en"))
        assert message.status == "refused" and message.error == "recipient opted out"
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "message.refused")
        ).one()
        assert refused.subject == "message:installment_reminder:1"


def test_a_repeated_key_returns_the_first_message(demo_store, settings):
    with demo_store.unit_of_work() as session:
        customer = _customer(session, "en")
        first = _reminder(session, settings, customer)
        customer.language = "de"
        second = _reminder(session, settings, customer)
        assert second.id == first.id and second.body.startswith("Acme Plumbing: payment 2 of 3")
        assert session.scalar(select(func.count(Message.id))) == 1


def test_only_a_fresh_opt_outs_confirmation_gets_through(demo_store):
    """The one reply confirming an opt-out said in a conversation goes out; any other
    message, or a "confirmation" long after the opt-out, is refused at queueing and again
    at sending."""
    from settle.messaging.consent import CONFIRMATION, CONFIRMATION_WINDOW
    from settle.messaging.delivery import deliver_pending
    from settle.messaging.outbox import queue_sms
    from settle.store.models import OptOut, utcnow
    from tests.unit.trackers import RecordingSms

    with demo_store.unit_of_work() as session:
        record_opt_out(session, PHONE, "conversation:sms", "test")
        confirm = queue_sms(session, PHONE, "We won't text again", f"{CONFIRMATION}reply:1:0", "t")
        other = queue_sms(session, PHONE, "One more thing", "reply:1:1", "t")
        assert (confirm.status, other.status) == ("queued", "refused")
    sms = RecordingSms()
    deliver_pending(demo_store, sms)
    assert [body for _, body in sms.sent] == ["We won't text again"]
    with demo_store.unit_of_work() as session:
        session.scalars(select(OptOut)).one().created_at = utcnow() - 2 * CONFIRMATION_WINDOW
        late = queue_sms(session, PHONE, "Late", f"{CONFIRMATION}reply:2:0", "t")
        assert late.status == "refused"
