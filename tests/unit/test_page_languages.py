"""Every word a customer sees or hears outside the conversation is in their language: the
voice prompts and keypad hints, the chat page's chrome, the checkout and plan pages and
the e-mail subjects. Rendered in each language, none may carry an English catalog text."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from settle.config import BusinessSettings, Settings
from settle.core import i18n
from settle.core.money import format_money

OTHER_LANGUAGES = sorted(set(i18n.MESSAGES) - {"en"})
PLACEHOLDER = re.compile(r"\{[^}]*\}")


def english_in(rendered: str, language: str) -> list[str]:
    """The English catalog's phrases (of texts this language words differently) found in
    what was rendered."""
    english, own = i18n.MESSAGES["en"], i18n.MESSAGES[language]
    found = []
    for key, value in english.items():
        if key.startswith("voice_") or own.get(key) == value:
            continue
        for fragment in PLACEHOLDER.split(value):
            fragment = fragment.strip(" .,:;!?—()\n")
            if len(fragment) >= 10 and " " in fragment and fragment in rendered:
                found.append(f"{key}: {fragment!r}")
    return found


@pytest.fixture
def settings(monkeypatch):
    business = BusinessSettings(name="Acme", languages=("en", "es", "fr", "de", "it", "pt"))
    settings = Settings(database_url="sqlite://", business=business)
    monkeypatch.setattr("settle.app.runtime.current", lambda: SimpleNamespace(settings=settings))
    return settings


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
@pytest.mark.parametrize("keypad", ["menu", "yes_no", "choice", "identity", "postal", "none"])
def test_every_voice_prompt_and_keypad_hint_is_in_the_callers_language(settings, language, keypad):
    from settle_rasa.call_state import CallState
    from settle_rasa.voice import TwilioVoiceInput

    state = CallState(language=language, keypad=keypad)
    amount = format_money(500, "USD", i18n.locale_for(language, "US"))
    texts = [
        i18n.text("outbound_intro", language, business="Acme"),
        i18n.text("invoice_line", language, position=1, amount=amount, due="x", invoice="I-1"),
    ]
    for key in ("didnt_hear", "say_again", "one_moment", "slow_apology", "keypad_failed"):
        texts.append(i18n.text(key, language))
    twiml = TwilioVoiceInput._prompt(None, state, texts)  # type: ignore[arg-type]
    said = " ".join(s.text or "" for s in ET.fromstring(str(twiml)).iter("Say"))
    assert not english_in(said, language), said
    assert "Number" not in said and "five" not in said and "5" not in said, said


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_the_chat_page_chrome_is_in_the_visitors_language(settings, language):
    from settle.app.chat_pages import chat_page

    page = chat_page(settings, language)
    assert f"<html lang={language}>" in page
    assert i18n.text("chat_subtitle", language) in page
    assert i18n.text("chat_input_hint", language) in page
    assert not english_in(page, language), english_in(page, language)


@pytest.mark.parametrize(
    "header, language",
    [
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("fr-CA", "fr"),
        ("en-US,en;q=0.9", "en"),
        ("ja,de;q=0.5", "de"),
        ("de;q=0.2, pt-BR;q=0.8", "pt"),
        ("", "en"),
        ("zz", "en"),
        (None, "en"),
    ],
)
def test_a_page_speaks_the_browsers_language(header, language):
    available = ("en", "es", "fr", "de", "it", "pt")
    assert i18n.accepted_language(header, available) == language


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_checkout_and_plan_pages_are_in_the_customers_language(settings, language):
    from settle.app import payment_pages

    link = SimpleNamespace(invoice_id="INV-1", amount_minor=26000, currency="USD", status="open")
    plan = SimpleNamespace(
        invoice_id="INV-1",
        total_minor=26000,
        currency="USD",
        installment_count=3,
        interval="monthly",
        status="pending_card",
    )
    pages = [payment_pages.return_page(path, language) for path in payment_pages.RETURN_PAGES]
    pages += [
        payment_pages.checkout_page(link, "cs_1", language),
        payment_pages.checkout_page(
            SimpleNamespace(**{**vars(link), "status": "paid"}), "cs_1", language
        ),
        payment_pages.setup_page(plan, "cs_2", language),
        payment_pages.setup_page(
            SimpleNamespace(**{**vars(plan), "status": "active"}), "cs_2", language
        ),
    ]
    pages += [
        payment_pages.notice(title, text, language)
        for title, text in (
            ("page_not_found_title", "page_link_missing"),
            ("page_not_found_title", "page_missing"),
            ("page_link_title", "page_link_closed_uncharged"),
            ("page_plan_title", "page_setup_expired"),
        )
    ]
    for page in pages:
        assert f"<html lang={language}>" in page
        assert not english_in(page, language), (english_in(page, language), page)
    written = format_money(26000, "USD", i18n.locale_for(language, "US"))
    assert html.escape(written) in pages[4]  # the amount as the customer's locale writes it


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_e_mail_subjects_are_in_the_readers_language(language):
    for key in ("reminder_email_subject", "staff_alert_subject"):
        subject = i18n.text(key, language, business="Acme")
        assert not english_in(subject, language), subject
        assert subject != i18n.text(key, "en", business="Acme")


def test_the_english_check_catches_english():
    assert english_in(i18n.text("keypad_menu", "en"), "es")
    assert english_in(i18n.text("page_paid_text", "en"), "de")
