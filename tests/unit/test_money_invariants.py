"""Money that adds up, on SQLite and PostgreSQL, under concurrent and duplicate events.

Invariants checked after every scenario:
* paid = sum of payments − sum of succeeded refunds;
* an invoice is paid exactly when paid ≥ amount, unless a person holds it;
* an overpayment is flagged and shown (overpaid), never hidden;
* a link is open only for the balance it was made for.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from settle.billing.checkout import ensure_link
from settle.billing.importer import import_billing_data
from settle.billing.reconcile import handle_payment_event
from settle.store.models import AuditEntry, Dispute, Invoice, Message, Payment, PaymentLink, Refund

DEMO = Path(__file__).resolve().parent.parent.parent / "settle" / "demo"


class Gateway:
    provider = "sandbox"

    def __init__(self):
        self.made = 0

    def create_checkout(self, request):
        from settle.adapters.payments import CheckoutSession

        self.made += 1
        return CheckoutSession(
            f"cs_{request.idempotency_key[-8:]}_{self.made}",
            f"https://pay.test/{self.made}",
            request.expires_at,
        )


@pytest.fixture
def books(store):
    with store.unit_of_work() as session:
        import_billing_data(session, DEMO / "customers.csv", DEMO / "invoices.csv")
    return store


def paid(event_id, amount, intent, session_id="cs_none"):
    return {
        "id": event_id,
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "payment_status": "paid",
                "amount_total": amount,
                "currency": "usd",
                "payment_intent": intent,
                "client_reference_id": "INV-1001",
            }
        },
    }


def apply(store, settings, event):
    with store.unit_of_work() as session:
        return handle_payment_event(session, event, settings, provider="sandbox")


def assert_books_balance(store, invoice_id="INV-1001"):
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, invoice_id)
        payments = session.scalar(
            select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
                Payment.invoice_id == invoice_id
            )
        )
        refunded = session.scalar(
            select(func.coalesce(func.sum(Refund.amount_minor), 0))
            .join(Payment, Payment.id == Refund.payment_id)
            .where(Payment.invoice_id == invoice_id, Refund.status == "succeeded")
        )
        assert invoice.amount_paid_minor == payments - refunded
        held = (
            session.scalar(
                select(Dispute.id).where(Dispute.invoice_id == invoice_id, Dispute.status == "open")
            )
            is not None
        )
        if not held:
            assert (invoice.status == "paid") == (invoice.amount_paid_minor >= invoice.amount_minor)
        for link in session.scalars(
            select(PaymentLink).where(
                PaymentLink.invoice_id == invoice_id, PaymentLink.status == "open"
            )
        ):
            assert link.amount_minor == invoice.balance_minor
        return invoice.amount_paid_minor, invoice.status, invoice.overpaid_minor


def run_together(*jobs):
    start = threading.Barrier(len(jobs))
    errors = []

    def run(job):
        start.wait()
        try:
            job()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_concurrent_payments_on_one_invoice_all_count(books, settings):
    # INV-1001 is $285.00: six payments of $40 arrive at once, then a duplicate of each.
    events = [paid(f"evt_part_{n}", 4000, f"pi_part_{n}") for n in range(6)]
    run_together(*[lambda e=e: apply(books, settings, e) for e in events + events])
    amount_paid, status, overpaid = assert_books_balance(books)
    assert (amount_paid, status, overpaid) == (24000, "open", 0)


def test_an_overpayment_is_recorded_flagged_and_shown(books, settings):
    apply(books, settings, paid("evt_big", 30000, "pi_big"))
    amount_paid, status, overpaid = assert_books_balance(books)
    assert (amount_paid, status, overpaid) == (30000, "paid", 1500)
    with books.unit_of_work() as session:
        assert (
            session.scalar(select(Payment.flag).where(Payment.provider_ref == "pi_big"))
            == "overpaid"
        )
        assert "payment.flagged" in session.scalars(select(AuditEntry.action)).all()


def test_a_stale_link_is_void_when_the_balance_changes_and_a_payment_on_it_is_flagged(
    books, settings
):
    gateway = Gateway()
    link_id, _ = ensure_link(books, gateway, settings, "INV-1001", "test", "C001")
    with books.unit_of_work() as session:
        session_id = session.get(PaymentLink, link_id).session_id
    apply(books, settings, paid("evt_other", 5000, "pi_other"))  # paid some another way
    with books.unit_of_work() as session:
        assert session.get(PaymentLink, link_id).status == "void"
    # The customer pays the old link anyway: recorded, flagged for staff.
    apply(books, settings, paid("evt_stale", 28500, "pi_stale", session_id))
    with books.unit_of_work() as session:
        assert (
            session.scalar(select(Payment.flag).where(Payment.provider_ref == "pi_stale"))
            == "overpaid"
        )
    amount_paid, status, overpaid = assert_books_balance(books)
    assert (amount_paid, status, overpaid) == (33500, "paid", 5000)


def test_a_refund_made_outside_settle_is_recorded_and_a_balance_held_for_staff(books, settings):
    apply(books, settings, paid("evt_full", 28500, "pi_full"))
    assert assert_books_balance(books)[1] == "paid"
    apply(
        books,
        settings,
        {
            "id": "evt_refund",
            "type": "charge.refunded",
            "data": {
                "object": {
                    "id": "ch_1",
                    "object": "charge",
                    "payment_intent": "pi_full",
                    "amount_refunded": 10000,
                }
            },
        },
    )
    amount_paid, status, _ = assert_books_balance(books)
    assert (amount_paid, status) == (18500, "open")
    with books.unit_of_work() as session:
        refund = session.scalars(select(Refund)).one()
        assert (refund.amount_minor, refund.status, refund.reason) == (
            10000,
            "succeeded",
            "outside_settle",
        )
        hold = session.scalars(select(Dispute).where(Dispute.invoice_id == "INV-1001")).one()
        assert hold.status == "open"  # no reminders until staff decide
    # The same event again changes nothing.
    apply(
        books,
        settings,
        {
            "id": "evt_refund",
            "type": "charge.refunded",
            "data": {
                "object": {
                    "id": "ch_1",
                    "object": "charge",
                    "payment_intent": "pi_full",
                    "amount_refunded": 10000,
                }
            },
        },
    )
    assert assert_books_balance(books)[0] == 18500


def refunded(event_id, intent, total):
    return {
        "id": event_id,
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": intent,
                "amount_refunded": total,
            }
        },
    }


def test_each_partial_refund_made_outside_settle_is_recorded(books, settings):
    apply(books, settings, paid("evt_full", 28500, "pi_full"))
    apply(books, settings, refunded("evt_r1", "pi_full", 10000))
    # Stripe's amount_refunded is the charge's running total: the second refund is 5,000.
    apply(books, settings, refunded("evt_r2", "pi_full", 15000))
    apply(books, settings, refunded("evt_r2_again", "pi_full", 15000))  # a resent total
    amount_paid, status, _ = assert_books_balance(books)
    assert (amount_paid, status) == (13500, "open")
    with books.unit_of_work() as session:
        rows = session.execute(
            select(Refund.amount_minor, Refund.status, Refund.reason).order_by(Refund.id)
        ).all()
        assert [tuple(r) for r in rows] == [
            (10000, "succeeded", "outside_settle"),
            (5000, "succeeded", "outside_settle"),
        ]


def test_a_chargeback_puts_the_invoice_on_hold(books, settings):
    apply(books, settings, paid("evt_cb_paid", 10000, "pi_cb"))
    outcome = apply(
        books,
        settings,
        {
            "id": "evt_cb",
            "type": "charge.dispute.created",
            "data": {
                "object": {
                    "id": "dp_1",
                    "object": "dispute",
                    "payment_intent": "pi_cb",
                    "amount": 10000,
                    "currency": "usd",
                    "reason": "fraudulent",
                }
            },
        },
    )
    assert outcome == "chargeback"
    with books.unit_of_work() as session:
        dispute = session.scalars(select(Dispute).where(Dispute.invoice_id == "INV-1001")).one()
        assert "Chargeback dp_1" in dispute.reason
        assert "chargeback.created" in session.scalars(select(AuditEntry.action)).all()


def test_a_failed_bank_debit_tells_the_customer(books, settings):
    link_id, _ = ensure_link(books, Gateway(), settings, "INV-1001", "test", "C001")
    with books.unit_of_work() as session:
        session_id = session.get(PaymentLink, link_id).session_id
    outcome = apply(
        books,
        settings,
        {
            "id": "evt_async",
            "type": "checkout.session.async_payment_failed",
            "data": {"object": {"id": session_id, "object": "checkout.session"}},
        },
    )
    assert outcome == "payment_failed"
    with books.unit_of_work() as session:
        body = session.scalars(select(Message.body)).one()
        assert "did not go through" in body and "INV-1001" in body
