"""Business hours: when the team next opens, and what a hand-off outside them says."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

import pytest

from actions.session import ActionHandoff
from settle.config import BusinessSettings, business_from_sections
from settle.core import clock
from settle.core.settings_file import ConfigError
from settle.rules.opening_hours import parse_hours
from settle_rasa.call_state import CallState
from settle_rasa.voice import MAX_SILENCES, TwilioVoiceInput
from tests.unit.trackers import run, tracker

NY = zoneinfo.ZoneInfo("America/New_York")
HOURS = parse_hours({"mon-fri": "09:00-17:00", "sat": "10:00-14:00"})


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NY)


def test_open_hours_have_no_next_opening():
    assert HOURS is not None
    assert HOURS.next_opening(at(2026, 12, 7, 12, 0), NY) is None  # Monday noon


def test_exactly_at_opening_is_open_and_exactly_at_closing_is_closed():
    assert HOURS is not None
    assert HOURS.next_opening(at(2026, 12, 7, 9, 0), NY) is None
    assert HOURS.next_opening(at(2026, 12, 7, 17, 0), NY) == at(2026, 12, 8, 9, 0)


def test_before_opening_it_is_today_and_after_closing_the_next_weekday():
    assert HOURS is not None
    assert HOURS.next_opening(at(2026, 12, 7, 6, 30), NY) == at(2026, 12, 7, 9, 0)
    assert HOURS.next_opening(at(2026, 12, 9, 22, 0), NY) == at(2026, 12, 10, 9, 0)


def test_across_the_weekend():
    assert HOURS is not None
    assert HOURS.next_opening(at(2026, 12, 11, 18, 0), NY) == at(2026, 12, 12, 10, 0)  # Fri->Sat
    assert HOURS.next_opening(at(2026, 12, 12, 14, 0), NY) == at(2026, 12, 14, 9, 0)  # Sat->Mon


def test_across_a_clock_change_the_office_still_opens_at_nine_local():
    assert HOURS is not None
    # Clocks go forward on Sunday 8 March 2026: Monday's nine is 13:00 UTC, not 14:00.
    opening = HOURS.next_opening(dt.datetime(2026, 3, 7, 20, 0, tzinfo=dt.timezone.utc), NY)
    assert opening == at(2026, 3, 9, 9, 0)
    assert opening.astimezone(dt.timezone.utc).hour == 13


def test_now_in_another_zone_is_read_on_the_office_clock():
    assert HOURS is not None
    # 15:30 UTC on a Monday in December is 10:30 in New York: open.
    assert HOURS.next_opening(dt.datetime(2026, 12, 7, 15, 30, tzinfo=dt.timezone.utc), NY) is None


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"monday": "09:00-17:00"}, "not a day or a range"),
        ({"fri-mon": "09:00-17:00"}, "runs backwards"),
        ({"mon": "9 to 5"}, 'like "09:00-17:00"'),
        ({"mon": "17:00-09:00"}, "must be before closing"),
        ({"mon-fri": "09:00-17:00", "fri": "10:00-12:00"}, "fri is given twice"),
        (["mon-fri"], "must be a mapping"),
    ],
)
def test_bad_hours_are_a_config_error_that_names_the_key(raw, message, tmp_path):
    with pytest.raises(ConfigError, match=message) as error:
        business_from_sections(tmp_path / "settle.yml", {"business": {"hours": raw}})
    assert "business.hours" in str(error.value)


def test_no_hours_means_always_open(tmp_path):
    assert business_from_sections(tmp_path / "settle.yml", {"business": {}}).hours is None
    assert BusinessSettings().hours is None


def _business_hours(app, monkeypatch, now: dt.datetime) -> None:
    business = dataclasses.replace(
        app.settings.business, hours=HOURS, timezone="America/New_York", languages=("en", "es")
    )
    app.settings = dataclasses.replace(app.settings, business=business)
    monkeypatch.setattr(clock, "utcnow", lambda: now)


def test_a_hand_off_outside_hours_says_when_someone_calls_back_in_spanish(app, monkeypatch):
    _business_hours(app, monkeypatch, at(2026, 12, 12, 15, 0))  # Saturday, after closing
    said, _, messages = run(
        ActionHandoff(), tracker("quiero hablar con alguien", slots={"language": "es"})
    )
    assert said == [None]
    assert messages[0]["text"] == (
        "Nuestro equipo está cerrado ahora. Ya le pasé lo que hablamos, y alguien le "
        "devolverá la llamada el lunes a las 9:00\u202fa.m."
    )


def test_a_hand_off_inside_hours_is_the_usual_one(app, monkeypatch):
    _business_hours(app, monkeypatch, at(2026, 12, 7, 10, 0))  # Monday morning
    said, _, _ = run(
        ActionHandoff(), tracker("quiero hablar con alguien", slots={"language": "es"})
    )
    assert said == ["utter_handoff"]


def test_a_call_outside_hours_hangs_up_instead_of_ringing_a_closed_office(app, monkeypatch):
    _business_hours(app, monkeypatch, at(2026, 12, 7, 20, 0))
    said, _, messages = run(
        ActionHandoff(), tracker("agent", channel="twilio_voice", sender="+14155550101")
    )
    assert messages[0]["text"].endswith("someone will call you back on Tuesday at 9:00\u202fAM.")
    assert messages[0]["custom"] == {"language": "en", "hangup": True}


@pytest.mark.parametrize(
    "now, rung", [(at(2026, 12, 7, 10, 0), True), (at(2026, 12, 7, 20, 0), False)]
)
def test_a_silent_caller_is_put_through_only_while_someone_is_there(app, monkeypatch, now, rung):
    _business_hours(app, monkeypatch, now)
    app.settings = dataclasses.replace(
        app.settings,
        business=dataclasses.replace(app.settings.business, support_phone="+14155550100"),
    )
    twiml = str(TwilioVoiceInput()._silence(CallState(language="en"), MAX_SILENCES + 1))
    assert ("<Dial" in twiml) is rung
    if not rung:  # nothing was handed over: no promise of a call back, only goodbye
        assert "<Hangup" in twiml and "call you back" not in twiml
