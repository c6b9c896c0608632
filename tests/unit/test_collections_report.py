"""`settle report`: every figure of a known month, on SQLite and PostgreSQL, from the books
and from conversations stored the way Rasa stores them; and the command's JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from settle.reporting import collections_report, csv_rows
from settle.reporting.conversations import read_conversations
from tests.unit.report_data import LANGUAGES, MARCH, build_books, build_conversations

# Worked out by hand from tests/unit/report_data.py (balances and days late are noted there).
EXPECTED = {
    "period": {
        "since": "2024-03-01",
        "until": "2024-03-30",
        "days": 30,
        "timezone": "America/New_York",
    },
    "currencies": ["EUR", "GBP", "USD"],
    "collected_minor": {"EUR": 2000, "GBP": 0, "USD": 14300},  # P1 + P2 + P6 + P8
    "refunded_minor": {"EUR": 0, "GBP": 0, "USD": 2000},
    "invoiced_minor": {"EUR": 12000, "GBP": 0, "USD": 16500},  # I-CUR, I-DUE-TODAY, I-PAID-AFTER
    "outstanding_minor": {"EUR": 10000, "GBP": 3000, "USD": 151800},
    "aging_minor": {
        "current": {"EUR": 0, "GBP": 0, "USD": 10500},
        "1_30": {"EUR": 10000, "GBP": 0, "USD": 20000},
        "31_60": {"EUR": 0, "GBP": 0, "USD": 32000},
        "61_90": {"EUR": 0, "GBP": 0, "USD": 39300},
        "over_90": {"EUR": 0, "GBP": 3000, "USD": 50000},
    },
    # 151800 / 16500 × 30 = 276; 10000 / 12000 × 30 = 25; nothing invoiced in GBP
    "dso_days": {"EUR": 25.0, "GBP": None, "USD": 276.0},
    "funnel": {
        "conversations": 11,
        "verified": 7,
        "links_sent": 2,  # one new link, one sent again
        "links_paid": 1,
        "plans_started": 1,
        "refunds": 1,
        "handoffs": 2,  # the dispute and the request for a person; not February's
    },
    "conversations_with_goal": 9,  # all but the German greeting and the late-night text
    "conversations_contained": 7,  # less the dispute and the request for a person
    "containment_rate": 0.7778,
    "channels": {"voice": 2, "sms": 4, "web": 3, "rest": 2, "other": 0},
    "languages": {"en": 6, "es": 2, "fr": 1, "de": 1, "pt": 1, "it": 0},
    "opt_outs": 2,
    "reminders": {
        "sent": 4,
        "skipped": 3,
        "skipped_reasons": {"disputed": 1, "opted_out": 1, "superseded": 1},
        "held": 1,
        "paid_within_7_days": 2,
    },
    "conversation_store": "read",
}


def _tracker_url(store, tmp_path: Path) -> str:
    """Beside the books on PostgreSQL (TRACKER_DATABASE_URL's default there), its own
    file on SQLite."""
    if store.engine.dialect.name == "sqlite":
        return f"sqlite:///{tmp_path / 'conversations.db'}"
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def month(store, tmp_path, monkeypatch):
    """The store and the conversation store holding the known month."""
    tracker_url = _tracker_url(store, tmp_path)
    build_books(store)
    build_conversations(store, tracker_url, monkeypatch)
    return store, tracker_url


def test_every_figure_of_a_known_month(month):
    store, tracker_url = month
    report = collections_report(store, tracker_url, MARCH, LANGUAGES, "USD")
    assert report.as_dict() == EXPECTED


def test_the_report_writes_nothing(month):
    store, tracker_url = month
    tables = ("invoices", "payments", "refunds", "audit_log", "reminder_claims", "messages")

    def counts():
        with store.engine.connect() as connection:
            books = [connection.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables]
        tracker = create_engine(tracker_url)
        with tracker.connect() as connection:
            events = connection.scalar(text("SELECT count(*) FROM events"))
        tracker.dispose()
        return books, events

    before = counts()
    collections_report(store, tracker_url, MARCH, LANGUAGES)
    assert counts() == before


def test_without_a_conversation_store_the_books_are_still_reported(store, tmp_path):
    build_books(store)
    missing = tmp_path / "nowhere" / "conversations.db"
    report = collections_report(store, f"sqlite:///{missing}", MARCH, LANGUAGES).as_dict()
    assert not missing.exists()  # looked for, not created
    assert report["conversation_store"] == "missing"
    assert report["funnel"] == dict.fromkeys(EXPECTED["funnel"], 0)
    assert report["containment_rate"] is None
    assert report["channels"] == {"voice": 0, "sms": 0, "web": 0, "rest": 0, "other": 0}
    assert report["languages"] == dict.fromkeys(LANGUAGES, 0)
    assert report["outstanding_minor"] == EXPECTED["outstanding_minor"]
    assert report["opt_outs"] == 1  # the STOP by text; the other was in a conversation


def test_an_empty_or_unreachable_conversation_store_counts_nothing(tmp_path):
    empty = tmp_path / "empty.db"
    engine = create_engine(f"sqlite:///{empty}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE other (id INTEGER)"))
    found = read_conversations(f"sqlite:///{empty}", MARCH, LANGUAGES)
    assert (found.found, found.store) == ([], "missing")
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
                "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
                "action_name VARCHAR(255), data TEXT)"
            )
        )
    engine.dispose()
    found = read_conversations(f"sqlite:///{empty}", MARCH, LANGUAGES)
    assert (found.found, found.store) == ([], "read")
    nobody = read_conversations("postgresql://postgres@127.0.0.1:9/none", MARCH, LANGUAGES)
    assert (nobody.found, nobody.store) == ([], "unreachable")


def test_csv_rows_name_metric_and_currency_or_key():
    rows = list(csv_rows(EXPECTED))
    assert ("collected_minor", "USD", "14300") in rows
    assert ("aging_minor.61_90", "USD", "39300") in rows
    assert ("aging_minor.over_90", "GBP", "3000") in rows
    assert ("dso_days", "USD", "276.0") in rows
    assert ("dso_days", "GBP", "") in rows  # null: nothing invoiced
    assert ("funnel", "links_paid", "1") in rows
    assert ("containment_rate", "", "0.7778") in rows
    assert ("channels", "voice", "2") in rows
    assert ("languages", "pt", "1") in rows
    assert ("opt_outs", "", "2") in rows
    assert ("reminders", "paid_within_7_days", "2") in rows
    assert ("reminders.skipped_reasons", "superseded", "1") in rows
    assert ("period", "since", "2024-03-01") in rows
    assert not [row for row in rows if row[0] == "currencies"]
    assert len(rows) == len(set((metric, key) for metric, key, _ in rows)) == 64


@pytest.fixture
def command(sqlite_store, tmp_path, monkeypatch):
    """`settle` on the known month (SQLite): run(args) -> (exit code, out, err)."""
    from settle.app.cli import main

    tracker_url = f"sqlite:///{tmp_path / 'conversations.db'}"
    build_books(sqlite_store)
    build_conversations(sqlite_store, tracker_url, monkeypatch)
    monkeypatch.setenv("DATABASE_URL", str(sqlite_store.engine.url))
    monkeypatch.delenv("SETTLE_SETTINGS", raising=False)

    def run(*args: str) -> int:
        return main(["report", *args])

    return run


MARCH_ARGS = ("--since", "2024-03-01", "--until", "2024-03-30")


def test_settle_report_json(command, capsys):
    assert command(*MARCH_ARGS, "--json") == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == EXPECTED
    assert out.err == ""


def test_settle_report_csv(command, capsys):
    assert command(*MARCH_ARGS, "--csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["metric", "currency_or_key", "value"]
    assert [tuple(row) for row in rows[1:]] == list(csv_rows(EXPECTED))


def test_settle_report_refuses_bad_dates_and_outputs(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        command("--since", "2024-02-30", "--json")
    assert stopped.value.code == 2
    assert "--since: '2024-02-30' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
    assert command("--since", "2024-03-30", "--until", "2024-03-01", "--json") == 2
    assert "ends (2024-03-01) before it begins (2024-03-30)" in capsys.readouterr().err
    for outputs in ((), ("--json", "--csv")):
        with pytest.raises(SystemExit) as stopped:
            command(*MARCH_ARGS, *outputs)
        assert stopped.value.code == 2


def test_settle_report_says_when_the_conversations_are_missing(command, capsys, monkeypatch):
    monkeypatch.setenv("TRACKER_DATABASE_URL", "sqlite:////nonexistent/conversations.db")
    assert command(*MARCH_ARGS, "--json") == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["conversation_store"] == "missing"
    assert "the conversation store is missing" in out.err
