"""The days a report covers and the date arithmetic of receivables: no I/O, no clock.

A period is whole days in the business's time zone (`business.timezone`), both ends
included, so "March" means the business's March whatever the server's zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from settle.core.clock import zone_of

DEFAULT_DAYS = 30

# Days past due at the end of the period: not yet late (or due that day), then by month.
AGING_BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")


@dataclass(frozen=True)
class Period:
    since: dt.date
    until: dt.date  # included
    timezone: str

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise ValueError(f"the period ends ({self.until}) before it begins ({self.since})")

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    @property
    def start(self) -> dt.datetime:
        """The first instant of `since` in the business's zone, in UTC."""
        return _midnight(self.since, self.timezone)

    @property
    def end(self) -> dt.datetime:
        """The first instant after `until` in the business's zone, in UTC (excluded)."""
        return _midnight(self.until + dt.timedelta(days=1), self.timezone)

    def contains(self, at: dt.datetime) -> bool:
        return self.start <= at < self.end


def _midnight(day: dt.date, timezone: str) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(), tzinfo=zone_of(timezone))
    return local.astimezone(dt.timezone.utc)


def parse_date(text: str) -> dt.date:
    """An ISO date (YYYY-MM-DD); ValueError naming what was given otherwise."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def period_between(
    since: dt.date | None, until: dt.date | None, today: dt.date, timezone: str
) -> Period:
    """The period asked for: until today and DEFAULT_DAYS long unless the ends are given."""
    until = until or today
    since = since or until - dt.timedelta(days=DEFAULT_DAYS - 1)
    return Period(since, until, timezone)


def aging_bucket(due_on: dt.date, as_of: dt.date) -> str:
    """Which AGING_BUCKETS an amount due on due_on falls in on as_of."""
    late = (as_of - due_on).days
    if late <= 0:
        return "current"
    if late <= 30:
        return "1_30"
    if late <= 60:
        return "31_60"
    if late <= 90:
        return "61_90"
    return "over_90"


def dso_days(receivable_minor: int, invoiced_minor: int, days: int) -> float | None:
    """Days sales outstanding: what is owed at the end over what was invoiced in the
    period, times its days, to one decimal (half up); None when nothing was invoiced."""
    if invoiced_minor <= 0:
        return None
    ratio = Decimal(receivable_minor) * days / Decimal(invoiced_minor)
    return float(ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
