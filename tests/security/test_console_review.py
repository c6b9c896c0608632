"""Conversation review in the console over real HTTP (the Settle service's app served
in-process), over conversations saved by Settle's tracker store: nothing without a session,
the list and its filters, card numbers masked however the store kept them, labels that need
the form's CSRF token, and `settle review export` writing Rasa NLU data of labels only."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re

import pytest
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from sqlalchemy import create_engine, select, text

from settle.app.cli import main
from settle.review.labels import TurnLabel
from tests.security.test_console import console  # noqa: F401 (a fixture)
from tests.unit.report_data import DOMAIN, LANGUAGES

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
CARD = "4111 1111 1111 1111"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(
        settings, business=dataclasses.replace(settings.business, languages=LANGUAGES)
    )


def _ts(hours_ago: float) -> float:
    return (NOW - dt.timedelta(hours=hours_ago)).timestamp()


def _session(hours_ago: float) -> list[Event]:
    ts = _ts(hours_ago)
    return [
        ActionExecuted(ACTION_SESSION_START_NAME, timestamp=ts),
        SessionStarted(timestamp=ts),
        ActionExecuted(ACTION_LISTEN_NAME, timestamp=ts),
    ]


def _user(hours_ago: float, said: str, intent: str, confidence: float, **metadata) -> Event:
    channel = "twilio" if metadata.pop("sms", False) else "socketio"
    return UserUttered(
        said,
        {"name": intent, "confidence": confidence},
        metadata=metadata,
        input_channel=channel,
        timestamp=_ts(hours_ago),
    )


def _bot(hours_ago: float, said: str, response: str) -> Event:
    return BotUttered(said, metadata={"utter_action": response}, timestamp=_ts(hours_ago))


# Oldest first: web-card (10 hours ago) … +14155550111 (1 hour ago).
CONVERSATIONS: dict[str, list[Event]] = {
    "web-card": [
        *_session(10),
        _user(10, f"my card is {CARD}", "inform", 0.9, language="en-US"),
        _bot(10, "Thanks.", "utter_ask_confirm"),
    ],
    "web-hand": [
        *_session(8),
        _user(8, "a person please", "human_handoff", 0.99, language="en-US"),
        ActionExecuted("action_handoff", timestamp=_ts(8)),
        _bot(8, "Connecting you now.", "utter_handoff"),
    ],
    "web-low": [
        *_session(5),
        _user(5, "je veux régler ma facture", "pay_invoice", 0.5, language="fr-FR"),
        _bot(5, "Votre solde est de 10 €.", "utter_balance"),
    ],
    "+14155550111": [
        *_session(1),
        _user(1, "I want to pay", "pay_invoice", 0.95, sms=True, language_on_file="en"),
        _bot(1, "Here is your link.", "utter_payment_link_sent"),
        _user(1, "blorf the widget", "nlu_fallback", 0.3, sms=True, language_on_file="en"),
        ActionExecuted("action_not_understood", timestamp=_ts(1)),
        _bot(1, "Sorry, I did not understand.", "utter_not_understood"),
    ],
}


@pytest.fixture
def review(console, tmp_path, monkeypatch):  # noqa: F811
    """The console over the conversations above, and one row written before the tracker
    store masked anything (a card number kept in clear)."""
    from settle_rasa.tracker_store import RedactingSQLTrackerStore

    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    monkeypatch.setenv("TRACKER_DATABASE_URL", url)
    trackers = RedactingSQLTrackerStore(domain=DOMAIN)
    for sender, events in CONVERSATIONS.items():
        tracker = DialogueStateTracker.from_events(sender, events, DOMAIN.slots)
        asyncio.run(trackers.save(tracker))
    trackers.engine.dispose()
    engine = create_engine(url)
    with engine.begin() as connection:
        data = {
            "event": "user",
            "timestamp": _ts(10),
            "text": f"it is {CARD} again",
            "parse_data": {"intent": {"name": "inform", "confidence": 0.4}},
            "input_channel": "socketio",
        }
        connection.execute(
            text(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
                "VALUES ('web-card', 'user', :ts, 'inform', :data)"
            ),
            {"ts": _ts(10) + 1, "data": json.dumps(data)},
        )
    engine.dispose()
    return console


def senders(body: str) -> list[str]:
    return re.findall(r"<a href='/console/conversations/[^']+'>([^<]+)</a>", body)


def test_nothing_of_it_without_a_session(review):
    browser = review.browser()
    for path in ("/console/conversations", "/console/conversations/web-card"):
        reply = browser.get(path)
        assert (reply.status, reply.location) == (303, "/console/sign-in"), path
        assert "****" not in reply.body and "web-card" not in reply.body
    posted = browser.post("/console/conversations/web-card/turns/1/label", {"intent": "greet"})
    assert posted.status == 401
    assert review.audit() == []


def test_the_list_newest_first_and_its_filters(review):
    browser = review.signed_in("tr@example.com", "agent")
    reply = browser.get("/console/conversations")
    assert reply.status == 200, reply.body
    assert senders(reply.body) == ["+14155550111", "web-low", "web-hand", "web-card"]
    for query, expected in [
        ("fallback=1", ["+14155550111"]),
        ("low=1", ["+14155550111", "web-low", "web-card"]),  # 0.3, 0.5, 0.4 (the old row)
        ("low=1&below=0.45", ["+14155550111", "web-card"]),
        ("handoff=1", ["web-hand"]),
        ("language=fr", ["web-low"]),
        ("language=fr&fallback=1", []),
    ]:
        reply = browser.get(f"/console/conversations?{query}")
        assert reply.status == 200 and senders(reply.body) == expected, query
    assert browser.get("/console/conversations?below=2").status == 400


def test_turns_in_order_with_intent_and_confidence_and_cards_masked(review):
    browser = review.signed_in("tr@example.com", "agent")
    reply = browser.get("/console/conversations/%2B14155550111")
    assert reply.status == 200, reply.body
    order = [reply.body.index(s) for s in ("I want to pay", "Here is your link", "blorf")]
    assert order == sorted(order)
    assert "<td data-intent>pay_invoice<td>0.95" in reply.body
    assert "<td data-intent>nlu_fallback (fallback)<td>0.30" in reply.body
    card = browser.get("/console/conversations/web-card")
    assert card.status == 200
    assert "my card is ****" in card.body and "it is **** again" in card.body
    assert "4111" not in card.body
    assert browser.get("/console/conversations/nobody").status == 404


def _label_form(body: str, said: str) -> tuple[str, str]:
    """(the label form's action, its CSRF token) on the row of the message `said`."""
    row = body[body.index(said) :]
    action = re.search(r"<form method=post action='([^']+)'>", row).group(1)
    return action, re.search(r"name=csrf value='([^']+)'", row).group(1)


def test_labelling_needs_the_forms_token_and_export_writes_only_labels(
    review, sqlite_store, tmp_path, monkeypatch, capsys
):
    browser = review.signed_in("tr@example.com", "agent")
    page = browser.get("/console/conversations/web-card").body
    action, token = _label_form(page, "my card is ****")
    assert browser.post(action, {"intent": "pay_invoice"}).status == 403
    assert browser.post(action, {"intent": "pay_invoice", "csrf": "forged"}).status == 403
    with sqlite_store.unit_of_work() as session:
        assert session.scalars(select(TurnLabel)).all() == []
    assert browser.post(action, {"intent": "no_such", "csrf": token}).status == 400
    done = browser.post(action, {"intent": "pay_invoice", "csrf": token})
    assert done.status == 200 and "data-label='pay_invoice'" in done.body
    low = browser.get("/console/conversations/web-low").body
    action, token = _label_form(low, "je veux")
    assert browser.post(action, {"intent": "check_balance", "csrf": token}).status == 200
    with sqlite_store.unit_of_work() as session:
        rows = session.scalars(select(TurnLabel).order_by(TurnLabel.id)).all()
        assert [(r.text, r.language, r.intent, r.labelled_by) for r in rows] == [
            ("my card is ****", "en", "pay_invoice", "tr@example.com"),
            ("je veux régler ma facture", "fr", "check_balance", "tr@example.com"),
        ]
    assert [a for a in review.audit() if a[1] == "turn.labelled"] == [
        ("operator:tr@example.com", "turn.labelled", f"tracker_event:{rows[0].tracker_event_id}"),
        ("operator:tr@example.com", "turn.labelled", f"tracker_event:{rows[1].tracker_event_id}"),
    ]

    monkeypatch.setenv("DATABASE_URL", str(sqlite_store.engine.url))
    monkeypatch.delenv("SETTLE_SETTINGS", raising=False)
    out = tmp_path / "nlu"
    assert main(["review", "export", "--nlu-dir", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yml")) == [
        "en/review.yml",
        "fr/review.yml",
    ]
    english = RasaYAMLReader().read(out / "en" / "review.yml")
    assert [(m.get("text"), m.get("intent")) for m in english.intent_examples] == [
        ("my card is ****", "pay_invoice")
    ]
    french = RasaYAMLReader().read(out / "fr" / "review.yml")
    assert [(m.get("text"), m.get("intent")) for m in french.intent_examples] == [
        ("je veux régler ma facture", "check_balance")
    ]
    assert "4111" not in (out / "en" / "review.yml").read_text()
