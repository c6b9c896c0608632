"""What callers hear, what texters' keywords do, and what a person taking over is told."""

from __future__ import annotations

import pytest

from settle.billing.handoff import describe
from settle.config import load_business_settings
from settle.core import i18n
from settle.understanding.speech import speakable


@pytest.mark.parametrize(
    "written, spoken",
    [
        ("$285.00", "two hundred and eighty-five dollars"),
        ("$1.01", "one dollar and one cent"),
        ("$1,200.50", "one thousand two hundred dollars and fifty cents"),
        ("due March 3, 2026", "due March third"),
        ("due March 3, 2027", "due March third, twenty twenty-seven"),
        ("invoice INV-1001", "invoice I N V, 1 0 0 1"),
        ("your phone ending in 0102", "your phone ending in 0 1 0 2"),
        ("invoices:\n1. $5.00\n2. $6.00", "invoices: Number 1: five dollars Number 2: six dollars"),
    ],
)
def test_speakable(written, spoken):
    assert speakable(written, "en", current_year=2026) == spoken


@pytest.mark.parametrize(
    "message, kind",
    [
        ("STOP", "opt_out"),
        ("Stop.", "opt_out"),
        ("STOPALL", "opt_out"),
        ("unsubscribe", "opt_out"),
        ("CANCEL", "opt_out"),
        ("end", "opt_out"),
        ("Quit!", "opt_out"),
        ("START", "opt_in"),
        ("unstop", "opt_in"),
        ("HELP", "help"),
        ("info", "help"),
        ("please stop texting me", None),
        ("I want to pay", None),
        ("stop by tomorrow", None),
    ],
)
def test_keywords_are_whole_messages(message, kind):
    assert i18n.keyword(message)[0] == kind


def test_every_supported_language_has_consent_keywords():
    for language in load_business_settings().languages:
        assert {"stop", "stopall", "unsubscribe", "cancel", "end", "quit"} <= set(
            i18n.OPT_OUT_KEYWORDS[language]
        ) or language != "en"
        assert i18n.OPT_OUT_KEYWORDS.get(language), f"no opt-out words for {language}"
        assert i18n.OPT_IN_KEYWORDS.get(language), f"no opt-in words for {language}"
        assert i18n.HELP_KEYWORDS.get(language), f"no help words for {language}"


def test_handoff_summary_says_who_what_and_which_invoice():
    text = describe(
        {
            "verified_customer": "C002",
            "goal": "pay",
            "invoice": "INV-2002",
            "reason": "human_handoff",
        },
        "Ben Okafor",
    )
    assert (
        text == "The caller is verified as Ben Okafor (C002). They want to pay an invoice. "
        "Invoice INV-2002."
    )
    assert describe({"failed_verifications": 3, "reason": "identity_not_verified"}, None) == (
        "The caller could not be verified after 3 attempts. Reason: identity not verified."
    )


def test_the_handoff_summary_is_in_the_staffs_language_not_english():
    detail = {"verified_customer": "C002", "goal": "plan", "invoice": "INV-2002"}
    assert describe(detail, "Ben Okafor", "de") == (
        "Der Anrufer ist verifiziert als Ben Okafor (C002). Er möchte in Raten zahlen. "
        "Rechnung INV-2002."
    )
    for language in i18n.MESSAGES:  # every goal is said in every language
        for goal in ("pay", "balance", "opt_out", "plan", "refund", "dispute", "reminder"):
            said = describe({"goal": goal}, None, language)
            assert said.count(".") >= 2 and "{" not in said, (language, goal, said)


def test_the_staff_language_is_a_setting_checked_at_start(tmp_path):
    from settle.config import ConfigError

    file = tmp_path / "s.yml"
    file.write_text("business:\n  languages: [es, en]\n")
    assert load_business_settings(str(file)).staff_language == "es"
    file.write_text("business:\n  languages: [es, en]\n  language: fr\n")
    assert load_business_settings(str(file)).staff_language == "fr"
    file.write_text("business:\n  language: klingon\n")
    with pytest.raises(ConfigError, match="business.language 'klingon'"):
        load_business_settings(str(file))


def test_a_plain_response_on_a_call_tells_the_call_its_language(monkeypatch):
    """A caller who says "hola" hears the Spanish greeting; the call must know it is
    Spanish, or it adds the English keypad hint and listens for English."""
    import asyncio

    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from settle_rasa import responses

    monkeypatch.setattr(responses, "response_slots", lambda _tracker: {"language": "es"})
    generator = responses.SettleResponses.__new__(responses.SettleResponses)
    generator.responses = {
        "utter_greet": [
            {"text": "¡Hola!", "condition": [{"type": "slot", "name": "language", "value": "es"}]}
        ]
    }
    for channel, custom in (("twilio_voice", {"language": "es"}), ("socketio", None)):
        tracker = DialogueStateTracker.from_events(
            "+14155550100", [UserUttered("hola", input_channel=channel)]
        )
        said = asyncio.run(generator.generate("utter_greet", tracker, "collector"))
        assert said["text"] == "¡Hola!" and said.get("custom") == custom
