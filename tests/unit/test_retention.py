"""Conversations are kept for a configured time; a customer can be erased, the books kept."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
)

from settle.app.cli_privacy import erase_personal_data
from settle.core import audit
from settle.messaging.outbox import queue_message
from settle.privacy.retention import (
    ERASED,
    delete_conversations,
    erase_customer,
    prune_conversations,
)
from settle.review.labels import TurnLabel, label_turn
from settle.store.models import AuditEntry, Customer, Dispute, Invoice, Message, OptOut, Payment

DAY = 86400


def rasa_events(url: str) -> Table:
    """The columns of Rasa's SQLTrackerStore `events` table that matter here."""
    metadata = MetaData()
    events = Table(
        "events",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("sender_id", String(255)),
        Column("type_name", String(255)),
        Column("timestamp", Float),
        Column("data", Text),
    )
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    return events


def add_events(url: str, events: Table, sender: str, *ages_in_days: float) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for age in ages_in_days:
            connection.execute(
                insert(events).values(
                    sender_id=sender,
                    type_name="user",
                    timestamp=time.time() - age * DAY,
                    data=json.dumps({"event": "user", "text": "hello"}),
                )
            )
    engine.dispose()


def event_ids(url: str, events: Table, sender: str) -> list[int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = list(connection.scalars(select(events.c.id).where(events.c.sender_id == sender)))
    engine.dispose()
    return found


def senders(url: str, events: Table) -> set:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = {row[0] for row in connection.execute(select(events.c.sender_id))}
    engine.dispose()
    return found


def test_only_conversations_idle_past_the_retention_are_deleted_whole(tmp_path):
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    events = rasa_events(url)
    add_events(url, events, "old", 200, 120)
    add_events(url, events, "recent", 200, 3)  # started long ago, still going: kept whole
    add_events(url, events, "new", 1)
    assert prune_conversations(url, 90) == 1
    assert senders(url, events) == {"recent", "new"}
    assert prune_conversations(url, 90) == 0


def test_a_store_without_conversations_is_left_alone(tmp_path):
    assert prune_conversations(f"sqlite:///{tmp_path / 'empty.db'}", 90) == 0


def test_erasing_a_customer_keeps_the_books_and_nothing_personal(demo_store, tmp_path):
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    events = rasa_events(url)
    with demo_store.unit_of_work() as session:
        customer = session.get(Customer, "C001")
        phone, email, name = customer.phone, customer.email, customer.name
        invoice = session.scalars(select(Invoice).where(Invoice.customer_id == "C001")).first()
        session.add(
            Payment(
                invoice_id=invoice.id,
                amount_minor=1234,
                currency="USD",
                provider="sandbox",
                provider_ref="pi_erase_1",
            )
        )
        session.add(
            Dispute(invoice_id=invoice.id, customer_id="C001", reason="I never had the work done")
        )
        queue_message(session, "sms", phone, f"Hi {name}, your bill", "erase-1", "test", "C001")
        queue_message(session, "sms", "+19995550000", "someone else", "erase-2", "test", "C002")
        session.add(OptOut(phone=phone, channel="sms", source="keyword"))
        audit.record(
            session,
            f"conversation:{phone}",
            "identity.verified",
            "customer:C001",
            method="caller_id",
        )
        audit.record(
            session,
            audit.conversation_actor("web-77"),  # a web sender id, recorded hashed
            "identity.verified",
            "customer:C001",
            method="invoice_postal",
        )
        audit.record(session, "system", "message.queued", "message:erase-1", to=phone)
        audit.record(session, "system", "message.queued", "message:other", to=f"n{email}")
    add_events(url, events, phone, 1)
    add_events(url, events, "web-77", 1)
    add_events(url, events, "web-other", 1)

    with demo_store.unit_of_work() as session:
        erasure = erase_customer(session, "C001", "operator:ann")
    assert delete_conversations(url, erasure.conversations) == 2
    assert senders(url, events) == {"web-other"}

    with demo_store.unit_of_work() as session:
        customer = session.get(Customer, "C001")
        assert phone not in (customer.phone, customer.name) and customer.email is None
        assert customer.postal_code == "ERASED"
        mine = session.scalar(select(Message).where(Message.idempotency_key == "erase-1"))
        assert (mine.to, mine.body, mine.status) == (ERASED, ERASED, "cancelled")
        other = session.scalar(select(Message).where(Message.idempotency_key == "erase-2"))
        assert other.body == "someone else"
        assert session.scalar(select(Dispute.reason).where(Dispute.customer_id == "C001")) == ERASED
        # The books: the invoice and the payment, amounts intact; the opt-out still holds.
        assert (
            session.scalar(select(Payment.amount_minor).where(Payment.provider_ref == "pi_erase_1"))
            == 1234
        )
        assert session.get(Invoice, invoice.id).amount_minor == invoice.amount_minor
        assert session.scalar(select(OptOut).where(OptOut.phone == phone)) is not None
        entries = session.scalars(select(AuditEntry)).all()
        text = json.dumps([[e.actor, e.subject, e.detail] for e in entries])
        assert phone not in text
        assert name not in text and f'"{email}"' not in text
        # Another customer's address that merely contains theirs is left as it was.
        assert any(e.detail.get("to") == f"n{email}" for e in entries)
        erased = [e for e in entries if e.action == "customer.erased"]
        assert len(erased) == 1 and erased[0].actor == "operator:ann"


@pytest.mark.parametrize("tracker_db", ["conversations.db", "settle.db"])  # apart, or one
def test_erasure_deletes_the_labels_of_the_customers_turns_only(
    demo_store, tmp_path, monkeypatch, tracker_db
):
    url = f"sqlite:///{tmp_path / tracker_db}"
    monkeypatch.setenv("TRACKER_DATABASE_URL", url)
    events = rasa_events(url)
    with demo_store.unit_of_work() as session:
        phone = session.get(Customer, "C001").phone
        audit.record(
            session, audit.conversation_actor("web-77"), "identity.verified", "customer:C001"
        )
    add_events(url, events, phone, 2, 1)
    add_events(url, events, "web-77", 1)
    add_events(url, events, "web-other", 1)
    theirs = event_ids(url, events, phone) + event_ids(url, events, "web-77")
    (other,) = event_ids(url, events, "web-other")
    with demo_store.unit_of_work() as session:
        for event_id in [*theirs, other]:
            label_turn(session, event_id, "i want to pay", "en", "pay_invoice", "a@example.com")

    assert erase_personal_data(demo_store, "C001", "ann") == 0

    assert senders(url, events) == {"web-other"}
    with demo_store.unit_of_work() as session:
        assert session.scalars(select(TurnLabel.tracker_event_id)).all() == [other]


def test_a_failed_label_deletion_leaves_the_conversation_to_erase_again(demo_store, tmp_path):
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    events = rasa_events(url)
    add_events(url, events, "+15550001", 1)
    ids = event_ids(url, events, "+15550001")

    def fail(event_ids: list[int]) -> None:
        raise RuntimeError("billing database gone")

    with pytest.raises(RuntimeError):
        delete_conversations(url, {"+15550001"}, forget=fail)
    assert senders(url, events) == {"+15550001"}
    forgotten: list[list[int]] = []
    assert delete_conversations(url, {"+15550001"}, forget=forgotten.append) == 1
    assert forgotten == [ids] and senders(url, events) == set()


def test_erasure_masks_the_customer_in_events_for_the_billing_system(demo_store, tmp_path):
    from settle.billing.disputes import open_dispute
    from settle.messaging.consent import record_opt_out
    from settle.sync.outbox import attach, record_event
    from settle.sync.records import SyncDelivery, SyncEvent
    from settle.sync.settings import SyncSettings

    endpoint = "https://erp.example.test/settle"
    attach(demo_store, SyncSettings((endpoint,), "whsec_test"))
    with demo_store.unit_of_work() as session:
        customer = session.get(Customer, "C001")
        phone, email = customer.phone, customer.email
        invoice_id = session.scalars(
            select(Invoice.id).where(Invoice.customer_id == "C001")
        ).first()
        record_opt_out(session, phone, "api:erp", "api:erp", "sms")
        record_opt_out(session, email, "api:erp", "api:erp", "email")
        open_dispute(session, "C001", invoice_id, "the plumber never came", "conversation:x")
        record_event(session, "invoice.paid", "invoice:OTHER", {"customer_id": "C002"}, ())
    with demo_store.unit_of_work() as session:
        erasure = erase_customer(session, "C001", "operator:ann")
    assert erasure.sync_events == 3
    with demo_store.unit_of_work() as session:
        rows = session.scalars(select(SyncEvent).order_by(SyncEvent.id)).all()
        text = json.dumps([[e.subject, e.data] for e in rows])
        subjects = set(session.scalars(select(SyncDelivery.subject)))
        by_type = {e.type: e.data for e in rows}
        opt_outs = [e for e in rows if e.type == "customer.opted_out"]
    assert phone not in text and email not in text and "plumber" not in text
    assert phone not in json.dumps(sorted(subjects)) and email not in json.dumps(sorted(subjects))
    assert [(e.subject, e.data["contact"], e.data["customer_ids"]) for e in opt_outs] == [
        (f"phone:{ERASED}", ERASED, ["C001"]),
        (f"phone:{ERASED}", ERASED, ["C001"]),
    ]
    assert by_type["dispute.created"]["reason"] == ERASED
    assert by_type["dispute.created"]["invoice_id"] == invoice_id  # the books' facts stay
    assert by_type["invoice.paid"] == {"customer_id": "C002"}  # another's, untouched
