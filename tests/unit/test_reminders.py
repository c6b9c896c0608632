"""The reminder engine with a controllable clock: sequences, quiet hours, opt-outs, caps,
crashes, several workers, e-mail over SMTP, asked-for reminders and the preview."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from settle import reminders
from settle.adapters.calls import record_call_status
from settle.adapters.email import EmailOutbox, SmtpMailer
from settle.adapters.payments import SandboxGateway
from settle.adapters.sms import Delivery
from settle.app.cli import main as settle_cli
from settle.app.runtime import Settle
from settle.config import BusinessSettings, ConfigError, Settings
from settle.messaging.consent import record_opt_out
from settle.reminders import claims as reminder_claims
from settle.reminders import engine, planning, sending
from settle.reminders.contact_rules import region_for
from settle.reminders.decisions import OpenInvoice, PassContext, plan_invoice, step_due_at
from settle.reminders.records import CallAttempt, ReminderClaim, RequestedReminder
from settle.rules.cadence import ReminderCadence, cadence_from_dict, load_cadence
from settle.store.db import Store
from settle.store.models import Customer, Dispute, Invoice, Message
from tests.fakes import FakeSmtp, FakeTwilio
from tests.migrations import downgrade, schema_drift

UTC = dt.timezone.utc
DUE = dt.date(2026, 12, 10)  # a Thursday


class RecordingSender:
    def __init__(self):
        self.sent = []

    def send(self, to: str, body: str) -> Delivery:
        self.sent.append((to, body))
        return Delivery("sent", f"SM{len(self.sent):04d}")


def make_app(
    store: Store, cadence: ReminderCadence = None, settings: Settings = None, sms=None, email=None
) -> Settle:
    settings = settings or Settings(
        database_url=str(store.engine.url),
        public_base_url="https://pay.example.test",
        business=BusinessSettings(name="Acme Plumbing", support_phone="+14155550100"),
    )
    if cadence is not None:
        settings = dataclasses.replace(settings, cadence=cadence)
    return Settle(
        settings,
        store,
        SandboxGateway(settings.public_base_url),
        sms or RecordingSender(),
        email=email or RecordingSender(),
    )


def add_customer(
    store: Store,
    customer_id="C1",
    phone="+12125550123",
    timezone="America/New_York",
    email="ann@example.com",
    language="en",
    postal_code="10001",
):
    with store.unit_of_work() as session:
        session.add(
            Customer(
                id=customer_id,
                name="Ann Lee",
                phone=phone,
                email=email,
                postal_code=postal_code,
                language=language,
                timezone=timezone,
            )
        )


def add_invoice(
    store: Store, invoice_id="INV-1", customer_id="C1", due=DUE, amount=28500, status="open"
):
    with store.unit_of_work() as session:
        session.add(
            Invoice(
                id=invoice_id,
                customer_id=customer_id,
                amount_minor=amount,
                currency="USD",
                issued_on=due - dt.timedelta(days=30),
                due_on=due,
                status=status,
            )
        )


def local(day: dt.date, hour: int, minute: int = 0, tz="America/New_York") -> dt.datetime:
    return dt.datetime(
        day.year, day.month, day.day, hour, minute, tzinfo=zoneinfo.ZoneInfo(tz)
    ).astimezone(UTC)


def claims(store: Store):
    with store.unit_of_work() as session:
        return {
            (c.invoice_id, c.step): (c.status, c.reason)
            for c in session.scalars(select(ReminderClaim))
        }


def messages(store: Store, channel=None):
    with store.unit_of_work() as session:
        query = select(Message).order_by(Message.id)
        if channel:
            query = query.where(Message.channel == channel)
        return session.scalars(query).all()


# --- configuration -----------------------------------------------------------------------


def test_the_settings_file_cadence_loads():
    cadence = load_cadence()
    assert [(s.name, s.channels) for s in cadence.steps] == [
        ("-3", ("sms",)),
        ("0", ("sms",)),
        ("+3", ("call",)),
        ("+7", ("sms", "email")),
        ("+14", ("call",)),
    ]
    quebec = cadence.window_for("CA-QC")
    assert quebec.end == dt.time(20, 0) and "sun" not in quebec.days
    assert cadence.window_for("US-CA") == cadence.quiet_hours
    assert cadence.quiet_hours.start == dt.time(8, 0) and cadence.quiet_hours.end == dt.time(21, 0)


@pytest.mark.parametrize(
    "raw, names",
    [
        ({"steps": {"+3": "fax"}}, "reminders.steps.+3"),
        ({"steps": {"soon": "sms"}}, "reminders.steps"),
        ({"quiet_hours": {"start": "22:00", "end": "08:00"}}, "reminders.quiet_hours"),
        ({"regions": {"CA-QC": {"days": ["someday"]}}}, "reminders.regions.CA-QC.days"),
        ({"call_attempts_max": -1}, "reminders.call_attempts_max"),
        ({"send_time": "noon"}, "reminders.send_time"),
        ({"cadance": {}}, "cadance"),
    ],
)
def test_a_bad_cadence_setting_is_named(raw, names):
    with pytest.raises(ConfigError, match=names.replace("+", r"\+")):
        cadence_from_dict(raw)


def test_yaml_times_without_quotes_are_read_as_times():
    # YAML 1.1 reads 08:00 as the number 480 (sexagesimal): still eight o'clock.
    cadence = cadence_from_dict({"quiet_hours": {"start": 480, "end": 1260}})
    assert cadence.quiet_hours.start == dt.time(8) and cadence.quiet_hours.end == dt.time(21)


# --- the sequence --------------------------------------------------------------------------


def simulate(store, app, start: dt.datetime, end: dt.datetime, every=dt.timedelta(hours=1)):
    now, passes = start, []
    while now <= end:
        summary = reminders.run_due_reminders(store, app, now, worker="w1")
        passes.append((now, summary))
        now += every
    return passes


def test_a_whole_sequence_over_twenty_days_sends_each_step_once_at_ten_local(sqlite_store):
    twilio = FakeTwilio().start()
    try:
        settings = Settings(
            database_url="sqlite://",
            public_base_url="https://pay.example.test",
            twilio_account_sid="AC" + "1" * 32,
            twilio_auth_token="token",
            twilio_from_number="+14155550999",
            twilio_api_base=twilio.url,
            business=BusinessSettings(name="Acme Plumbing", support_phone="+14155550100"),
        )
        from settle.adapters.sms import TwilioSms

        sms = TwilioSms(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from_number,
            twilio.url,
        )
        app = make_app(sqlite_store, settings=settings, sms=sms)
        add_customer(sqlite_store)
        add_invoice(sqlite_store)
        simulate(
            sqlite_store,
            app,
            local(DUE - dt.timedelta(days=5), 0),
            local(DUE + dt.timedelta(days=15), 23),
        )
        texts = twilio.posts("Messages")
        calls = twilio.posts("Calls")
    finally:
        twilio.stop()
    assert len(texts) == 3  # -3, 0, +7
    assert all(t.form["To"] == "+12125550123" for t in texts)
    assert "due soon" in texts[0].form["Body"] and "due today" in texts[1].form["Body"]
    assert "overdue" in texts[2].form["Body"]
    for text in texts:
        assert "https://pay.example.test/sandbox/checkout/" in text.form["Body"]
        assert "Reply STOP" in text.form["Body"] and "$285.00" in text.form["Body"]
    assert len(calls) == 2  # +3, +14
    assert "reason=reminder" in calls[0].form["Url"] and "invoice=INV-1" in calls[0].form["Url"]
    assert calls[0].form["MachineDetection"] == "DetectMessageEnd"  # voicemail after the beep
    assert "language=en" in calls[0].form["Url"]
    assert calls[0].form["StatusCallback"] == "https://pay.example.test/webhooks/twilio/call-status"
    with sqlite_store.unit_of_work() as session:  # Twilio reports the first call unanswered
        assert record_call_status(session, "CA" + "1".zfill(32), "no-answer")
        assert not record_call_status(session, "CA-unknown", "completed")
    with sqlite_store.unit_of_work() as session:
        statuses = sorted(a.status for a in session.scalars(select(CallAttempt)))
        assert statuses == ["no-answer", "queued"]
    assert len(app.email.sent) == 1 and app.email.sent[0][0] == "ann@example.com"
    assert {step: status for (_, step), (status, _) in claims(sqlite_store).items()} == {
        "-3": "sent",
        "0": "sent",
        "+3": "sent",
        "+7": "sent",
        "+14": "sent",
    }
    with sqlite_store.unit_of_work() as session:
        sent_at = {c.step: c.finished_at for c in session.scalars(select(ReminderClaim))}
        assert session.scalar(select(func.count(CallAttempt.id))) == 2
    for step, at in sent_at.items():
        local_at = at.astimezone(zoneinfo.ZoneInfo("America/New_York"))
        assert local_at.date() == DUE + dt.timedelta(days=int(step))
        assert local_at.hour == 10, (step, local_at)


def test_payment_stops_the_sequence(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    reminders.run_due_reminders(sqlite_store, app, local(DUE - dt.timedelta(days=3), 10))
    assert len(app.sms.sent) == 1
    with sqlite_store.unit_of_work() as session:
        invoice = session.get(Invoice, "INV-1")
        invoice.amount_paid_minor, invoice.status = invoice.amount_minor, "paid"
    simulate(
        sqlite_store,
        app,
        local(DUE, 0),
        local(DUE + dt.timedelta(days=20), 0),
        every=dt.timedelta(hours=6),
    )
    assert len(app.sms.sent) == 1 and not app.email.sent


def test_payment_between_claim_and_send_is_checked_at_send_time(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    now = local(DUE, 10)
    with sqlite_store.unit_of_work() as session:
        decisions = planning.plan(session, app.cadence, now)
    sends = [d for d in decisions if d.action == "send"]
    ids = reminder_claims.claim_steps(sqlite_store, "w1", sends, now, dt.timedelta(minutes=5))
    with sqlite_store.unit_of_work() as session:
        session.get(Invoice, "INV-1").status = "paid"
    outcome = sending.send_claimed(sqlite_store, app, "w1", "C1", ids, now)
    assert outcome.sent == 0 and outcome.skipped == 1
    assert claims(sqlite_store)[("INV-1", "0")] == ("skipped", "invoice paid")
    assert messages(sqlite_store) == []


def test_steps_missed_while_down_are_skipped_when_superseded_never_sent_in_a_burst(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    # Down from before the first step until the day after the +7 step.
    summary = reminders.run_due_reminders(sqlite_store, app, local(DUE + dt.timedelta(days=8), 9))
    assert summary.sent == 1 and summary.skipped == 3
    assert len(app.sms.sent) == 1 and "overdue" in app.sms.sent[0][1]
    recorded = claims(sqlite_store)
    for step in ("-3", "0", "+3"):
        assert recorded[("INV-1", step)] == ("skipped", "superseded by step +7")
    # A later pass sends nothing more that day.
    again = reminders.run_due_reminders(sqlite_store, app, local(DUE + dt.timedelta(days=8), 15))
    assert again.sent == 0 and len(app.sms.sent) == 1


def test_a_missed_step_still_useful_is_sent_once_and_a_stale_one_is_recorded(sqlite_store):
    app = make_app(
        sqlite_store,
        cadence=cadence_from_dict({"steps": {"-3": "sms", "+10": "sms"}, "still_useful_days": 2}),
    )
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    # Back two days after the -3 step: still useful, sent once.
    reminders.run_due_reminders(sqlite_store, app, local(DUE - dt.timedelta(days=1), 12))
    reminders.run_due_reminders(sqlite_store, app, local(DUE - dt.timedelta(days=1), 13))
    assert len(app.sms.sent) == 1
    add_invoice(sqlite_store, "INV-2")
    # INV-2's -3 step is three days late when the service sees it: skipped, recorded.
    reminders.run_due_reminders(sqlite_store, app, local(DUE + dt.timedelta(days=1), 12))
    assert claims(sqlite_store)[("INV-2", "-3")][0] == "skipped"
    assert "no longer useful" in claims(sqlite_store)[("INV-2", "-3")][1]
    assert len(app.sms.sent) == 1


# --- the rules -----------------------------------------------------------------------------


def test_quiet_hours_across_time_zones(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store, "LA", "+12135550123", "America/Los_Angeles", postal_code="90012")
    add_customer(sqlite_store, "NY", "+12125550123", "America/New_York")
    add_invoice(sqlite_store, "INV-LA", "LA")
    add_invoice(sqlite_store, "INV-NY", "NY")
    # The service comes back at 14:00 UTC, a day after the due-day step: 9:00 in New York,
    # 6:00 in Los Angeles.
    now = dt.datetime(DUE.year, DUE.month, DUE.day + 1, 14, 0, tzinfo=UTC)
    summary = reminders.run_due_reminders(sqlite_store, app, now)
    assert [to for to, _ in app.sms.sent] == ["+12125550123"]
    assert summary.held == 1 and summary.held_reasons == {"quiet hours": 1}
    with sqlite_store.unit_of_work() as session:
        held = [d for d in planning.plan(session, app.cadence, now) if d.action == "hold"]
    assert held[0].invoice_id == "INV-LA" and "06:00 local" in held[0].reason
    # 8:00 in Los Angeles: now it goes.
    reminders.run_due_reminders(
        sqlite_store, app, local(DUE + dt.timedelta(days=1), 8, 0, "America/Los_Angeles")
    )
    assert [to for to, _ in app.sms.sent] == ["+12125550123", "+12135550123"]


def test_quebec_is_texted_before_eight_pm_and_never_on_sunday(sqlite_store):
    app = make_app(sqlite_store, cadence=load_cadence())
    add_customer(sqlite_store, "QC", "+15145550123", "America/Toronto", postal_code="H2X 1Y4")
    sunday = dt.date(2026, 12, 13)
    add_invoice(sqlite_store, "INV-QC", "QC", due=sunday)
    add_invoice(sqlite_store, "INV-QC2", "QC", due=sunday, amount=9500)
    reminders.run_due_reminders(sqlite_store, app, local(sunday, 12, tz="America/Toronto"))
    assert app.sms.sent == []  # Sunday
    reminders.run_due_reminders(
        sqlite_store, app, local(sunday + dt.timedelta(days=1), 20, 30, tz="America/Toronto")
    )
    assert app.sms.sent == []  # 20:30 on Monday: after Québec's 20:00
    reminders.run_due_reminders(
        sqlite_store, app, local(sunday + dt.timedelta(days=2), 8, tz="America/Toronto")
    )
    assert len(app.sms.sent) == 1
    body = app.sms.sent[0][1]
    assert "2 overdue invoices" in body and "INV-QC:" in body and "INV-QC2:" in body


def test_an_opt_out_mid_sequence_stops_texts_and_calls_and_is_recorded(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    reminders.run_due_reminders(sqlite_store, app, local(DUE - dt.timedelta(days=3), 10))
    assert len(app.sms.sent) == 1
    with sqlite_store.unit_of_work() as session:
        record_opt_out(session, "+12125550123", "sms:STOP", "test")
    simulate(
        sqlite_store,
        app,
        local(DUE, 0),
        local(DUE + dt.timedelta(days=16), 0),
        every=dt.timedelta(hours=2),
    )
    assert len(app.sms.sent) == 1
    recorded = claims(sqlite_store)
    assert recorded[("INV-1", "0")] == ("skipped", "opted out of sms")
    assert recorded[("INV-1", "+3")] == ("skipped", "opted out of call")
    assert recorded[("INV-1", "+7")] == ("sent", "due (opted out of sms)")  # the e-mail still goes
    assert len(app.email.sent) == 1
    assert messages(sqlite_store, "call") == []


def test_opt_outs_are_per_channel(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    with sqlite_store.unit_of_work() as session:
        record_opt_out(session, "ann@example.com", "email:unsubscribe", "test", channel="email")
        record_opt_out(session, "+12125550123", "voice:request", "test", channel="call")
    simulate(
        sqlite_store,
        app,
        local(DUE - dt.timedelta(days=4), 0),
        local(DUE + dt.timedelta(days=16), 0),
        every=dt.timedelta(hours=2),
    )
    assert len(app.sms.sent) == 3 and app.email.sent == []
    assert messages(sqlite_store, "call") == []
    assert claims(sqlite_store)[("INV-1", "+14")] == ("skipped", "opted out of call")


def test_one_text_per_customer_per_day_listing_every_invoice(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store, "INV-1")
    add_invoice(sqlite_store, "INV-2", amount=9500)
    reminders.run_due_reminders(sqlite_store, app, local(DUE, 10))
    assert len(app.sms.sent) == 1
    body = app.sms.sent[0][1]
    assert "2 invoices due today" in body and "$285.00" in body and "$95.00" in body
    assert body.count("/sandbox/checkout/") == 2
    # A third invoice imported later that day waits for tomorrow.
    add_invoice(sqlite_store, "INV-3", due=DUE + dt.timedelta(days=3))
    summary = reminders.run_due_reminders(sqlite_store, app, local(DUE, 15))
    assert summary.held_reasons == {"already contacted by sms today": 1}
    reminders.run_due_reminders(sqlite_store, app, local(DUE + dt.timedelta(days=1), 10))
    assert len(app.sms.sent) == 2 and "INV-3" in app.sms.sent[1][1]


def test_call_caps_and_no_calls_after_a_phone_conversation(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    add_invoice(sqlite_store, "INV-2")
    at = local(DUE + dt.timedelta(days=3), 10)
    with sqlite_store.unit_of_work() as session:
        for n in range(7):
            session.add(
                CallAttempt(
                    customer_id="C1",
                    invoice_id="INV-1",
                    reason="manual",
                    at=at - dt.timedelta(days=1, hours=n),
                )
            )
        reminders.record_phone_conversation(session, "C1", ["INV-2"], at - dt.timedelta(days=2))
    with sqlite_store.unit_of_work() as session:
        reasons = {d.invoice_id: d.reason for d in planning.plan(session, app.cadence, at)}
    assert reasons["INV-1"] == "call cap (7 calls in 7 days)"
    assert reasons["INV-2"] == "phone conversation within 7 days"
    reminders.run_due_reminders(sqlite_store, app, at)
    assert messages(sqlite_store, "call") == []


def test_disputed_and_on_plan_invoices_get_no_reminders(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store, "INV-1")
    with sqlite_store.unit_of_work() as session:
        session.add(Dispute(invoice_id="INV-1", customer_id="C1", reason="not mine", status="open"))
    summary = reminders.run_due_reminders(sqlite_store, app, local(DUE, 10))
    assert summary.sent == 0 and summary.held_reasons == {"disputed": 1}
    assert app.sms.sent == []


# --- exactly once --------------------------------------------------------------------------


def test_a_crash_between_claim_and_send_is_recovered_after_the_lease_and_sent_once(
    sqlite_store, monkeypatch
):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    now = local(DUE, 10)

    def crash(*args, **kwargs):
        raise SystemExit("worker killed after claiming")

    with monkeypatch.context() as patched:
        patched.setattr(engine, "send_claimed_batch", crash)
        with pytest.raises(SystemExit):
            reminders.run_due_reminders(sqlite_store, app, now, worker="dead")
    assert claims(sqlite_store)[("INV-1", "0")][0] == "claimed"
    # Another worker within the lease leaves it alone…
    reminders.run_due_reminders(sqlite_store, app, now + dt.timedelta(minutes=1), worker="w2")
    assert app.sms.sent == []
    # …and takes it over once the lease is over, sending it once.
    later = now + dt.timedelta(seconds=app.cadence.claim_lease_seconds + 60)
    reminders.run_due_reminders(sqlite_store, app, later, worker="w2")
    reminders.run_due_reminders(sqlite_store, app, later + dt.timedelta(minutes=1), worker="w3")
    assert len(app.sms.sent) == 1
    assert claims(sqlite_store)[("INV-1", "0")][0] == "sent"
    assert [m.idempotency_key for m in messages(sqlite_store)] == ["reminder:INV-1:0"]


def test_a_claim_left_by_a_crash_is_closed_when_the_step_may_no_longer_go(
    sqlite_store, monkeypatch
):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    now = local(DUE, 10)
    with monkeypatch.context() as patched:
        patched.setattr(engine, "send_claimed_batch", lambda *a, **k: sending.SendOutcome())
        reminders.run_due_reminders(sqlite_store, app, now, worker="dead")
    with sqlite_store.unit_of_work() as session:
        record_opt_out(session, "+12125550123", "sms:STOP", "test")
    reminders.run_due_reminders(sqlite_store, app, now + dt.timedelta(hours=1), worker="w2")
    assert claims(sqlite_store)[("INV-1", "0")] == (
        "skipped",
        "skipped after its worker stopped before sending",
    )
    assert app.sms.sent == []


def test_a_crash_after_queueing_but_before_delivery_is_delivered_by_the_outbox(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    reminders.run_due_reminders(sqlite_store, app, local(DUE, 10), deliver=False)
    assert app.sms.sent == [] and messages(sqlite_store)[0].status == "queued"
    reminders.run_due_reminders(sqlite_store, app, local(DUE, 11))  # nothing new to claim
    app.deliver_messages(now=local(DUE, 11))
    app.deliver_messages(now=local(DUE, 11))
    assert len(app.sms.sent) == 1


def _two_workers(store: Store, passes: int = 6):
    app = make_app(store)
    for n in range(20):
        add_customer(store, f"C{n}", f"+1212555{n:04d}", email=None)
        add_invoice(store, f"INV-{n}", f"C{n}")
    now = local(DUE, 10)
    errors = []

    def worker(name):
        try:
            for k in range(passes):
                reminders.run_due_reminders(store, app, now + dt.timedelta(seconds=k), worker=name)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return app


def test_two_workers_on_sqlite_never_send_one_step_twice(sqlite_store):
    app = _two_workers(sqlite_store)
    assert sorted(to for to, _ in app.sms.sent) == [f"+1212555{n:04d}" for n in range(20)]


@pytest.mark.postgres
def test_two_workers_on_postgresql_never_send_one_step_twice(postgres_url):
    store = Store.connect(postgres_url)
    try:
        app = _two_workers(store, passes=8)
        assert sorted(to for to, _ in app.sms.sent) == [f"+1212555{n:04d}" for n in range(20)]
        with store.unit_of_work() as session:
            assert session.scalar(select(func.count(Message.id))) == 20
            assert (
                session.scalar(
                    select(func.count(ReminderClaim.id)).where(ReminderClaim.status == "sent")
                )
                == 20
            )
    finally:
        store.engine.dispose()


# --- e-mail --------------------------------------------------------------------------------


def test_email_reminders_go_through_a_local_smtp_server(sqlite_store):
    smtp = FakeSmtp().start()
    try:
        app = make_app(sqlite_store, email=SmtpMailer(smtp.url, "billing@acme.test"))
        add_customer(sqlite_store, language="es")
        add_invoice(sqlite_store)
        reminders.run_due_reminders(sqlite_store, app, local(DUE + dt.timedelta(days=7), 10))
        reminders.run_due_reminders(sqlite_store, app, local(DUE + dt.timedelta(days=7), 12))
    finally:
        smtp.stop()
    assert len(smtp.messages) == 1
    sent = smtp.messages[0]
    assert sent["to"] == ["ann@example.com"] and sent["from"] == "billing@acme.test"
    assert sent["message"]["Subject"] == "Acme Plumbing: recordatorio de sus facturas pendientes"
    body = sent["message"].get_content()
    assert "INV-1: $285.00, vence el 10 dic 2026" in body
    assert "https://pay.example.test/sandbox/checkout/" in body
    [email] = messages(sqlite_store, "email")
    assert email.status == "sent" and email.idempotency_key == "reminder:INV-1:+7:email"


def test_without_smtp_url_emails_stay_in_the_outbox(sqlite_store):
    app = make_app(sqlite_store, email=EmailOutbox())
    add_customer(sqlite_store)
    add_invoice(sqlite_store)
    reminders.run_due_reminders(sqlite_store, app, local(DUE + dt.timedelta(days=7), 10))
    assert [m.status for m in messages(sqlite_store, "email")] == ["outbox"]


def test_smtp_settings_are_checked():
    with pytest.raises(ConfigError, match="SMTP_FROM"):
        Settings.from_env({"SMTP_URL": "smtp://mail.example.test:587?starttls=1"})
    with pytest.raises(ConfigError, match="SMTP_URL"):
        SmtpMailer("http://mail.example.test", "billing@acme.test")
    mailer = SmtpMailer("smtp://user:p%40ss@mail.example.test:587?starttls=1", "a@b.test")
    assert (mailer.host, mailer.port, mailer.starttls, mailer.password) == (
        "mail.example.test",
        587,
        True,
        "p@ss",
    )


# --- asked-for reminders -------------------------------------------------------------------

MONDAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    "language, text, on, channel",
    [
        ("en", "remind me Friday", dt.date(2026, 11, 27), None),
        ("en", "text me on the 15th", dt.date(2026, 12, 15), "sms"),
        ("en", "call me tomorrow", dt.date(2026, 11, 24), "call"),
        ("en", "in three days", dt.date(2026, 11, 26), None),
        ("en", "remind me Monday", dt.date(2026, 11, 30), None),  # the next one, never today
        ("es", "recuérdame el viernes", dt.date(2026, 11, 27), None),
        ("es", "llámame el quince", dt.date(2026, 12, 15), "call"),
        ("es", "mándame un mensaje pasado mañana", dt.date(2026, 11, 25), "sms"),
        ("fr", "rappelle-moi demain", dt.date(2026, 11, 24), None),
        ("fr", "appelez-moi le 3 décembre", dt.date(2026, 12, 3), "call"),
        ("de", "erinnere mich am Freitag", dt.date(2026, 11, 27), None),
        ("de", "ruf mich am 15. an", dt.date(2026, 12, 15), "call"),
        ("pt", "me lembre na sexta", dt.date(2026, 11, 27), None),
        ("pt", "me manda mensagem no dia 2", dt.date(2026, 12, 2), "sms"),
        ("it", "ricordamelo venerdì", dt.date(2026, 11, 27), None),
        ("it", "chiamami dopodomani", dt.date(2026, 11, 25), "call"),
    ],
)
def test_reminder_dates_in_six_languages(language, text, on, channel):
    when = reminders.parse_reminder_request(text, language, MONDAY, "America/New_York")
    assert (when.on, when.channel, when.ambiguous) == (on, channel, False)


@pytest.mark.parametrize(
    "language, text",
    [
        ("en", "next week"),
        ("es", "la próxima semana"),
        ("fr", "la semaine prochaine"),
        ("de", "nächste Woche"),
        ("pt", "semana que vem"),
        ("it", "la prossima settimana"),
    ],
)
def test_next_week_is_ambiguous_with_its_monday_to_confirm(language, text):
    when = reminders.parse_reminder_request(text, language, MONDAY, "America/New_York")
    assert when.ambiguous and when.on == dt.date(2026, 11, 30)


def test_no_date_at_all_is_ambiguous():
    when = reminders.parse_reminder_request("remind me later", "en", MONDAY, "America/New_York")
    assert when.on is None and when.ambiguous


def test_an_asked_for_reminder_is_scheduled_once_and_sent_once_at_ten_local(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store, "LA", "+12135550123", "America/Los_Angeles", postal_code="90012")
    add_invoice(sqlite_store, "INV-1", "LA", due=dt.date(2027, 1, 30))
    with sqlite_store.unit_of_work() as session:
        first = reminders.schedule_requested_reminder(
            session,
            "LA",
            "INV-1",
            dt.date(2026, 11, 27),
            "sms",
            "conv-1:turn-4",
            "conversation:x",
            cadence=app.cadence,
        )
        again = reminders.schedule_requested_reminder(
            session,
            "LA",
            "INV-1",
            dt.date(2026, 11, 28),
            "sms",
            "conv-1:turn-4",
            "conversation:x",
            app.cadence,
        )
    assert again == first
    assert first.send_at == local(dt.date(2026, 11, 27), 10, tz="America/Los_Angeles")
    reminders.run_due_reminders(sqlite_store, app, first.send_at - dt.timedelta(minutes=1))
    assert app.sms.sent == []
    reminders.run_due_reminders(sqlite_store, app, first.send_at)
    reminders.run_due_reminders(sqlite_store, app, first.send_at + dt.timedelta(hours=1))
    assert len(app.sms.sent) == 1 and "the reminder you asked for" in app.sms.sent[0][1]
    assert "INV-1" in app.sms.sent[0][1]


def test_an_asked_for_reminder_is_cancelled_when_the_invoice_is_paid(sqlite_store):
    app = make_app(sqlite_store)
    add_customer(sqlite_store)
    add_invoice(sqlite_store, due=dt.date(2027, 1, 30))
    with sqlite_store.unit_of_work() as session:
        scheduled = reminders.schedule_requested_reminder(
            session, "C1", "INV-1", dt.date(2026, 11, 27), "call", "k1", "test", cadence=app.cadence
        )
        session.get(Invoice, "INV-1").status = "paid"
    reminders.run_due_reminders(sqlite_store, app, scheduled.send_at + dt.timedelta(minutes=5))
    with sqlite_store.unit_of_work() as session:
        row = session.get(RequestedReminder, scheduled.id)
        assert (row.status, row.reason) == ("cancelled", "invoice paid")
    assert app.sms.sent == []


# --- preview -------------------------------------------------------------------------------


def test_preview_shows_what_would_go_out_and_why_the_rest_is_held(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'preview.db'}"
    store = Store.connect(url)
    add_customer(store, "NY", "+12125550123")
    add_customer(store, "LA", "+12135550123", "America/Los_Angeles", postal_code="90012")
    add_customer(store, "OUT", "+12125550999")
    add_invoice(store, "INV-NY", "NY")
    add_invoice(store, "INV-LA", "LA")
    add_invoice(store, "INV-OUT", "OUT")
    with store.unit_of_work() as session:
        record_opt_out(session, "+12125550999", "sms:STOP", "test")
    store.engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    # The day after the due date at 14:00 UTC: 9:00 in New York, 6:00 in Los Angeles.
    day = (DUE + dt.timedelta(days=1)).isoformat()
    assert settle_cli(["reminders", "preview", "--date", day, "--at", "14:00", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    by_invoice = {d["invoice_id"]: d for d in document["decisions"] if d["step"] == "0"}
    assert by_invoice["INV-NY"]["action"] == "send"
    assert by_invoice["INV-LA"]["action"] == "hold"
    assert by_invoice["INV-LA"]["reason"].startswith("quiet hours (Fri 06:00 local")
    assert by_invoice["INV-OUT"] == {
        **by_invoice["INV-OUT"],
        "action": "skip",
        "reason": "opted out of sms",
    }
    assert settle_cli(["reminders", "preview", "--date", day, "--at", "14:00"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Reminders at 2026-12-11 14:00 UTC: 1 to send, 1 held, 4 to skip")
    assert "superseded by step 0" in text  # the -3 steps nobody sent before
    with Store.connect(url).unit_of_work() as session:  # a preview writes nothing
        assert session.scalar(select(func.count(ReminderClaim.id))) == 0


# --- properties of the plan ----------------------------------------------------------------

ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/Chicago",
    "Europe/Berlin",
    "America/Toronto",
    "Pacific/Honolulu",
]


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    due_offset=st.integers(-30, 30),
    minutes=st.integers(0, 7 * 24 * 60),
    timezone=st.sampled_from(ZONES),
    phone=st.sampled_from(["+12125550123", "+15145550123"]),
    sent=st.sets(st.sampled_from(["-3", "0", "+3", "+7", "+14"])),
)
def test_a_plan_sends_at_most_one_step_per_invoice_inside_contact_hours_and_never_a_done_one(
    due_offset, minutes, timezone, phone, sent
):
    cadence = load_cadence()
    now = dt.datetime(2026, 12, 1, tzinfo=UTC) + dt.timedelta(minutes=minutes)
    invoice = OpenInvoice(
        "INV-1",
        "C1",
        dt.date(2026, 12, 1) + dt.timedelta(days=due_offset),
        phone,
        "a@example.com",
        timezone,
        "",
    )
    context = PassContext(
        {("INV-1", step): "sent" for step in sent}, set(), set(), set(), set(), {}, {}, {}
    )
    decisions = plan_invoice(invoice, context, cadence, now)
    sends = [d for d in decisions if d.action == "send"]
    assert len(sends) <= 1
    assert len({d.step for d in decisions}) == len(decisions)  # one decision per step
    for decision in decisions:
        assert decision.due_at <= now
        if decision.action in ("send", "skip"):
            assert decision.step not in sent
    if sends:
        local_now = now.astimezone(zoneinfo.ZoneInfo(timezone))
        window = cadence.window_for(region_for(phone, ""))
        assert window.allows(local_now)
        # The step sent is the latest one due: nothing later is due yet.
        later = [s for s in cadence.steps if int(s.name) > int(sends[0].step)]
        assert all(step_due_at(cadence, s, invoice.due_on, timezone) > now for s in later)


# --- schema --------------------------------------------------------------------------------


def test_reminder_models_match_migration_0005_and_it_downgrades(store):
    from sqlalchemy import inspect

    assert (
        schema_drift(
            store, "reminder_claims", "requested_reminders", "call_attempts", "phone_conversations"
        )
        == []
    )
    downgrade(store, "0004")
    assert "reminder_claims" not in inspect(store.engine).get_table_names()
    Store.connect(str(store.engine.url)).engine.dispose()
    assert "reminder_claims" in inspect(store.engine).get_table_names()
