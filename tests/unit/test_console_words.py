"""The console's page strings (settle/console/locales): every language has every key with
the same {placeholders}, and a request gets the operator's language."""

from __future__ import annotations

import pytest

from settle.console import words
from settle.console.words import LANGUAGES, catalog, language_of, page_text, phrase, said


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_language_has_the_same_keys_and_placeholders(lang):
    english, other = catalog("en"), catalog(lang)
    assert sorted(other) == sorted(english)
    for key, text in english.items():
        assert words.placeholders(other[key]) == words.placeholders(text), (lang, key)
        assert other[key].strip(), (lang, key)


def test_the_catalogs_are_translated_not_copied():
    for lang in LANGUAGES[1:]:
        same = [key for key, text in catalog("en").items() if catalog(lang)[key] == text]
        # Words spelled alike (SMS, E-mail, Canal…) are fine; a copied catalog is not.
        assert len(same) < len(catalog("en")) // 10, (lang, same)


def test_placeholders_are_filled_and_an_unknown_language_reads_english():
    assert page_text("queue.heading", "de", count=3) == "Arbeitsliste (3)"
    assert page_text("queue.heading", "xx", count=3) == "Work queue (3)"
    with pytest.raises(KeyError):
        page_text("no.such.key", "en")


def test_a_phrase_is_english_until_a_page_says_it():
    told = phrase("password.too_short", chars=12)
    assert told == "A password needs at least 12 characters."
    assert said(told, "fr") == "Un mot de passe doit comporter au moins 12 caractères."
    assert said(ValueError(told), "it").startswith("Una password")
    assert said("plain text", "es") == "plain text"


@pytest.mark.parametrize(
    "header, cookie, lang",
    [
        ("de-DE,de;q=0.9,en;q=0.8", None, "de"),
        ("en;q=0.5, pt-BR", None, "pt"),
        ("fr-CH, fr;q=0.9", None, "fr"),
        ("ja, zh;q=0.8", None, "en"),
        ("", None, "en"),
        (None, None, "en"),
        ("es;q=abc, it;q=0.4", None, "it"),
        ("de", "es", "es"),
        ("de", "xx", "de"),
        ("de", "../en", "de"),
        (None, "EN", "en"),
    ],
)
def test_the_language_is_the_cookie_else_the_browsers_best_match(header, cookie, lang):
    assert language_of(header, cookie) == lang


def test_a_queue_actions_outcome_is_said_in_the_operators_language(sqlite_store):
    from settle.console.resolve import unlock

    done = unlock(sqlite_store, 42, "operator:x")
    assert done.message == "Lock 42 was already lifted or has expired."  # the CLI, the logs
    assert said(done.message, "de") == "Sperre 42 war bereits aufgehoben oder ist abgelaufen."
