"""One settings file, named by SETTLE_SETTINGS, feeds every section: business, policy, reminders."""

from __future__ import annotations

import pytest

from settle.config import ConfigError, load_business_settings
from settle.policy import load_policy
from settle.reminders import load_cadence


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


def test_a_settings_file_that_is_not_there_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SETTLE_SETTINGS", str(tmp_path / "missing.yml"))
    for load in (load_business_settings, load_policy, load_cadence):
        with pytest.raises(ConfigError, match="missing.yml, which does not exist"):
            load()
