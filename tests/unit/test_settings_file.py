"""One settings file, named by SETTLE_SETTINGS, feeds every section: business, policy, reminders."""

from __future__ import annotations

import pytest

from settle.config import ConfigError, Settings, load_business_settings
from settle.reminders import load_cadence
from settle.rules.policy import load_policy


def test_every_section_comes_from_the_file_settle_settings_names(tmp_path, monkeypatch):
    file = tmp_path / "acme.yml"
    file.write_text(
        "business:\n  name: Acme\n"
        "policy:\n  plans:\n    min_balance: 50.00\n    min_installment: 10.00\n"
        "reminders:\n  enabled: false\n"
    )
    monkeypatch.setenv("SETTLE_SETTINGS", str(file))
    assert load_business_settings().name == "Acme"
    assert load_policy().plans.min_balance_minor == 5000
    assert load_cadence().enabled is False


def test_one_settings_holds_every_section_read_once(tmp_path, monkeypatch):
    from settle.app.runtime import Settle
    from settle.core import settings_file

    file = tmp_path / "acme.yml"
    file.write_text(
        "business:\n  name: Acme\n  currency: EUR\n"
        "policy:\n  plans:\n    min_balance: 50.00\n"
        "reminders:\n  enabled: false\n"
        "security:\n  max_message_chars: 900\n"
    )
    reads = []
    real_read = settings_file.read_settings_file
    monkeypatch.setattr(
        "settle.config.read_settings_file", lambda path=None: reads.append(path) or real_read(path)
    )
    settings = Settings.from_env({"SETTLE_SETTINGS": str(file)})
    assert len(reads) == 1
    assert settings.business.currency == "EUR"
    assert settings.policy.plans.min_balance_minor == 5000
    assert settings.cadence.enabled is False
    assert settings.security.max_message_chars == 900
    app = Settle(settings, store=None, gateway=None, sms=None, email=object())
    assert (app.policy, app.cadence, app.security) == (
        settings.policy,
        settings.cadence,
        settings.security,
    )


def test_a_mistake_in_any_section_stops_the_settings_and_names_the_file(tmp_path):
    for section in (
        "policy:\n  plans:\n    min_balance: -5\n",
        "reminders:\n  send_time: noon\n",
        "security:\n  max_message_chars: 0\n",
    ):
        file = tmp_path / "bad.yml"
        file.write_text(section)
        with pytest.raises(ConfigError, match="bad.yml"):
            Settings.from_env({"SETTLE_SETTINGS": str(file)})


def test_a_settings_file_that_is_not_there_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SETTLE_SETTINGS", str(tmp_path / "missing.yml"))
    for load in (load_business_settings, load_policy, load_cadence):
        with pytest.raises(ConfigError, match="missing.yml, which does not exist"):
            load()


def test_the_service_and_call_knobs_come_from_the_environment():
    defaults = Settings.from_env({})
    assert defaults.sandbox_decline_off_session is False
    assert (defaults.plan_interval_seconds, defaults.reminder_interval_seconds) == (300.0, 60.0)
    assert (defaults.twilio_pay_connector, defaults.voice_turn_seconds) == ("Default", 10.0)
    settings = Settings.from_env(
        {
            "SETTLE_SANDBOX_DECLINE": "1",
            "SETTLE_PLAN_INTERVAL_SECONDS": "3600",
            "SETTLE_REMINDER_INTERVAL_SECONDS": "0",
            "TWILIO_PAY_CONNECTOR": "Stripe",
            "SETTLE_VOICE_TURN_SECONDS": "2.5",
        }
    )
    assert settings.sandbox_decline_off_session is True
    assert (settings.plan_interval_seconds, settings.reminder_interval_seconds) == (3600.0, 0.0)
    assert (settings.twilio_pay_connector, settings.voice_turn_seconds) == ("Stripe", 2.5)
    assert Settings.from_env({"SETTLE_SANDBOX_DECLINE": "yes"}).sandbox_decline_off_session is False
    with pytest.raises(ConfigError, match="SETTLE_PLAN_INTERVAL_SECONDS"):
        Settings.from_env({"SETTLE_PLAN_INTERVAL_SECONDS": "hourly"})
