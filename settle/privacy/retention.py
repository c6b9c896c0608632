"""How long conversations are kept, and erasing a customer who asks.

* `prune_conversations`: conversations whose last event is older than
  `security.conversation_retention_days` are deleted from the conversation store (Rasa's
  `events` table), whole: a conversation cut in the middle would not load. The service's
  background pass runs it.
* `erase_customer` (`settle customer erase ID`): the customer's name, phone, e-mail and
  postal code, the texts sent to them, their dispute reasons, their conversations and the
  personal details in audit entries and in events for the billing system (sync_events, sent
  or not: one still to go goes with its contact masked, its customer ids kept) are removed,
  and so are the console's labels of their messages (`turn_labels`, found by the ids of the
  events deleted). What the books must keep stays: invoices, payments, refunds and
  installments with their amounts, and an opt-out (so the number is never messaged again if
  it comes back). The erasure itself is audited.

Pruning leaves turn labels alone: a label is a training example an operator chose to keep,
its text masked and with no sender id, so it says nothing of who wrote it once the
conversation is gone. Only an erasure, where someone asked, removes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from settle.core import audit
from settle.store.models import AuditEntry, Customer, Dispute, Invoice, Message, PaymentLink, Plan
from settle.sync.records import SyncDelivery, SyncEvent

ERASED = "[erased]"


def _events(engine: Engine) -> Table | None:
    metadata = MetaData()
    metadata.reflect(bind=engine, only=lambda name, _: name == "events")
    return metadata.tables.get("events")


def prune_conversations(tracker_url: str, days: int, now: float | None = None) -> int:
    """Delete conversations idle for more than `days`; returns how many."""
    engine = create_engine(tracker_url)
    try:
        events = _events(engine)
        if events is None:
            return 0
        cutoff = (now or time.time()) - days * 86400
        with engine.begin() as connection:
            stale = [
                row[0]
                for row in connection.execute(
                    select(events.c.sender_id)
                    .group_by(events.c.sender_id)
                    .having(func.max(events.c.timestamp) < cutoff)
                )
            ]
            for start in range(0, len(stale), 500):
                connection.execute(
                    delete(events).where(events.c.sender_id.in_(stale[start : start + 500]))
                )
        return len(stale)
    finally:
        engine.dispose()


@dataclass
class Erasure:
    customer_id: str
    conversations: set[str] = field(default_factory=set)
    messages: int = 0
    disputes: int = 0
    audit_entries: int = 0
    sync_events: int = 0
    conversations_deleted: int = 0

    def as_dict(self) -> dict:
        return {
            "customer_id": self.customer_id,
            "messages": self.messages,
            "disputes": self.disputes,
            "audit_entries": self.audit_entries,
            "sync_events": self.sync_events,
            "conversations": self.conversations_deleted,
        }


class UnknownCustomer(LookupError):
    pass


def erase_customer(session: Session, customer_id: str, who: str) -> Erasure:
    """Remove the customer's personal data from the billing database; returns what was
    found, with the conversation ids to delete from the conversation store."""
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise UnknownCustomer(f"no customer {customer_id}")
    erasure = Erasure(customer_id)
    personal = _Personal(customer)
    subject = f"customer:{customer_id}"

    # First every conversation that was theirs, then everything those conversations left.
    shared_phone = session.scalar(
        select(func.count())
        .select_from(Customer)
        .where(Customer.phone == customer.phone, Customer.id != customer_id)
    )
    if customer.phone and not shared_phone:
        erasure.conversations.add(customer.phone)
    invoices = select(Invoice.id).where(Invoice.customer_id == customer_id)
    owned = (
        (PaymentLink, PaymentLink.invoice_id.in_(invoices)),
        (Plan, Plan.customer_id == customer_id),
    )
    for table, where in owned:
        erasure.conversations |= {
            row for row in session.scalars(select(table.conversation_id).where(where)) if row
        }
        session.execute(
            update(table)
            .where(where, table.conversation_id.is_not(None))
            .values(conversation_id=ERASED)
            .execution_options(synchronize_session=False)
        )
    audit_rows = select(AuditEntry).execution_options(yield_per=1000)
    for entry in session.scalars(audit_rows.where(AuditEntry.subject == subject)):
        if entry.actor.startswith("conversation:"):
            erasure.conversations.add(entry.actor.split(":", 1)[1])

    for entry in session.scalars(audit_rows):
        conversation = (
            entry.actor.split(":", 1)[1] if entry.actor.startswith("conversation:") else None
        )
        if not (
            entry.subject == subject
            or conversation in erasure.conversations
            or personal.mentioned_in(entry.detail)
        ):
            continue
        entry.detail = personal.removed_from(entry.detail)
        if conversation in erasure.conversations:
            entry.actor = f"conversation:{ERASED}"
        erasure.audit_entries += 1

    erasure.sync_events = _erase_sync_events(session, customer_id, personal)

    addresses = [value for value in (customer.phone, customer.email) if value]
    theirs = Message.customer_id == customer_id
    if not shared_phone:  # texts to their number not filed under anyone: theirs too
        theirs = theirs | (Message.to.in_(addresses) & Message.customer_id.is_(None))
    session.execute(
        update(Message)
        .where(theirs, Message.status.in_(("queued", "sending")))
        .values(status="cancelled")
    )  # nothing more goes out to them
    erasure.messages = (
        session.execute(
            update(Message).where(theirs).values(body=ERASED, to=ERASED, error=None)
        ).rowcount
        or 0
    )
    erasure.disputes = (
        session.execute(
            update(Dispute).where(Dispute.customer_id == customer_id).values(reason=ERASED)
        ).rowcount
        or 0
    )

    customer.name, customer.email = "Erased customer", None
    customer.phone, customer.postal_code = ERASED, "ERASED"
    erasure.conversations_deleted = len(erasure.conversations)
    audit.record(session, who, "customer.erased", subject, **erasure.as_dict())
    return erasure


def _erase_sync_events(session: Session, customer_id: str, personal: _Personal) -> int:
    """Mask the customer in the events for the billing system: their contact (an opt-out's
    `contact`, and the subject "phone:<contact>" that orders it), anything else of theirs
    the payload holds, and their dispute reasons. How many events changed."""
    changed: list[tuple[SyncEvent, dict, str]] = []
    for event in session.scalars(select(SyncEvent).execution_options(yield_per=1000)):
        data = dict(event.data or {})
        theirs = data.get("customer_id") == customer_id or customer_id in (
            data.get("customer_ids") or []
        )
        kind, _, contact = str(event.subject).partition(":")
        subject = f"{kind}:{ERASED}" if personal.is_value(contact) else event.subject
        if not (theirs or subject != event.subject or personal.mentioned_in(data)):
            continue
        data = personal.removed_from(data)
        if theirs and event.type == "dispute.created":
            data["reason"] = ERASED  # what the customer said, as Dispute.reason
        changed.append((event, data, subject))
    for event, data, subject in changed:  # once read: no statement in the middle of a cursor
        if subject != event.subject:
            session.execute(
                update(SyncDelivery)
                .where(SyncDelivery.event_id == event.id)
                .values(subject=subject)
                .execution_options(synchronize_session=False)
            )
        event.data, event.subject = data, subject
    return len(changed)


class _Personal:
    """What identifies the customer, matched as whole values (a phone number also inside
    text: E.164 numbers do not occur by chance)."""

    def __init__(self, customer: Customer) -> None:
        self.phone = customer.phone or None
        self.values = {
            value.strip().lower()
            for value in (customer.phone, customer.email, customer.name, customer.postal_code)
            if value
        }

    def is_value(self, text: str) -> bool:
        """Whether text is one of their details, whole (e.g. their e-mail address)."""
        return bool(text) and (text.strip().lower() in self.values or text == self.phone)

    def _is(self, text: str) -> bool:
        return text.strip().lower() in self.values or bool(self.phone and self.phone in text)

    def mentioned_in(self, value: Any) -> bool:
        if isinstance(value, str):
            return self._is(value)
        if isinstance(value, dict):
            return any(self.mentioned_in(item) for item in value.values())
        if isinstance(value, list):
            return any(self.mentioned_in(item) for item in value)
        return False

    def removed_from(self, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() in self.values:
                return ERASED
            return value.replace(self.phone, ERASED) if self.phone else value
        if isinstance(value, dict):
            return {
                key: ERASED if key in _FREE_TEXT_KEYS else self.removed_from(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.removed_from(item) for item in value]
        return value


def delete_conversations(
    tracker_url: str,
    conversation_ids: set[str],
    forget: Callable[[list[int]], object] | None = None,
) -> int:
    """Delete the conversations' events; returns how many. `forget` is given the ids of the
    events before they go (to delete what refers to them elsewhere, e.g. turn labels): if it
    fails, nothing is deleted, so erasing again finds them all."""
    engine = create_engine(tracker_url)
    try:
        events = _events(engine)
        if events is None or not conversation_ids:
            return 0
        with engine.begin() as connection:
            senders = set(conversation_ids)
            # Web conversations are audited under a hash of their sender id (audit
            # .conversation_actor): find the sender ids those hashes stand for.
            hashed = {c for c in conversation_ids if not c.startswith("+")}
            if hashed:
                every = connection.execute(select(events.c.sender_id).distinct()).scalars()
                senders |= {s for s in every if _actor_key(s) in hashed}
            theirs = events.c.sender_id.in_(sorted(senders))
            if forget is not None:
                forget(list(connection.execute(select(events.c.id).where(theirs)).scalars()))
            result = connection.execute(delete(events).where(theirs))
            return result.rowcount or 0
    finally:
        engine.dispose()


# Audit detail keys that hold what someone said or wrote, not what happened.
_FREE_TEXT_KEYS = {"reason_text", "summary", "text", "said", "transcript", "last_messages"}


def _actor_key(sender_id: str) -> str:
    return audit.conversation_actor(sender_id).split(":", 1)[1]
