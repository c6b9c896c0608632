"""Reminders customers ask for: "text me on Friday", "call me tomorrow", "recuérdame el 15".

`parse_reminder_request` turns the words into a date and a channel (dateparser understands
the dates in each language, offline; this module adds what it leaves open: a weekday or "the
15th" always means the next one to come, "next week" is ambiguous). The conversation confirms
the date, then `schedule_requested_reminder` keeps it, once per request, and the scheduler
sends it at `send_time` in the customer's day, inside their contact hours — unless the
invoice was paid by then.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from babel.dates import get_month_names
from dateparser.search import search_dates
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from text_to_num import alpha2digit

from settle.billing.checkout import ensure_links
from settle.core import audit
from settle.reminders.cadence import ReminderCadence, load_cadence
from settle.reminders.contact_rules import local_time, region_for, zone
from settle.reminders.records import RequestedReminder
from settle.store.db import Store
from settle.store.models import Customer, Invoice

log = logging.getLogger(__name__)

LANGUAGES = ("en", "es", "fr", "de", "pt", "it")


@dataclass(frozen=True)
class ReminderWhen:
    """A parsed request: the date (None when none was understood), the channel asked for
    (None: the default, a text) and whether to ask again before scheduling."""

    on: dt.date | None
    channel: str | None
    ambiguous: bool


@dataclass(frozen=True)
class RequestedReminderInfo:
    id: int
    on: dt.date
    channel: str
    send_at: dt.datetime  # UTC


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


def _settings_cadence() -> ReminderCadence:
    return load_cadence()


def requested_send_at(cadence: ReminderCadence, customer: Customer, on: dt.date) -> dt.datetime:
    """send_time on that day in the customer's zone, moved into their contact window."""
    tzinfo = zone(customer.timezone)
    window = cadence.window_for(region_for(customer.phone, customer.postal_code))
    local = dt.datetime.combine(on, cadence.send_time, tzinfo=tzinfo)
    if local.time() >= window.end:
        local = dt.datetime.combine(on, window.start, tzinfo=tzinfo)
    return window.next_opening(local).astimezone(dt.timezone.utc)


def schedule_requested_reminder(
    session: Session,
    customer_id: str,
    invoice_id: str | None,
    on: dt.date,
    channel: str,
    request_key: str,
    actor: str,
    cadence: ReminderCadence | None = None,
) -> RequestedReminderInfo:
    """Keep the reminder the customer asked for; once per request_key (a repeat returns the
    first). invoice_id None means all their open invoices at the time."""
    existing = session.scalar(
        select(RequestedReminder).where(RequestedReminder.request_key == request_key)
    )
    if existing is not None:
        return RequestedReminderInfo(
            existing.id, existing.on_date, existing.channel, existing.send_at
        )
    if channel not in ("sms", "call", "email"):
        raise ValueError(f"channel must be sms, call or email, not {channel!r}")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise ValueError(f"no customer {customer_id!r}")
    if invoice_id is not None:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None or invoice.customer_id != customer_id:
            raise ValueError(f"invoice {invoice_id} is not an invoice of customer {customer_id}")
    send_at = requested_send_at(cadence or _settings_cadence(), customer, on)
    row = RequestedReminder(
        request_key=request_key,
        customer_id=customer_id,
        invoice_id=invoice_id,
        on_date=on,
        channel=channel,
        send_at=send_at,
        status="scheduled",
        actor=actor,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same request scheduled concurrently
        row = session.scalar(
            select(RequestedReminder).where(RequestedReminder.request_key == request_key)
        )
        return RequestedReminderInfo(row.id, row.on_date, row.channel, row.send_at)
    audit.record(
        session,
        actor,
        "reminder.requested",
        f"customer:{customer_id}",
        invoice_id=invoice_id,
        on=on.isoformat(),
        channel=channel,
        send_at=send_at.isoformat(),
        request_key=request_key,
    )
    return RequestedReminderInfo(row.id, on, channel, send_at)


def requested_decisions(session: Session, cadence: ReminderCadence, now: dt.datetime) -> list:
    """Preview lines for asked-for reminders due by now (nothing is written)."""
    from settle.reminders.engine import Decision

    rows = session.execute(
        select(RequestedReminder, Customer)
        .join(Customer, Customer.id == RequestedReminder.customer_id)
        .where(RequestedReminder.status == "scheduled", RequestedReminder.send_at <= now)
    ).all()
    decisions = []
    for request, customer in rows:
        window = cadence.window_for(region_for(customer.phone, customer.postal_code))
        local_now = local_time(now, customer.timezone)
        allowed = window.allows(local_now)
        decisions.append(
            Decision(
                request.invoice_id or "(all open)",
                customer.id,
                f"requested:{request.id}",
                (request.channel,),
                "send" if allowed else "hold",
                "asked for" if allowed else f"quiet hours ({local_now:%a %H:%M} local)",
                request.send_at,
            )
        )
    return decisions


def send_requested_reminders(
    store: Store, app, now: dt.datetime, worker: str, message_ids: list[int]
) -> int:
    """Send asked-for reminders due by now, each once; cancelled when nothing is left to pay."""
    from settle.adapters.calls import CallRefused, place_call
    from settle.adapters.email import queue_email
    from settle.config import ConfigError
    from settle.messaging.outbox import queue_sms
    from settle.reminders.engine import _still_remindable, reminder_texts

    cadence: ReminderCadence = app.cadence
    with store.unit_of_work() as session:
        due = session.scalars(
            select(RequestedReminder.id)
            .where(RequestedReminder.status == "scheduled", RequestedReminder.send_at <= now)
            .order_by(RequestedReminder.send_at)
        ).all()
    sent = 0
    for request_id in due:
        call_about: Sequence[str] | None = None
        with store.unit_of_work() as session:  # the links first, with no transaction open
            request = session.get(RequestedReminder, request_id)
            wanted = (
                [request.invoice_id]
                if request.invoice_id
                else list(
                    session.scalars(
                        select(Invoice.id).where(
                            Invoice.customer_id == request.customer_id, Invoice.status == "open"
                        )
                    )
                )
            )
        ensure_links(store, app.gateway, app.settings, wanted, worker, now=now)
        with store.unit_of_work() as session:
            request = session.get(RequestedReminder, request_id)
            customer = session.get(Customer, request.customer_id)
            window = cadence.window_for(region_for(customer.phone, customer.postal_code))
            if not window.allows(local_time(now, customer.timezone)):
                continue
            # Of several workers, one moves it from scheduled; the others see rowcount 0.
            if not session.execute(
                update(RequestedReminder)
                .where(RequestedReminder.id == request_id, RequestedReminder.status == "scheduled")
                .values(status="sent", finished_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount:
                continue
            session.refresh(request)
            if request.invoice_id:
                invoice = session.get(Invoice, request.invoice_id)
                why_not = _still_remindable(session, invoice)
                invoices = [] if why_not else [invoice]
            else:
                invoices = [
                    i
                    for i in session.scalars(
                        select(Invoice)
                        .where(Invoice.customer_id == customer.id, Invoice.status == "open")
                        .order_by(Invoice.due_on)
                    )
                    if not _still_remindable(session, i)
                ]
                why_not = None if invoices else "nothing left to pay"
            if not why_not and request.channel == "email" and not customer.email:
                why_not = "no e-mail address on file"
            if why_not:
                request.status, request.reason = "cancelled", why_not
                audit.record(
                    session,
                    worker,
                    "reminder.request_cancelled",
                    f"customer:{customer.id}",
                    request_id=request.id,
                    reason=why_not,
                )
                continue
            key = f"reminder:request:{request.id}"
            texts = reminder_texts(session, app, customer, invoices, "reminder_requested", now)
            if request.channel == "sms":
                message = queue_sms(
                    session,
                    customer.phone,
                    texts["sms"],
                    key=key,
                    actor=worker,
                    customer_id=customer.id,
                )
                if message.status == "queued":
                    message_ids.append(message.id)
            elif request.channel == "email" and customer.email:
                queue_email(
                    session,
                    customer.email,
                    texts["subject"],
                    texts["email"],
                    key=f"{key}:email",
                    actor=worker,
                    customer_id=customer.id,
                )
            elif request.channel == "call":
                call_about = [invoice.id for invoice in invoices]
            audit.record(
                session,
                worker,
                "reminder.request_sent",
                f"customer:{customer.id}",
                request_id=request.id,
                channel=request.channel,
            )
        sent += 1
        if call_about and app.settings.uses_twilio:
            try:
                place_call(
                    store,
                    app.settings,
                    request.customer_id,
                    "reminder",
                    call_about[0],
                    actor=worker,
                    now=now,
                    invoice_ids=call_about,
                )
            except (CallRefused, ConfigError) as error:
                with store.unit_of_work() as session:
                    row = session.get(RequestedReminder, request_id)
                    row.status, row.reason = "failed", str(error)
    return sent
