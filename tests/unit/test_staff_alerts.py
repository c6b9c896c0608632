"""Staff are alerted once per new work-queue item (hand-off, dispute, refund to approve,
flagged payment), in the staff's language, at the contact settle.yml names; with no
contact, nothing is queued."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import select

from settle.billing.disputes import open_dispute
from settle.billing.handoff import record_handoff
from settle.billing.reconcile import handle_payment_event
from settle.config import BusinessSettings, ConfigError, Settings, load_business_settings
from settle.messaging.staff import alert_staff
from settle.refunds import issue_refund
from settle.rules.policy import Policy, RefundPolicy
from settle.store.models import Customer, Invoice, Message, Payment, utcnow

STAFF = BusinessSettings(
    name="Acme Plumbing",
    languages=("en", "es"),
    language="es",
    staff_email="ops@acme.test",
    staff_phone="+14155550199",
)
SETTINGS = Settings(database_url="sqlite://", public_base_url="https://pay.acme.test")
ALERTED = replace(SETTINGS, business=STAFF)


class StripeGateway:
    """Never asked: these refunds wait for a person."""

    provider = "stripe"


def _seed(session) -> int:
    session.add(Customer(id="C1", name="Ava", phone="+14155550101", postal_code="94110"))
    session.add(
        Invoice(
            id="INV-1",
            customer_id="C1",
            amount_minor=50000,
            currency="USD",
            issued_on=dt.date(2026, 1, 1),
            due_on=dt.date(2026, 2, 1),
        )
    )
    session.flush()
    payment = Payment(
        invoice_id="INV-1",
        amount_minor=30000,
        currency="USD",
        provider="stripe",
        provider_ref="pi_1",
        created_at=utcnow() - dt.timedelta(days=3),
    )
    session.add(payment)
    session.flush()
    return payment.id


def _alerts(store) -> list[tuple[str, str, str]]:
    with store.unit_of_work() as session:
        rows = session.scalars(select(Message).order_by(Message.id)).all()
        return [(m.channel, m.to, m.body) for m in rows if m.to != "+14155550101"]


def _one_alert_each_way(store, kind_words: str) -> None:
    alerts = _alerts(store)
    assert [(channel, to) for channel, to, _ in alerts] == [
        ("sms", "+14155550199"),
        ("email", "ops@acme.test"),
    ]
    for _, _, body in alerts:
        assert kind_words in body  # Spanish: the staff's language, not the customer's
        assert "Ava (C1)" in body and "INV-1" in body
        assert "https://pay.acme.test/console" in body


def test_a_handoff_alerts_staff_once(store):
    with store.unit_of_work() as session:
        _seed(session)
    summary = {"verified_customer": "C1", "invoice": "INV-1", "channel": "sms"}
    with store.unit_of_work() as session:
        reference = record_handoff(session, "conversation:t", "asked", summary, ALERTED)
    with store.unit_of_work() as session:  # a retry of the same item queues nothing more
        alert_staff(
            session, ALERTED, "handoff", reference, customer_id="C1", invoice_id="INV-1", actor="t"
        )
    _one_alert_each_way(store, "una transferencia espera")


def test_a_dispute_alerts_staff_once_even_when_asked_twice(store):
    with store.unit_of_work() as session:
        _seed(session)
    for words in ("not mine", "I said it is not mine"):
        with store.unit_of_work() as session:
            open_dispute(session, "C1", "INV-1", words, "conversation:t", ALERTED)
    _one_alert_each_way(store, "una disputa espera")
    assert all("not mine" not in body for _, _, body in _alerts(store))


def test_a_refund_left_to_a_person_alerts_staff_once_per_request(store):
    policy = Policy(refunds=replace(RefundPolicy(), auto_approve_limit_minor=10000))
    with store.unit_of_work() as session:
        payment_id = _seed(session)
    for _ in range(2):  # the customer asks again before anyone decided
        result = issue_refund(
            store, StripeGateway(), ALERTED, policy, "C1", payment_id, "duplicate", "conversation:t"
        )
        assert result.status == "person"
    _one_alert_each_way(store, "un reembolso espera")


def test_an_overpayment_alerts_staff_once_however_often_stripe_reports_it(store):
    with store.unit_of_work() as session:
        _seed(session)
    paid = {
        "id": "evt_over",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": "cs_over",
                "payment_status": "paid",
                "amount_total": 60000,  # 100.00 beyond the invoice
                "currency": "usd",
                "payment_intent": "pi_over",
                "client_reference_id": "INV-1",
            }
        },
    }
    for _ in range(2):
        with store.unit_of_work() as session:
            handle_payment_event(session, paid, ALERTED)
    _one_alert_each_way(store, "un pago necesita revisión")


def test_no_staff_contact_no_alert(store):
    policy = Policy(refunds=replace(RefundPolicy(), auto_approve_limit_minor=10000))
    with store.unit_of_work() as session:
        payment_id = _seed(session)
        record_handoff(session, "t", "asked", {"verified_customer": "C1"}, SETTINGS)
        open_dispute(session, "C1", "INV-1", "not mine", "t", SETTINGS)
    issue_refund(store, StripeGateway(), SETTINGS, policy, "C1", payment_id, "duplicate", "t")
    assert _alerts(store) == []


def test_an_unverified_handoff_names_no_customer(store):
    settings = replace(SETTINGS, business=replace(STAFF, staff_phone="", language="en"))
    with store.unit_of_work() as session:
        record_handoff(session, "t", "asked", {"verified_customer": None}, settings)
    ((channel, to, body),) = _alerts(store)
    assert (channel, to) == ("email", "ops@acme.test")
    assert "Customer: not verified. Invoice: -." in body


@pytest.mark.parametrize(
    "line, field",
    [
        ("staff_phone: '555-01'", "business.staff_phone"),
        ("staff_email: ops.acme.test", "business.staff_email"),
        ("staff_email: 42", "business.staff_email"),
    ],
)
def test_a_bad_staff_contact_is_a_config_error_naming_it(tmp_path, line, field):
    file = tmp_path / "settle.yml"
    file.write_text(f"business:\n  {line}\n")
    with pytest.raises(ConfigError, match=field):
        load_business_settings(str(file))


def test_a_national_staff_phone_is_read_in_the_business_region(tmp_path):
    file = tmp_path / "settle.yml"
    file.write_text("business:\n  staff_phone: '(415) 555-0199'\n  staff_email: ops@acme.test\n")
    business = load_business_settings(str(file))
    assert (business.staff_phone, business.staff_email) == ("+14155550199", "ops@acme.test")
