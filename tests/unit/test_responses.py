"""Every response the assistant can say exists in every supported language."""
from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import yaml

from settle import i18n
from settle.config import load_business_settings

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
LANGUAGES = load_business_settings().languages


def variation_language(variation: dict) -> str | None:
    for condition in variation.get("condition") or []:
        if condition.get("name") == "language":
            return condition.get("value")
    return None


@pytest.mark.parametrize("name", sorted(DOMAIN["responses"]))
def test_response_has_one_variation_per_language(name):
    languages = [variation_language(v) for v in DOMAIN["responses"][name]]
    missing = sorted(set(LANGUAGES) - set(languages))
    assert not missing, f"{name} has no text for: {', '.join(missing)}"
    assert None not in languages, f"{name} has a variation without a language condition"


@pytest.mark.parametrize("name", sorted(DOMAIN["responses"]))
def test_every_channel_variation_exists_in_every_language(name):
    variations = DOMAIN["responses"][name]
    for channel in {v.get("channel") for v in variations}:
        languages = {variation_language(v) for v in variations if v.get("channel") == channel}
        missing = sorted(set(LANGUAGES) - languages)
        assert not missing, f"{name} ({channel or 'any channel'}) has no text for: {missing}"


@pytest.mark.parametrize("name", sorted(DOMAIN["responses"]))
def test_all_languages_of_a_response_use_the_same_placeholders(name):
    variations = DOMAIN["responses"][name]
    for channel in {v.get("channel") for v in variations}:
        fields = {variation_language(v): set(re.findall(r"{(\w+)}", v["text"]))
                  for v in variations if v.get("channel") == channel}
        assert len({frozenset(f) for f in fields.values()}) == 1, fields


def test_sms_texts_exist_in_every_language_with_the_same_placeholders():
    english = i18n.MESSAGES["en"]
    for language in LANGUAGES:
        texts = i18n.MESSAGES.get(language)
        assert texts is not None, f"no SMS texts for {language}"
        assert set(texts) == set(english), f"{language}: keys differ from English"
        for key, template in texts.items():
            ours = {f for _, f, _, _ in string.Formatter().parse(template) if f}
            theirs = {f for _, f, _, _ in string.Formatter().parse(english[key]) if f}
            assert ours == theirs, f"{language}.{key} placeholders {ours} != {theirs}"


def test_every_message_we_text_tells_how_to_stop():
    for language, texts in i18n.MESSAGES.items():
        for key in ("payment_link", "receipt"):
            assert "STOP" in texts[key], f"{language}.{key} has no opt-out instruction"
