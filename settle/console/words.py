"""The console's words in the operator's language: the catalogs in settle/console/locales
(operator pages only; what customers read is in settle/locales), the language a request
gets, and Babel's formatting of numbers and money for it.

To add a page string: pick a dotted key (`<page>.<what>`, e.g. `queue.empty`), add it to
all six files settle/console/locales/<lang>.yml with the same {placeholders}, and call
`page_text("queue.empty", lang)` — or `page_text("report.days", lang, days=3)` with values.
tests/unit/test_console_words.py fails when a language lacks a key or a placeholder.

Code outside the pages that words a message (an account refusal, a queue action's outcome)
can return `phrase(key, **values)`: an English str, as the CLI and the logs want it, that
`said(message, lang)` turns into the operator's language on a page.
"""

from __future__ import annotations

import functools
from pathlib import Path
from string import Formatter
from typing import Any

import yaml
from babel.core import negotiate_locale
from babel.numbers import format_currency, format_decimal, format_percent

from settle.core.money import to_major_units

LANGUAGES = ("en", "es", "fr", "de", "it", "pt")
DEFAULT = "en"
COOKIE = "settle_console_lang"  # set by POST /console/language (settle.console.pages)
LOCALES = Path(__file__).resolve().parent / "locales"


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flat(value, key + "."))
        else:
            flat[key] = str(value)
    return flat


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """One language's page strings, keyed `section.name`."""
    if lang not in LANGUAGES:
        raise KeyError(f"no console catalog for {lang!r}; there are {', '.join(LANGUAGES)}")
    file = LOCALES / f"{lang}.yml"
    return _flat(yaml.safe_load(file.read_text(encoding="utf-8")) or {})


def placeholders(text: str) -> set[str]:
    """The {names} a catalog text expects."""
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def page_text(key: str, lang: str, **values: Any) -> str:
    """The text `key` in `lang` (English for a language we do not have), with its
    {placeholders} filled from `values`; a KeyError names a key no catalog has."""
    texts = catalog(lang if lang in LANGUAGES else DEFAULT)
    text = texts.get(key)
    if text is None:
        text = catalog(DEFAULT)[key]
    return text.format(**values)


class Phrase(str):
    """An English message that remembers its catalog key and values, so a page can say it
    in the operator's language (`said`) while everything else reads it as plain English."""

    key: str
    values: dict[str, Any]

    def __new__(cls, key: str, **values: Any) -> Phrase:
        made = super().__new__(cls, page_text(key, DEFAULT, **values))
        made.key, made.values = key, values
        return made


def phrase(key: str, **values: Any) -> Phrase:
    return Phrase(key, **values)


def said(message: object, lang: str) -> str:
    """A message for a page: a Phrase (or an exception carrying one) in `lang`; anything
    else as it is."""
    if isinstance(message, BaseException) and message.args:
        message = message.args[0]
    if isinstance(message, Phrase):  # its values may be phrases too (a lock's scope)
        values = {name: said(value, lang) for name, value in message.values.items()}
        return page_text(message.key, lang, **values)
    return str(message)


def data_name(section: str, name: str, lang: str) -> str:
    """A name from the data (a channel, a funnel stage) as the catalog's `section` says it
    in `lang`, else as it is."""
    key = f"{section}.{name}"
    return page_text(key, lang) if key in catalog(DEFAULT) else name


def language_of(accept_language: str | None, cookie: str | None) -> str:
    """The operator's language: the selector's cookie when it names one of ours, else the
    best match of the browser's Accept-Language, else English."""
    if cookie in LANGUAGES:
        return str(cookie)
    preferred = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and tag != "*" and weight > 0:
            preferred.append((weight, tag.strip()))
    ordered = [tag for _, tag in sorted(preferred, key=lambda pair: -pair[0])]
    return negotiate_locale(ordered, list(LANGUAGES), sep="-") or DEFAULT


def number(value: float, lang: str, pattern: str | None = None) -> str:
    return format_decimal(value, pattern, locale=lang)


def percent(rate: float, lang: str) -> str:
    return format_percent(rate, "#,##0.00%", locale=lang)


def money(minor: int, currency: str, lang: str) -> str:
    return format_currency(to_major_units(minor, currency), currency, locale=lang)
