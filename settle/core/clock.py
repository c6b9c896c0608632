"""One clock for customers. Times are stored in UTC; a customer's local time, and their
"today" (when an installment falls due, which day "Friday" is), come from their IANA time
zone. A missing or unknown zone falls back to the business's (`business.timezone` in
settle.yml, New York by default), never to UTC: a bad import must not text a customer in
the middle of their night."""

from __future__ import annotations

import datetime as dt
import zoneinfo

DEFAULT_TIMEZONE = "America/New_York"
_business_timezone = DEFAULT_TIMEZONE


def use_business_timezone(name: str) -> None:
    """Set once, by the composition root, from settle.yml's business.timezone."""
    global _business_timezone
    _business_timezone = name


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def zone_of(name: str | None, fallback: str | None = None) -> zoneinfo.ZoneInfo:
    """The customer's zone; the business's when theirs is missing or unknown."""
    for candidate in (name, fallback or _business_timezone):
        if candidate:
            try:
                return zoneinfo.ZoneInfo(candidate)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo(DEFAULT_TIMEZONE)


def local_time(now: dt.datetime, timezone: str | None, fallback: str | None = None) -> dt.datetime:
    """`now` (aware, any zone) as the customer's wall-clock time."""
    return now.astimezone(zone_of(timezone, fallback))


def customer_today(
    timezone: str | None, now: dt.datetime | None = None, fallback: str | None = None
) -> dt.date:
    """The customer's date at `now` (the present by default)."""
    return local_time(now or utcnow(), timezone, fallback).date()
