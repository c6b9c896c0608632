"""Reading a reminder request: "text me on Friday", "call me tomorrow", "recuérdame el 15".

`parse_reminder_request` turns the words into a date and a channel (dateparser understands
the dates in each language, offline; this module adds what it leaves open: a weekday or "the
15th" always means the next one to come, "next week" is ambiguous). Nothing is written: the
conversation confirms the date, then `settle.reminders.requests` keeps it.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from babel.dates import get_month_names
from dateparser.search import search_dates
from text_to_num import alpha2digit

LANGUAGES = ("en", "es", "fr", "de", "pt", "it")


@dataclass(frozen=True)
class ReminderWhen:
    """A parsed request: the date (None when none was understood), the channel asked for
    (None: the default, a text) and whether to ask again before scheduling."""

    on: dt.date | None
    channel: str | None
    ambiguous: bool


# What the date parser leaves open, per language.
_NEXT_WEEK = {
    "en": r"next week",
    "es": r"(la )?pr[oó]xima semana|la semana que viene",
    "fr": r"la semaine prochaine|semaine prochaine",
    "de": r"n[aä]chste[n]? woche",
    "pt": r"(na )?pr[oó]xima semana|semana que vem",
    "it": r"(la )?prossima settimana|settimana prossima",
}

_DAY_AFTER_TOMORROW = {
    "en": r"day after tomorrow",
    "es": r"pasado ma[nñ]ana",
    "fr": r"apr[eè]s[- ]demain",
    "de": r"[uü]bermorgen",
    "pt": r"depois de amanh[aã]",
    "it": r"dopodomani",
}


# "the 15th", "el 15", "le 15", "am 15.", "no dia 15", "il 15" (no month after it).
_DAY_OF_MONTH = {
    "en": r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)?\b",
    "es": r"\b(?:el\s+(?:d[ií]a\s+)?|d[ií]a\s+)(\d{1,2})\b",
    "fr": r"\ble\s+(\d{1,2})(?:er|e)?\b",
    "de": r"\b(?:am|zum|den)\s+(\d{1,2})\.?",
    "pt": r"\b(?:n?o\s+)?dia\s+(\d{1,2})\b",
    "it": r"\b(?:il|l')\s*(\d{1,2})\b",
}

_CALL = {
    "en": r"\bcall\b|\bphone\b|\bring\b",
    "es": r"ll[aá]m[ae]|llamada|tel[eé]fono",
    "fr": r"\bappel(?:le|ez)?[- ]moi|\bappel\b|t[eé]l[eé]phone",
    "de": r"\bruf\b|anruf|anrufen|telefon",
    "pt": r"\bligu?e|\bliga\b|liga[cç][aã]o|telefone",
    "it": r"chiam|telefon",
}

_TEXT = {
    "en": r"\btext\b|\bsms\b|message",
    "es": r"mensaje|\bsms\b|texto|escr[ií]b",
    "fr": r"\bsms\b|texto|message|[eé]cri",
    "de": r"\bsms\b|nachricht|schreib",
    "pt": r"mensagem|\bsms\b|texto|escrev|manda",
    "it": r"messaggio|\bsms\b|scriv",
}


@functools.cache
def _month_words(language: str) -> re.Pattern:
    names: set[str] = set()
    for width in ("wide", "abbreviated"):
        for context in ("format", "stand-alone"):
            names.update(
                n.lower().rstrip(".")
                for n in get_month_names(width, context, locale=language).values()
            )
    return re.compile(
        r"^\s*(?:de\s+|of\s+)?(?:"
        + "|".join(sorted(map(re.escape, names), key=len, reverse=True))
        + r")\b"
    )


def _channel(text: str, language: str) -> str | None:
    if re.search(_CALL.get(language, _CALL["en"]), text) or re.search(_CALL["en"], text):
        return "call"
    if re.search(_TEXT.get(language, _TEXT["en"]), text) or re.search(_TEXT["en"], text):
        return "sms"
    return None


def _next_day_of_month(day: int, today: dt.date) -> dt.date | None:
    """The next date after today falling on day (skipping months that lack it)."""
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            candidate = None
        if candidate and candidate > today:
            return candidate
        month, year = (1, year + 1) if month == 12 else (month + 1, year)
    return None


MAX_REQUEST_CHARS = 200

_WEEKDAY_ONLY = re.compile(
    r"^\W*(?:on\s+|el\s+|le\s+|am\s+|na\s+|no\s+|il\s+|de\s+)?"
    r"[^\W\d_]+\W*$"
)


def parse_reminder_request(text: str, language: str, today: dt.date, tz: str) -> ReminderWhen:
    """When and how the customer wants to be reminded, from their words in language.

    A weekday or a day of the month is always the next one to come ("Friday" said on a
    Friday is next week's); "next week" is ambiguous (on = its Monday, to be confirmed);
    nothing understood gives on=None, ambiguous=True — ask for a date.
    """
    language = language if language in LANGUAGES else "en"
    # "Remind me Friday" is short: the date parser's cost grows fast with length, so only
    # the start of a long message is read.
    lowered = (text or "")[:MAX_REQUEST_CHARS].lower().strip()
    channel = _channel(lowered, language)
    try:
        words = alpha2digit(lowered, language)  # "three days" -> "3 days", "el quince" -> "el 15"
    except Exception:
        words = lowered

    if re.search(_DAY_AFTER_TOMORROW[language], words):
        return ReminderWhen(today + dt.timedelta(days=2), channel, False)
    if re.search(_NEXT_WEEK[language], words):
        return ReminderWhen(today + dt.timedelta(days=7 - today.weekday()), channel, True)
    for match in re.finditer(_DAY_OF_MONTH[language], words):
        if not _month_words(language).match(words[match.end() :]):
            day = int(match.group(1))
            on = _next_day_of_month(day, today) if 1 <= day <= 31 else None
            return ReminderWhen(on, channel, on is None)

    base = dt.datetime.combine(today, dt.time(12, 0))
    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    # The original words too: number conversion turns weekdays like "sexta" into "6ª".
    found = search_dates(words, languages=[language], settings=settings) or search_dates(
        lowered, languages=[language], settings=settings
    )
    if not found:
        return ReminderWhen(None, channel, True)
    said, when = found[0]
    on = when.date()
    if _WEEKDAY_ONLY.match(said) and on <= today:  # a weekday: the next one, never today
        on += dt.timedelta(days=7 * ((today - on).days // 7 + 1))
    if on < today:
        return ReminderWhen(None, channel, True)
    return ReminderWhen(on, channel, len(found) > 1 and len({d.date() for _, d in found}) > 1)
