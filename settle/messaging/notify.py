"""Texting one customer about their account: the wording in their language, money and dates
read the way their locale reads them, queued through the outbox once per idempotency key
(settle.messaging.outbox, which refuses opted-out numbers). Every business text that is one
message about one thing goes through notify_customer; reminders that gather several invoices
into one text (and e-mail) are worded by settle.reminders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from babel.dates import format_date, format_datetime
from sqlalchemy.orm import Session

from settle.config import Settings
from settle.core import i18n
from settle.core.clock import zone_of
from settle.core.money import format_money
from settle.messaging.outbox import queue_sms
from settle.store.models import Customer, Message


def customer_locale(settings: Settings, customer: Customer) -> str:
    """The Babel locale the customer reads: their language in the business's region."""
    return i18n.locale_for(customer.language, settings.business.default_region)


def notify_customer(
    session: Session,
    settings: Settings,
    customer: Customer,
    text_key: str,
    *,
    idempotency_key: str,
    actor: str,
    proactive: bool = False,
    money: Mapping[str, tuple[int, str]] | None = None,
    dates: Mapping[str, dt.date] | None = None,
    times: Mapping[str, dt.datetime] | None = None,
    **values: Any,
) -> Message:
    """Queue the text `text_key` to the customer's phone, once per idempotency_key.

    money: name -> (minor units, currency), formatted in the customer's locale; dates:
    name -> date ("medium", e.g. "Jun 5, 2026"); times: name -> aware datetime ("short", in
    the customer's zone); values: anything else the wording needs, as is. The business's
    name is always there as {business}. proactive: Settle speaks first, so it goes out in
    the customer's contact hours only.
    """
    locale = customer_locale(settings, customer)
    formatted: dict[str, Any] = {"business": settings.business.name, **values}
    for name, (minor, currency) in (money or {}).items():
        formatted[name] = format_money(minor, currency, locale)
    for name, day in (dates or {}).items():
        formatted[name] = format_date(day, "medium", locale=locale)
    for name, moment in (times or {}).items():
        formatted[name] = format_datetime(
            moment, "short", tzinfo=zone_of(customer.timezone), locale=locale
        )
    return queue_sms(
        session,
        customer.phone,
        i18n.text(text_key, customer.language, **formatted),
        key=idempotency_key,
        actor=actor,
        customer_id=customer.id,
        proactive=proactive,
    )
