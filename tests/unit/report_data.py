"""A known month for the collections report: March 2024 in New York (DST begins on the
10th), books with an invoice in each aging bucket, payments and refunds on both sides of
the period, reminders, opt-outs, and conversations on every channel stored the way the
Rasa server stores them (tests/unit/test_collections_report.py has the report, worked
out by hand)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from settle.core.audit import conversation_actor
from settle.reminders.records import ReminderClaim
from settle.reporting import Period
from settle.store.db import Store
from settle.store.models import (
    AuditEntry,
    Customer,
    Invoice,
    Message,
    OptOut,
    Payment,
    PaymentLink,
    Refund,
)

DOMAIN = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
MARCH = Period(dt.date(2024, 3, 1), dt.date(2024, 3, 30), "America/New_York")
LANGUAGES = ("en", "es", "fr", "de", "pt", "it")


def at(text: str) -> dt.datetime:
    """A UTC time. March 1 00:00 in New York is 05:00Z; March 31 00:00 (EDT) is 04:00Z."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


# (id, currency, amount, paid now, status now, issued, due): balances at the period's end
# and days late on March 30 in the comments.
INVOICES = [
    ("I-CUR", "USD", 10000, 0, "open", "2024-03-05", "2024-04-04"),  # 10000 current
    ("I-DUE-TODAY", "USD", 500, 0, "open", "2024-03-16", "2024-03-30"),  # 500, 0 days: current
    ("I-1-30", "USD", 20000, 6000, "open", "2024-02-15", "2024-03-01"),  # 14000, 29 days
    ("I-31-60", "USD", 30000, 0, "open", "2024-01-15", "2024-01-30"),  # 30000, 60 days
    ("I-61-90", "USD", 40000, 700, "open", "2023-12-15", "2024-01-01"),  # 39300, 89 days
    ("I-OVER-90", "USD", 50000, 0, "open", "2023-11-01", "2023-12-01"),  # 50000, 120 days
    ("I-PAID-IN", "USD", 8000, 7500, "open", "2024-02-20", "2024-03-05"),  # 0 (refund after)
    ("I-PAID-AFTER", "USD", 6000, 6000, "paid", "2024-03-10", "2024-03-20"),  # 6000, 10 days
    ("I-REFUNDED", "USD", 7000, 5000, "open", "2024-02-01", "2024-02-15"),  # 2000, 44 days
    ("I-VOID", "USD", 9999, 0, "void", "2024-03-12", "2024-03-26"),  # void: nothing
    ("I-EXT-PAID", "USD", 4000, 0, "paid", "2024-01-10", "2024-01-20"),  # paid elsewhere
    ("I-FUTURE", "USD", 3500, 0, "open", "2024-04-05", "2024-04-20"),  # issued after
    ("E-1", "EUR", 12000, 2000, "open", "2024-03-02", "2024-03-16"),  # 10000, 14 days
    ("G-1", "GBP", 3000, 0, "open", "2023-10-01", "2023-10-31"),  # 3000, 151 days
]
# (key, invoice, amount, currency, at, through link)
PAYMENTS = [
    ("P1", "I-1-30", 5000, "USD", "2024-03-10T15:00", "L1"),
    # a link sent in February, paid during the sender's March conversation that sent none
    ("P8", "I-1-30", 1000, "USD", "2024-03-21T15:00", "L0"),
    ("P2", "I-PAID-IN", 8000, "USD", "2024-03-12T15:00", False),
    ("P3", "I-PAID-AFTER", 6000, "USD", "2024-04-02T15:00", False),  # after the period
    ("P4", "I-REFUNDED", 7000, "USD", "2024-02-10T15:00", False),  # before it
    ("P5", "E-1", 2000, "EUR", "2024-03-20T15:00", False),
    ("P6", "I-61-90", 300, "USD", "2024-03-31T03:30", None),  # 23:30 on the 30th: in
    ("P7", "I-61-90", 400, "USD", "2024-03-01T04:30", None),  # 23:30 on Feb 29: before
]
# (payment, amount, status, at)
REFUNDS = [
    ("P4", 2000, "succeeded", "2024-03-15T15:00"),  # reopens I-REFUNDED: 2000 owed
    ("P2", 1000, "failed", "2024-03-16T15:00"),  # moved no money
    ("P2", 500, "succeeded", "2024-04-03T15:00"),  # after the period
]
# (invoice, step, status, reason, finished)
CLAIMS = [
    ("I-1-30", "+7", "sent", None, "2024-03-08T15:00"),  # P1 two days later: paid within 7
    ("I-31-60", "+30", "sent", None, "2024-03-01T14:00"),  # nothing paid
    ("I-PAID-AFTER", "+7", "sent", None, "2024-03-27T14:00"),  # P3 6 days 1 hour later
    ("I-PAID-IN", "-3", "calling", None, "2024-03-02T15:00"),  # P2 10 days later: not within
    ("I-OVER-90", "+90", "sent", None, "2024-02-20T15:00"),  # before the period
    ("I-61-90", "+60", "skipped", "disputed", "2024-03-15T15:00"),
    ("I-OVER-90", "+7", "skipped", "superseded by step +30", "2024-03-03T15:00"),
    ("I-CUR", "-3", "skipped", "opted out of sms; no email address", "2024-03-20T15:00"),
    ("I-31-60", "+7", "failed", "twilio down", "2024-03-05T15:00"),
    ("I-REFUNDED", "+30", "skipped", "invoice paid", "2024-04-05T15:00"),  # after
]


def build_books(store: Store) -> None:
    with store.unit_of_work() as session:
        for n in (1, 2, 3):
            session.add(
                Customer(
                    id=f"C{n}", name=f"Customer {n}", phone=f"+1415555010{n}", postal_code="94110"
                )
            )
        session.flush()
        for invoice_id, currency, amount, paid, status, issued, due in INVOICES:
            session.add(
                Invoice(
                    id=invoice_id,
                    customer_id="C1",
                    amount_minor=amount,
                    amount_paid_minor=paid,
                    currency=currency,
                    issued_on=dt.date.fromisoformat(issued),
                    due_on=dt.date.fromisoformat(due),
                    status=status,
                )
            )
        session.flush()
        links = {
            name: PaymentLink(
                invoice_id="I-1-30",
                provider="sandbox",
                session_id=f"cs_{name}",
                url=f"https://pay.example.test/{name}",
                amount_minor=amount,
                currency="USD",
                status="paid",
                expires_at=at(made) + dt.timedelta(days=30),
                conversation_id="+14155550101",
                channel="twilio",
                created_at=at(made),
            )
            for name, amount, made in [
                ("L0", 1000, "2024-02-28T15:00"),
                ("L1", 5000, "2024-03-05T15:02"),
            ]
        }
        session.add_all(links.values())
        session.flush()
        payments = {}
        for key, invoice_id, amount, currency, when, linked in PAYMENTS:
            payments[key] = Payment(
                invoice_id=invoice_id,
                amount_minor=amount,
                currency=currency,
                provider="sandbox",
                provider_ref=f"pi_{key}",
                payment_link_id=links[linked].id if linked else None,
                created_at=at(when),
            )
            session.add(payments[key])
        session.flush()
        for n, (key, amount, status, when) in enumerate(REFUNDS):
            session.add(
                Refund(
                    payment_id=payments[key].id,
                    customer_id="C1",
                    amount_minor=amount,
                    currency="USD",
                    reason="duplicate",
                    status=status,
                    idempotency_key=f"refund-{n}",
                    created_at=at(when),
                )
            )
        for invoice_id, step, status, reason, finished in CLAIMS:
            session.add(
                ReminderClaim(
                    invoice_id=invoice_id,
                    step=step,
                    customer_id="C1",
                    channels="sms",
                    status=status,
                    reason=reason,
                    due_at=at(finished),
                    finished_at=at(finished),
                )
            )
        messages = [
            Message(idempotency_key=key, to="+14155550101", body="…", status="queued")
            for key in ("reminder:I-31-60:+30", "payment_link:1:m1", "reminder:I-1-30:+7")
        ]
        session.add_all(messages)
        session.add_all(
            [
                OptOut(phone="+14155550104", channel="all", source="conversation:sms"),
                OptOut(phone="+14155550199", channel="all", source="sms:keyword"),
            ]
        )
        session.flush()
        held = [(messages[0], "2024-03-02T02:00"), (messages[0], "2024-03-02T03:00")]
        held += [(messages[1], "2024-03-04T02:00"), (messages[2], "2024-02-25T02:00")]
        for message, when in held:
            session.add(_entry("messaging", "message.held", when, f"message:{message.id}"))
        for actor, when in [
            (conversation_actor("+14155550199"), "2024-03-14T12:00"),  # STOP by text
            ("conversation:+14155550150", "2024-02-20T12:00"),  # before the period
        ]:
            session.add(_entry(actor, "contact.opted_out", when))


def _entry(actor: str, action: str, when: str, subject: str = "") -> AuditEntry:
    return AuditEntry(actor=actor, action=action, subject=subject, detail={}, at=at(when))


def _user(when: str, channel: str, metadata=None, intent: str = "greet") -> UserUttered:
    return UserUttered(
        "…",
        {"name": intent, "confidence": 1.0},
        metadata=metadata or {},
        input_channel=channel,
        timestamp=at(when).timestamp(),
    )


def _session(when: str) -> list[Event]:
    ts = at(when).timestamp()
    return [
        ActionExecuted(ACTION_SESSION_START_NAME, timestamp=ts),
        SessionStarted(timestamp=ts),
        ActionExecuted(ACTION_LISTEN_NAME, timestamp=ts),
    ]


def _slot(when: str, name: str, value) -> SlotSet:
    return SlotSet(name, value, timestamp=at(when).timestamp())


def _said(when: str, response: str) -> BotUttered:
    return BotUttered("…", metadata={"utter_action": response}, timestamp=at(when).timestamp())


def _external(when: str) -> UserUttered:
    event = UserUttered.create_external("payment_received", input_channel="socketio")
    event.timestamp = at(when).timestamp()
    return event


# sender -> its events; and what Settle audited in each conversation's name (action, time).
# Eleven conversations begin in the period (marked ✓).
CONVERSATIONS: dict[str, list[Event]] = {
    "+14155550101": [
        *_session("2024-03-01T03:55"),  # 22:55 on Feb 29: before the period, handed over
        _user("2024-03-01T04:00", "twilio", {"language_on_file": "en"}),
        *_session("2024-03-05T14:59"),  # ✓ sms, en on file: a link sent, paid on the 10th
        _user("2024-03-05T15:00", "twilio", {"language_on_file": "en"}, "pay_invoice"),
        _slot("2024-03-05T15:00", "goal", "pay"),
        _said("2024-03-05T15:02", "utter_payment_link_sent"),
        *_session("2024-03-20T14:59"),  # ✓ voice; chose Spanish: a plan
        _user("2024-03-20T15:00", "twilio_voice", {"language": "en-US"}),
        _slot("2024-03-20T15:00", "language", "es"),
        _slot("2024-03-20T15:00", "goal", "plan"),
    ],
    "web-abc": [
        *_session("2024-03-06T15:59"),  # ✓ web, fr from the browser: balance told
        _user("2024-03-06T16:00", "socketio", {"language": "fr-FR"}, "check_balance"),
        _slot("2024-03-06T16:00", "goal", "balance"),
        _said("2024-03-06T16:01", "utter_balance"),
        *_session("2024-03-25T15:59"),  # a payment told to the chat: nobody's message
        _external("2024-03-25T16:00"),
    ],
    "rest-1": [  # ✓ rest, en (the business's first; a client's "on file" proves nothing)
        *_session("2024-03-07T15:59"),
        _user("2024-03-07T16:00", "rest", {"language_on_file": "it"}, "request_refund"),
        _slot("2024-03-07T16:00", "goal", "refund"),
    ],
    "web-def": [  # ✓ web: a link shown again (no new link, so no audit entry)
        *_session("2024-03-08T15:59"),
        _user("2024-03-08T16:00", "socketio", intent="pay_invoice"),
        _slot("2024-03-08T16:00", "goal", "pay"),
        _slot("2024-03-08T16:02", "stage", "link_shown"),
    ],
    "+14155550102": [  # ✓ voice, es-MX line: a dispute, handed over
        *_session("2024-03-09T15:59"),
        _user("2024-03-09T16:00", "twilio_voice", {"language": "es-MX"}, "dispute_invoice"),
        _slot("2024-03-09T16:00", "goal", "dispute"),
    ],
    "+14155550103": [  # ✓ sms, wrote German: no goal
        *_session("2024-03-10T15:59"),
        _user("2024-03-10T16:00", "twilio"),
        _slot("2024-03-10T16:00", "language", "de"),
    ],
    "web-ghi": [  # ✓ web: asked for a person straight away
        *_session("2024-03-11T15:59"),
        _user("2024-03-11T16:00", "socketio", intent="human_handoff"),
    ],
    "+14155550104": [  # ✓ sms: opted out
        *_session("2024-03-12T15:59"),
        _user("2024-03-12T16:00", "twilio", intent="opt_out"),
        _slot("2024-03-12T16:00", "goal", "opt_out"),
    ],
    "rest-2": [  # ✓ rest: a reminder set
        *_session("2024-03-13T15:59"),
        _user("2024-03-13T16:00", "rest", intent="request_reminder"),
        _slot("2024-03-13T16:00", "goal", "reminder"),
    ],
    "web-late": [  # 01:00 on March 31 in New York: after the period
        *_session("2024-03-31T04:59"),
        _user("2024-03-31T05:00", "socketio"),
    ],
    "+14155550105": [  # ✓ 23:00 on March 30: sms, Portuguese on file
        *_session("2024-03-31T02:59"),
        _user("2024-03-31T03:00", "twilio", {"language_on_file": "pt"}),
    ],
}
AUDITED = {
    "+14155550101": [
        ("handoff.requested", "2024-03-01T04:01"),  # in the conversation before the period
        ("identity.verified", "2024-03-05T15:01"),
        ("payment_link.created", "2024-03-05T15:02"),
        ("identity.verified", "2024-03-20T15:01"),
        ("plan.created", "2024-03-20T15:03"),
    ],
    "web-abc": [("identity.verified", "2024-03-06T16:00")],
    "rest-1": [
        ("identity.verified", "2024-03-07T16:00"),
        ("refund.requested", "2024-03-07T16:01"),
        ("refund.issued", "2024-03-07T16:01"),
    ],
    "web-def": [("identity.verified", "2024-03-08T16:01")],
    "+14155550102": [
        ("identity.verified", "2024-03-09T16:00"),
        ("dispute.opened", "2024-03-09T16:02"),
        ("handoff.requested", "2024-03-09T16:02"),
    ],
    "web-ghi": [("handoff.requested", "2024-03-11T16:00")],
    "+14155550104": [("contact.opted_out", "2024-03-12T16:01")],
    "rest-2": [
        ("identity.verified", "2024-03-13T16:01"),
        ("reminder.requested", "2024-03-13T16:02"),
    ],
    "web-late": [("identity.verified", "2024-03-31T05:01")],
}


def build_conversations(store: Store, tracker_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The conversations, saved by Settle's tracker store (Rasa's SQL store), and what
    the actions audited in their names."""
    from settle_rasa.tracker_store import RedactingSQLTrackerStore

    monkeypatch.setenv("TRACKER_DATABASE_URL", tracker_url)
    trackers = RedactingSQLTrackerStore(domain=DOMAIN)
    for sender, events in CONVERSATIONS.items():
        tracker = DialogueStateTracker.from_events(sender, events, DOMAIN.slots)
        asyncio.run(trackers.save(tracker))
    trackers.engine.dispose()
    with store.unit_of_work() as session:
        for sender, entries in AUDITED.items():
            for action, when in entries:
                session.add(_entry(conversation_actor(sender), action, when))
