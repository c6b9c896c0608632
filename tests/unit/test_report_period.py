"""The collections report's date arithmetic: periods in the business's zone, aging, DSO."""

from __future__ import annotations

import datetime as dt

import pytest

from settle.reporting.conversations import sessions
from settle.reporting.period import Period, aging_bucket, dso_days, parse_date, period_between

NY = "America/New_York"
UTC = dt.timezone.utc


def test_a_period_is_whole_days_in_the_business_zone_across_a_clock_change():
    march = Period(dt.date(2024, 3, 1), dt.date(2024, 3, 30), NY)
    assert march.days == 30
    assert march.start == dt.datetime(2024, 3, 1, 5, tzinfo=UTC)  # EST
    assert march.end == dt.datetime(2024, 3, 31, 4, tzinfo=UTC)  # EDT from the 10th
    assert march.contains(dt.datetime(2024, 3, 31, 3, 59, tzinfo=UTC))
    assert not march.contains(march.end)
    assert not march.contains(dt.datetime(2024, 3, 1, 4, 59, tzinfo=UTC))
    one_day = Period(dt.date(2024, 3, 10), dt.date(2024, 3, 10), NY)
    assert one_day.days == 1 and one_day.end - one_day.start == dt.timedelta(hours=23)


def test_the_default_period_is_the_last_30_days_until_today():
    today = dt.date(2024, 3, 30)
    assert period_between(None, None, today, NY) == Period(dt.date(2024, 3, 1), today, NY)
    until = dt.date(2024, 2, 29)
    assert period_between(None, until, today, NY).since == dt.date(2024, 1, 31)
    since = dt.date(2024, 3, 20)
    assert period_between(since, None, today, NY) == Period(since, today, NY)
    with pytest.raises(ValueError, match="ends .* before it begins"):
        period_between(dt.date(2024, 3, 2), dt.date(2024, 3, 1), today, NY)


@pytest.mark.parametrize("given", ["2024-02-30", "03/01/2024", "", "yesterday"])
def test_a_bad_date_is_named(given):
    with pytest.raises(ValueError, match=f"{given!r} is not a date"):
        parse_date(given)
    assert parse_date(" 2024-02-29 ") == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("late", "bucket"),
    [(-5, "current"), (0, "current"), (1, "1_30"), (30, "1_30"), (31, "31_60"), (60, "31_60")]
    + [(61, "61_90"), (90, "61_90"), (91, "over_90"), (400, "over_90")],
)
def test_aging_buckets_by_days_past_due(late, bucket):
    as_of = dt.date(2024, 3, 30)
    assert aging_bucket(as_of - dt.timedelta(days=late), as_of) == bucket


def test_dso_is_receivables_over_invoiced_times_days():
    assert dso_days(152800, 16500, 30) == 277.8
    assert dso_days(10000, 12000, 30) == 25.0
    assert dso_days(1, 8, 1) == 0.1  # 0.125: half up
    assert dso_days(0, 5000, 30) == 0.0
    assert dso_days(3000, 0, 30) is None


def _at(hour: int, minute: int = 0) -> float:
    return dt.datetime(2024, 3, 5, hour, minute, tzinfo=UTC).timestamp()


def test_a_conversation_is_a_session_with_a_customer_message():
    history = [
        ("session_started", _at(9), {}),
        ("user", _at(9, 1), {"input_channel": "twilio", "metadata": {"language_on_file": "it"}}),
        ("slot", _at(9, 1), {"name": "goal", "value": "balance"}),
        ("bot", _at(9, 2), {"metadata": {"utter_action": "utter_balance_one"}}),
        ("session_started", _at(11), {}),  # only Rasa spoke: no conversation
        ("bot", _at(11), {"metadata": {"utter_action": "utter_greet"}}),
        ("session_started", _at(12), {}),
        ("user", _at(12, 5), {"input_channel": "custom", "metadata": {}}),
        ("slot", _at(12, 5), {"name": "stage", "value": "link_shown"}),
    ]
    first, second = sessions("+14155550101", history, ["en", "it"])
    assert (first.channel, first.language, first.goals) == ("sms", "it", {"balance"})
    assert first.told == {"balance_told"}
    assert first.began_at.timestamp() == _at(9) and first.ended_by == second.began_at
    assert (second.channel, second.language, second.told) == ("other", "en", {"link_sent"})
    assert second.ended_by is None
