"""The plan, refund, dispute and reminder actions with tracker fixtures, on the demo data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

import pytest
from sqlalchemy import func, select

from actions.dispute import ActionDispute
from actions.plan import ActionPaymentPlan, ActionSetUpPlan
from actions.refund import ActionIssueRefund, ActionRefund
from actions.reminder import ActionReminder, ActionScheduleReminder
from settle.reminders.records import RequestedReminder
from settle.store.models import AuditEntry, Dispute, Payment, Plan, Refund, utcnow
from tests.unit.trackers import run, tracker

AVA = {"verified": True, "customer_id": "C001"}  # one open invoice: INV-1001, $285.00
BEN = {"verified": True, "customer_id": "C002"}  # three: $120.50, $95.00, $310.75


def sms(text: str, slots=None, message_id: str = "m1"):
    """A message from Ava's phone: the signed SMS channel verifies her by caller ID."""
    return tracker(
        text, channel="twilio", sender="+14155550101", slots=slots, message_id=message_id
    )


def test_plan_offer_reads_back_the_default_plan_and_the_other_counts(app):
    said, slots, messages = run(ActionPaymentPlan(), sms("can I pay in installments"))
    assert said == ["utter_offer_plan"]
    assert slots["stage"] == "awaiting_plan_confirmation" and slots["invoice_id"] == "INV-1001"
    assert slots["plan_count"] == 3.0
    assert messages[0]["schedule"] == "3 monthly payments of $95.00, the first today"
    assert messages[0]["alternatives"] == "I can also do 2, 4 or 6 payments. "


def test_asking_for_another_count_inside_and_outside_the_rules(app):
    offered = {
        **AVA,
        "stage": "awaiting_plan_confirmation",
        "invoice_id": "INV-1001",
        "plan_count": 3.0,
    }
    said, slots, messages = run(ActionPaymentPlan(), sms("could I do six", slots=offered))
    assert slots["plan_count"] == 6.0 and messages[0]["note"] == ""
    assert messages[0]["schedule"] == "6 monthly payments of $47.50, the first today"
    said, slots, messages = run(ActionPaymentPlan(), sms("what about 8 payments", slots=offered))
    assert slots["plan_count"] == 6.0 and messages[0]["note"] == "I can't do 8 payments. "
    said, slots, _ = run(ActionPaymentPlan(), sms("fewer payments", slots=offered))
    assert slots["plan_count"] == 2.0


def test_uneven_amounts_put_the_extra_cents_first_and_say_so(app):
    said, slots, messages = run(
        ActionPaymentPlan(),
        tracker(
            "make it four",
            slots={
                **BEN,
                "stage": "awaiting_plan_confirmation",
                "invoice_id": "INV-2003",
                "plan_count": 3.0,
            },
        ),
    )
    # $310.75 in four: $77.68 each and the 3 cents left over on the first.
    assert messages[0]["schedule"] == "4 monthly payments: $77.71 today, then $77.68 each"


def test_an_invoice_below_the_plan_minimum_is_explained_and_paying_now_offered(app):
    said, slots, messages = run(
        ActionPaymentPlan(),
        tracker(
            "installments please",
            slots={**BEN, "stage": "awaiting_plan_confirmation", "invoice_id": "INV-2002"},
        ),
    )
    assert said == ["utter_plan_not_available"]
    assert messages[0]["reason"].startswith("Payment plans are for balances of $100.00 or more")
    assert slots["stage"] == "awaiting_confirmation" and slots["goal"] == "pay"
    assert slots["invoice_id"] == "INV-2002"


def test_plan_set_up_once_per_request_with_one_card_saving_link(app):
    offered = {
        **AVA,
        "stage": "awaiting_plan_confirmation",
        "invoice_id": "INV-1001",
        "plan_count": 3.0,
    }
    for _ in range(2):
        said, slots, messages = run(ActionSetUpPlan(), sms("yes", slots=offered, message_id="m9"))
        assert said == ["utter_plan_link_sent"] and slots["stage"] is None
        assert messages[0]["first_amount"] == "$95.00" and messages[0]["first"] == "today"
    assert len(app.sms.sent) == 1 and app.sms.sent[0][0] == "+14155550101"
    with app.store.unit_of_work() as session:
        plan = session.scalars(select(Plan)).one()
        assert (plan.invoice_id, plan.installment_count, plan.status) == (
            "INV-1001",
            3,
            "pending_card",
        )


def test_a_disabled_skill_hands_over_politely(app):
    policy = dataclasses.replace(
        app.policy, skills=dataclasses.replace(app.policy.skills, plans=False)
    )
    app.settings = dataclasses.replace(app.settings, policy=policy)
    said, slots, _ = run(ActionPaymentPlan(), sms("payment plan"))
    assert said == ["utter_skill_unavailable", "utter_handoff"]
    with app.store.unit_of_work() as session:
        assert (
            session.scalar(
                select(AuditEntry.detail).where(AuditEntry.action == "handoff.requested")
            )["reason"]
            == "plan_disabled"
        )


def _paid(app, invoice_id: str, amount_minor: int, ref: str, days_ago: int = 1) -> int:
    with app.store.unit_of_work() as session:
        payment = Payment(
            invoice_id=invoice_id,
            amount_minor=amount_minor,
            currency="USD",
            provider="sandbox",
            provider_ref=ref,
            created_at=utcnow() - dt.timedelta(days=days_ago),
        )
        session.add(payment)
        session.flush()
        return payment.id


def test_charged_twice_one_payment_is_offered_for_refund_then_refunded_once(app):
    payment_id = _paid(app, "INV-2002", 9500, "pi_sandbox_1")
    said, slots, messages = run(ActionRefund(), tracker("you charged me twice", slots=BEN))
    assert said == ["utter_confirm_refund"] and messages[0]["amount"] == "$95.00"
    assert slots["stage"] == "awaiting_refund_confirmation"
    assert slots["payment_id"] == str(payment_id) and slots["refund_reason"] == "duplicate"
    confirmed = {**BEN, **{k: slots[k] for k in ("stage", "payment_id", "refund_reason")}}
    said, slots, _ = run(ActionIssueRefund(), tracker("yes", slots=confirmed, message_id="m3"))
    assert said == ["utter_refund_issued"] and slots["stage"] is None
    said, _, _ = run(ActionIssueRefund(), tracker("yes", slots=confirmed, message_id="m4"))
    assert said == ["utter_refund_already"]
    with app.store.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Refund)) == 1


def test_several_payments_are_listed_and_picked_then_the_reason_asked(app):
    _paid(app, "INV-2001", 12050, "pi_a", days_ago=3)
    second = _paid(app, "INV-2002", 9500, "pi_b", days_ago=1)
    said, slots, messages = run(ActionRefund(), tracker("i want a refund", slots=BEN))
    assert said == ["utter_refund_payment_list"] and slots["stage"] == "awaiting_refund_choice"
    assert messages[0]["payment_list"].splitlines()[0].startswith("1. $95.00, paid ")
    listed = {**BEN, "stage": "awaiting_refund_choice", "payment_choices": slots["payment_choices"]}
    said, slots, _ = run(ActionRefund(), tracker("the first one", slots=listed))
    assert said == ["utter_ask_refund_reason"] and slots["payment_id"] == str(second)
    said, slots, _ = run(
        ActionRefund(),
        tracker(
            "the technician never came",
            slots={**BEN, "stage": "awaiting_refund_reason", "payment_id": str(second)},
        ),
    )
    assert said == ["utter_confirm_refund"] and slots["refund_reason"] == "service_not_provided"


def test_a_reason_outside_the_policy_is_explained_and_handed_over(app):
    payment_id = _paid(app, "INV-2002", 9500, "pi_c")
    said, slots, messages = run(
        ActionRefund(),
        tracker(
            "i changed my mind",
            slots={**BEN, "stage": "awaiting_refund_reason", "payment_id": str(payment_id)},
        ),
    )
    assert said == ["utter_refund_refused", "utter_handoff"] and slots["stage"] is None
    assert messages[0]["why"] == "Our refund policy doesn't cover that reason."
    with app.store.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Refund)) == 0


def test_a_refund_over_the_approval_limit_goes_to_a_person(app):
    _paid(app, "INV-1001", 28500, "pi_d")
    said, _, messages = run(ActionRefund(), sms("i was charged twice, refund me", slots=AVA))
    assert said == ["utter_refund_needs_person", "utter_handoff"]
    assert messages[0]["amount"] == "$285.00"


def test_dispute_is_recorded_with_the_customers_words_and_blocks_a_plan(app):
    said, slots, _ = run(ActionDispute(), sms("I don't owe this"))
    assert said == ["utter_ask_dispute_reason"] and slots["stage"] == "awaiting_dispute_reason"
    said, slots, _ = run(
        ActionDispute(),
        sms(
            "the work was never done",
            slots={**AVA, "stage": "awaiting_dispute_reason", "invoice_id": "INV-1001"},
        ),
    )
    assert said == ["utter_dispute_recorded", "utter_handoff"] and slots["stage"] is None
    with app.store.unit_of_work() as session:
        dispute = session.scalars(select(Dispute)).one()
        assert (dispute.invoice_id, dispute.reason, dispute.status) == (
            "INV-1001",
            "the work was never done",
            "open",
        )
    said, _, messages = run(ActionPaymentPlan(), sms("can I pay in installments"))
    assert said == ["utter_plan_not_available"] and "dispute" in messages[0]["reason"]


@pytest.mark.parametrize(
    "text, language",
    [
        ("remind me friday", "en"),
        ("recuérdamelo el viernes", "es"),
        ("rappelez-moi vendredi", "fr"),
    ],
)
def test_remind_me_friday_is_confirmed_then_scheduled_once(app, text, language):
    business = dataclasses.replace(app.settings.business, languages=("en", "es", "fr"))
    app.settings = dataclasses.replace(app.settings, business=business)
    said, slots, messages = run(ActionReminder(), sms(text, slots={"language": language}))
    assert said == ["utter_confirm_reminder_sms"]
    on = dt.date.fromisoformat(slots["reminder_on"])
    assert on.weekday() == 4 and on > dt.date.today() - dt.timedelta(days=1)
    confirmed = {
        **AVA,
        "language": language,
        "stage": "awaiting_reminder_confirmation",
        "reminder_on": slots["reminder_on"],
        "reminder_channel": "sms",
    }
    for _ in range(2):
        said, slots, _ = run(ActionScheduleReminder(), sms("yes", slots=confirmed, message_id="m5"))
        assert said == ["utter_reminder_scheduled_sms"] and slots["stage"] is None
    with app.store.unit_of_work() as session:
        reminder = session.scalars(select(RequestedReminder)).one()
        assert (reminder.customer_id, reminder.on_date, reminder.channel) == ("C001", on, "sms")
        # Sent inside the customer's day (Los Angeles), not at midnight UTC.
        local = reminder.send_at.astimezone(zoneinfo.ZoneInfo("America/Los_Angeles"))
        assert local.date() == on and 8 <= local.hour < 21


def test_a_reminder_without_a_date_asks_for_one(app):
    said, slots, _ = run(ActionReminder(), sms("can you remind me later"))
    assert said == ["utter_ask_reminder_date"] and slots["stage"] == "awaiting_reminder_date"
    said, slots, _ = run(
        ActionReminder(), sms("whenever", slots={**AVA, "stage": "awaiting_reminder_date"})
    )
    assert said == ["utter_reminder_date_again"]


def test_a_refused_refund_on_a_call_goes_to_the_refund_desk(app):
    routes = dataclasses.replace(app.policy.handoff, phones={"refunds": "+14155550199"})
    app.settings = dataclasses.replace(
        app.settings, policy=dataclasses.replace(app.policy, handoff=routes)
    )
    payment_id = _paid(app, "INV-2002", 9500, "pi_e")
    said, _, messages = run(
        ActionRefund(),
        tracker(
            "i changed my mind",
            channel="twilio_voice",
            sender="+12125550102",
            slots={**BEN, "stage": "awaiting_refund_reason", "payment_id": str(payment_id)},
        ),
    )
    assert said == ["utter_refund_refused", "utter_handoff"]
    assert messages[1]["custom"]["handoff"]["to"] == "+14155550199"
