"""Text written for reading, turned into text for speaking on a phone call, in the caller's
language: amounts and dates as words (num2words, by each language's rules; currency names
and month names from Babel), invoice numbers and phone endings digit by digit, list
markers as the language says them."""

from __future__ import annotations

import datetime as dt
import functools
import re

from babel.dates import get_month_names
from babel.numbers import (
    get_currency_name,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    get_territory_currencies,
)
from num2words import num2words

from settle.core import i18n

_INVOICE_ID = re.compile(r"\b([A-Z]{2,4})-(\d{3,10})\b")
_LIST_NUMBER = re.compile(r"^(\d)\. ", re.MULTILINE)
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})
# Currencies an amount in a text may be in; a locale's own symbols decide which is which.
_CURRENCIES = ("USD", "CAD", "EUR", "GBP", "MXN", "BRL", "AUD", "CHF")
# num2words' language codes, where they are not Settle's.
_NUM2WORDS = {"pt": "pt_BR"}
# How a day of the month is said: "March fifteenth", "am fünfzehnten März", "quinze mars"
# (but "premier mars").
_ORDINAL_DAYS = {"en", "de"}


def _words(number: int, language: str) -> str:
    # "one thousand, two hundred": a comma is a pause that splits one number in two.
    return num2words(number, lang=_NUM2WORDS.get(language, language)).replace(",", "")


def _counted(number: int, language: str) -> str:
    """A number before a noun: 'un euro', 'veintiún dólares', 'ein Euro'."""
    said = _words(number, language)
    if language in ("es", "it") and said.endswith("uno"):
        said = said[:-3] + ("ún" if language == "es" and said != "uno" else "un")
    if language == "de" and said.endswith("eins"):
        said = said[:-1]
    return said


def _plural_word(key: str, count: int, language: str) -> str:
    return i18n.plural(key, count, language)


def _currency_name(code: str, count: int, language: str, region: str) -> str:
    home = get_territory_currencies(region)[:1]
    key = f"money_home_{code.lower()}"
    if [code] == home and f"{key}_other" in i18n.MESSAGES[language]:
        return _plural_word(key, count, language)
    name = get_currency_name(code, count, i18n.locale_for(language, region))
    first, _, rest = name.partition(" ")
    # Babel capitalises some names ("Dólares americanos", "Kanadische Dollar"); English
    # adjectives of nationality and German nouns keep their capital mid-sentence.
    if first.isalpha() and language != "en" and (language != "de" or rest):
        name = first[:1].lower() + first[1:] + (" " + rest if rest else "")
    return name


def spoken_money(minor: int, currency: str, language: str, region: str = "US") -> str:
    """26000, 'CAD', 'fr' -> 'deux cent soixante dollars canadiens'."""
    scale = 10 ** get_currency_precision(currency)
    major, cents = divmod(minor, scale)
    parts = []
    if major or not cents:
        name = _currency_name(currency, major, language, region)
        parts.append(f"{_counted(major, language)} {name}")
    if cents:
        parts.append(f"{_counted(cents, language)} {_plural_word('money_cent', cents, language)}")
    return f" {i18n.text('word_and', language)} ".join(parts)


def spoken_date(day: dt.date, language: str, current_year: int | None = None) -> str:
    """2026-03-15 in French -> 'quinze mars'; the year only when it is not this year."""
    lang = _NUM2WORDS.get(language, language)
    if language in _ORDINAL_DAYS:
        said = num2words(day.day, lang=lang, to="ordinal")
        said = said + "n" if language == "de" else said
    else:
        said = (
            num2words(day.day, lang=lang, to="ordinal")
            if day.day == 1
            else _words(day.day, language)
        )
    month = get_month_names("wide", "format", i18n.locale_for(language))[day.month]
    if day.year == current_year:
        return i18n.text("spoken_date", language, day=said, month=month)
    year = num2words(day.year, lang=lang, to="year").replace(",", "")
    return i18n.text("spoken_date_year", language, day=said, month=month, year=year)


@functools.cache
def _money_pattern(language: str, region: str) -> tuple[re.Pattern, dict[str, str]]:
    locale = i18n.locale_for(language, region)
    symbols: dict[str, str] = {}
    for code in _CURRENCIES:
        symbols.setdefault(get_currency_symbol(code, locale).translate(_SPACES), code)
        symbols.setdefault(code, code)
    symbol = "|".join(re.escape(s) for s in sorted(symbols, key=len, reverse=True))
    group = re.escape(get_group_symbol(locale).translate(_SPACES))
    decimal = re.escape(get_decimal_symbol(locale))
    number = rf"(?P<n>\d{{1,3}}(?:{group}\d{{3}})+(?:{decimal}\d{{2}})?|\d+(?:{decimal}\d{{2}})?)"
    pattern = rf"(?:(?P<a>{symbol}) ?{number}|{number.replace('?P<n>', '?P<m>')} ?(?P<b>{symbol}))"
    return re.compile(pattern), symbols


@functools.cache
def _date_patterns(language: str) -> list[re.Pattern]:
    months = _month_numbers(language)
    names = "|".join(re.escape(m) for m in sorted(months, key=len, reverse=True))
    month = rf"(?P<month>{names})\b\.?"
    if language == "en":
        return [re.compile(rf"{month} (?P<day>\d{{1,2}}),? (?P<year>\d{{4}})", re.IGNORECASE)]
    of = r"(?:de )?"
    return [
        re.compile(rf"\b(?P<day>\d{{1,2}})\.? {of}{month}(?: {of}(?P<year>\d{{4}}))?", re.I),
        re.compile(r"\b(?P<day>\d{1,2})\.(?P<number>\d{1,2})\.(?P<year>\d{4})\b"),
    ]


@functools.cache
def _month_numbers(language: str) -> dict[str, int]:
    locale = i18n.locale_for(language)
    return {
        name.rstrip(".").lower(): number
        for width in ("abbreviated", "wide")
        for context in ("format", "stand-alone")
        for number, name in get_month_names(width, context, locale).items()
    }


def speakable(
    text: str, language: str = "en", current_year: int | None = None, region: str = "US"
) -> str:
    """'$285.00, due March 3, 2026 (INV-1001)' -> 'two hundred and eighty-five dollars,
    due March third (I N V, 1 0 0 1)'; '260,00 $' in French -> 'deux cent soixante dollars
    canadiens'. The year is said only when it is not this year."""
    if language not in i18n.MESSAGES:
        language = "en"
    text = text.translate(_SPACES)
    text = _INVOICE_ID.sub(lambda m: " ".join(m.group(1)) + ", " + " ".join(m.group(2)), text)
    pattern, symbols = _money_pattern(language, region)
    locale = i18n.locale_for(language, region)
    group, decimal = get_group_symbol(locale).translate(_SPACES), get_decimal_symbol(locale)

    def money(match: re.Match) -> str:
        code = symbols[match.group("a") or match.group("b")]
        written = (match.group("n") or match.group("m")).replace(group, "").replace(decimal, ".")
        whole, _, cents = written.partition(".")
        minor = int(whole) * 10 ** get_currency_precision(code) + int(cents or 0)
        return spoken_money(minor, code, language, region)

    text = pattern.sub(money, text)
    months = _month_numbers(language)

    def date(match: re.Match) -> str:
        groups = match.groupdict()
        number = int(groups["number"]) if groups.get("number") else months[groups["month"].lower()]
        year = int(groups["year"]) if groups.get("year") else current_year or dt.date.today().year
        try:
            day = dt.date(year, number, int(groups["day"]))
        except ValueError:
            return match.group(0)
        return spoken_date(day, language, current_year)

    for date_pattern in _date_patterns(language):
        text = date_pattern.sub(date, text)
    text = _phone_ending(language).sub(lambda m: m.group(1) + " ".join(m.group(2)), text)
    text = _LIST_NUMBER.sub(
        lambda m: i18n.text("spoken_list_item", language, number=m.group(1)) + " ", text
    )
    return text.replace("\n", " ")


@functools.cache
def _phone_ending(language: str) -> re.Pattern:
    """'ending in 0102', 'terminado en 0102': the words before {phone_last4} in the
    language's own sentence that offers a text to that phone."""
    template = i18n.MESSAGES[language]["web_link_ready"].partition("{phone_last4}")[0]
    words = " ".join(template.split()[-2:])
    return re.compile(rf"({re.escape(words)} )(\d{{4}})\b")
