"""Every response the assistant can say exists in every supported language."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import yaml

from settle.config import load_business_settings
from settle.core import i18n

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
LANGUAGES = load_business_settings().languages


def variation_language(variation: dict) -> str:
    """The language condition of a variation; English is the one without (the default)."""
    for condition in variation.get("condition") or []:
        if condition.get("name") == "language":
            return condition.get("value")
    return "en"


@pytest.mark.parametrize("name", sorted(DOMAIN["responses"]))
def test_response_has_one_variation_per_language(name):
    keys = [(variation_language(v), v.get("channel")) for v in DOMAIN["responses"][name]]
    missing = sorted(set(LANGUAGES) - {language for language, _ in keys})
    assert not missing, f"{name} has no text for: {', '.join(missing)}"
    assert len(keys) == len(set(keys)), f"{name} has two texts for one language and channel"


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
        fields = {
            variation_language(v): set(re.findall(r"{(\w+)}", v["text"]))
            for v in variations
            if v.get("channel") == channel
        }
        assert len({frozenset(f) for f in fields.values()}) == 1, fields


def test_sms_texts_exist_in_every_language_with_the_same_placeholders():
    english = i18n.MESSAGES["en"]
    assert english, "settle/locales/en.yml has no messages"
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
        for key in ("payment_link", "receipt", "sms_help"):
            assert "STOP" in texts[key], f"{language}.{key} has no opt-out instruction"


def test_every_language_has_a_voice():
    for language in LANGUAGES:
        tag, voice = i18n.VOICES[language]
        assert tag.startswith(language + "-") and voice.startswith("Polly.")
