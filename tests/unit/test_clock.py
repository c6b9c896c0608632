"""One customer clock: their zone, else the business's, never UTC."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settle.config import ConfigError, load_business_settings
from settle.core.clock import customer_today, local_time, zone_of

# 03:30 UTC on 2 March: still 1 March in New York and Los Angeles, 2 March in Paris.
LATE = dt.datetime(2026, 3, 2, 3, 30, tzinfo=dt.timezone.utc)


def test_a_customer_s_today_is_their_own_date():
    assert customer_today("America/Los_Angeles", LATE) == dt.date(2026, 3, 1)
    assert customer_today("Europe/Paris", LATE) == dt.date(2026, 3, 2)


@pytest.mark.parametrize("unknown", [None, "", "Mars/Olympus_Mons", "not a zone"])
def test_an_unknown_zone_is_the_business_s_not_utc(unknown):
    assert customer_today(unknown, LATE) == dt.date(2026, 3, 1)  # New York, by default
    assert customer_today(unknown, LATE, fallback="Europe/Paris") == dt.date(2026, 3, 2)
    assert zone_of(unknown, "also not a zone").key == "America/New_York"


@given(st.datetimes(timezones=st.just(dt.timezone.utc)))
def test_local_time_is_the_same_instant(now):
    assert local_time(now, "Asia/Kolkata") == now


def test_the_business_time_zone_is_checked_when_read(tmp_path):
    bad = tmp_path / "settle.yml"
    bad.write_text("business:\n  timezone: Atlantis/Central\n")
    with pytest.raises(ConfigError, match="business.timezone"):
        load_business_settings(str(bad))
    good = tmp_path / "good.yml"
    good.write_text("business:\n  timezone: America/Chicago\n")
    assert load_business_settings(str(good)).timezone == "America/Chicago"
