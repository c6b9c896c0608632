"""Actions with tracker fixtures: what they say and which slots they set, on the demo data."""

from __future__ import annotations

from sqlalchemy import func, select

from actions.opt_out import ActionOptOut
from actions.payment import ActionPayInvoice, ActionSendPaymentLink
from actions.router import ActionChooseInvoice, ActionVerifyIdentity
from settle.store.models import AuditEntry, Message, OptOut, PaymentLink
from tests.unit.trackers import run, tracker


def test_rest_sender_that_looks_like_a_phone_is_not_trusted(app):
    said, slots, _ = run(ActionPayInvoice(), tracker("pay", channel="rest", sender="+14155550101"))
    assert said == ["utter_ask_identity"]
    assert slots["stage"] == "awaiting_identity"
    assert "verified" not in slots


def test_signed_sms_sender_is_verified_by_caller_id_and_hears_the_one_invoice(app):
    said, slots, messages = run(
        ActionPayInvoice(), tracker("pay", channel="twilio", sender="+14155550101")
    )
    assert said == ["utter_one_invoice"]
    assert slots["verified"] is True and slots["customer_id"] == "C001"
    assert slots["stage"] == "awaiting_confirmation" and slots["invoice_id"] == "INV-1001"
    assert messages[0]["amount"] == "$285.00" and messages[0]["due_date"] == "December 3, 2026"
    with app.store.unit_of_work() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "identity.verified")
            )
            == 1
        )


def test_identity_in_two_messages_then_the_five_most_recent_of_eight(app):
    said, slots, _ = run(ActionVerifyIdentity(), tracker("INV-3001", slots={"goal": "pay"}))
    assert said == ["utter_ask_postal_code"] and slots == {"claimed_invoice_number": "INV-3001"}
    said, slots, messages = run(
        ActionVerifyIdentity(),
        tracker("60614", slots={"goal": "pay", "claimed_invoice_number": "INV-3001"}),
    )
    assert said == ["utter_identity_verified", "utter_invoice_list_recent"]
    assert messages[1]["count"] == 8 and messages[1]["shown"] == 5
    assert slots["invoice_choices"] == ["INV-3008", "INV-3007", "INV-3006", "INV-3005", "INV-3004"]
    assert (
        messages[1]["invoice_list"].splitlines()[0] == "1. $68.20, due December 1, 2026 (INV-3008)"
    )


def test_third_wrong_identity_hands_over_and_discloses_nothing(app):
    for wrong in ("11111", "22222"):
        said, _, _ = run(
            ActionVerifyIdentity(), tracker(f"INV-1001 {wrong}", slots={"goal": "pay"})
        )
        assert said == ["utter_identity_failed"]
    # The count lives in the database: slots a restart would clear don't reset it.
    said, slots, _ = run(
        ActionVerifyIdentity(),
        tracker("INV-1001 33333", slots={"goal": "pay", "verification_failures": 0.0}),
    )
    assert said == ["utter_handoff_unverified"]
    assert slots["stage"] is None
    assert "verified" not in slots and "customer_id" not in slots
    # No more guesses in this conversation, not even the right one.
    said, slots, _ = run(ActionVerifyIdentity(), tracker("INV-1001 94110", slots={"goal": "pay"}))
    assert said == ["utter_handoff_unverified"] and "verified" not in slots
    said, slots, _ = run(ActionPayInvoice(), tracker("pay"))
    assert said == ["utter_handoff_unverified"]


def test_a_pick_can_only_be_one_of_the_invoices_offered_to_this_customer(app):
    verified = {
        "verified": True,
        "customer_id": "C002",
        "stage": "awaiting_choice",
        "invoice_choices": ["INV-2003", "INV-2002", "INV-2001"],
    }
    said, slots, _ = run(ActionChooseInvoice(), tracker("INV-3001 please", slots=verified))
    assert said == ["utter_which_invoice"] and slots == {}
    said, slots, messages = run(ActionChooseInvoice(), tracker("the 95 one", slots=verified))
    assert said == ["utter_confirm_payment"] and slots["invoice_id"] == "INV-2002"
    assert messages[0]["amount"] == "$95.00"


def test_sending_a_link_for_someone_elses_invoice_is_refused(app):
    said, _, _ = run(
        ActionSendPaymentLink(),
        tracker("yes", slots={"verified": True, "customer_id": "C002", "invoice_id": "INV-1001"}),
    )
    assert said == ["utter_nothing_to_pay"]
    with app.store.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(PaymentLink)) == 0


def test_link_is_texted_once_per_request_even_when_the_action_runs_twice(app):
    slots = {"verified": True, "customer_id": "C001", "invoice_id": "INV-1001"}
    for _ in range(2):
        said, _, messages = run(
            ActionSendPaymentLink(), tracker("yes", slots=slots, message_id="m7")
        )
        assert said == ["utter_payment_link_sent"] and messages[0]["phone_last4"] == "0101"
    assert len(app.sms.sent) == 1
    to, body = app.sms.sent[0]
    assert to == "+14155550101" and "https://pay.example.test/sandbox/checkout/cs_sandbox_" in body


def test_opt_out_on_sms_is_recorded_at_once_and_later_links_are_refused(app):
    said, _, _ = run(ActionOptOut(), tracker("STOP", channel="twilio", sender="+14155550101"))
    assert said == ["utter_opted_out"]
    said, _, _ = run(
        ActionSendPaymentLink(),
        tracker("yes", slots={"verified": True, "customer_id": "C001", "invoice_id": "INV-1001"}),
    )
    assert said == ["utter_payment_link_refused"]
    assert app.sms.sent == []
    with app.store.unit_of_work() as session:
        assert session.scalar(select(OptOut.phone)) == "+14155550101"
        assert session.scalar(select(Message.status)) == "refused"


def test_opt_out_on_web_chat_asks_who_it_is_first(app):
    said, slots, _ = run(ActionOptOut(), tracker("stop messaging me", channel="rest"))
    assert said == ["utter_ask_identity"] and slots["goal"] == "opt_out"
