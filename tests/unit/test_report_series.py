"""The report's figures by day and week (the console's charts), on the known month: each
adds up to the report's own figure."""

from __future__ import annotations

import datetime as dt

from settle.reporting import report_and_series
from settle.reporting.series import COLLECTED_CHANNELS
from tests.unit.report_data import LANGUAGES, MARCH, build_books, build_conversations
from tests.unit.test_collections_report import EXPECTED, _tracker_url


def _day(n: int) -> int:
    return (dt.date(2024, 3, n) - MARCH.since).days


def test_collected_per_day_by_channel_and_containment_per_week(store, tmp_path, monkeypatch):
    tracker_url = _tracker_url(store, tmp_path)
    build_books(store)
    build_conversations(store, tracker_url, monkeypatch)
    report, series = report_and_series(store, tracker_url, MARCH, LANGUAGES, "USD")
    assert report.as_dict() == EXPECTED

    collected = series.collected
    assert collected.days[0] == dt.date(2024, 3, 1) and collected.days[-1] == dt.date(2024, 3, 30)
    assert len(collected.days) == 30
    assert list(collected.minor) == ["EUR", "GBP", "USD"]
    for by_channel in collected.minor.values():
        assert tuple(by_channel) == COLLECTED_CHANNELS
    usd = collected.minor["USD"]
    # P1 and P8 came through links texted in a conversation; P2 and P6 through none. P6 came
    # at 23:30 on the 30th in New York (03:30Z on the 31st); P7 at 23:30 on February 29.
    assert {(c, i): v for c, days in usd.items() for i, v in enumerate(days) if v} == {
        ("sms", _day(10)): 5000,
        ("sms", _day(21)): 1000,
        ("none", _day(12)): 8000,
        ("none", _day(30)): 300,
    }
    assert collected.minor["EUR"]["none"][_day(20)] == 2000
    for currency, total in EXPECTED["collected_minor"].items():
        assert sum(map(sum, collected.minor[currency].values())) == total

    weeks = [
        (w.since.day, w.until.day, w.conversations, w.with_goal, w.contained, w.containment_rate)
        for w in series.weeks
    ]
    assert weeks == [
        (1, 7, 3, 3, 3, 1.0),  # a link, a balance, a refund
        (8, 14, 6, 5, 3, 0.6),  # two handed over; a German greeting with no goal
        (15, 21, 1, 1, 1, 1.0),  # the plan
        (22, 28, 0, 0, 0, None),
        (29, 30, 1, 0, 0, None),  # the late-night text, no goal
    ]
    assert sum(w.with_goal for w in series.weeks) == EXPECTED["conversations_with_goal"]
    assert sum(w.contained for w in series.weeks) == EXPECTED["conversations_contained"]
    document = series.as_dict()
    assert document["days"][0] == "2024-03-01" and len(document["days"]) == 30
    assert document["weeks"][1]["containment_rate"] == 0.6
