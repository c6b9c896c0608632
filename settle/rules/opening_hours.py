"""When the business's team answers: settle.yml `business.hours`, in business.timezone.

A hand-off outside these hours is not put through to a closed office; the customer is told
when someone will call back. No hours configured: always open.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from settle.core.settings_file import ConfigError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


@dataclass(frozen=True)
class OpeningHours:
    """[open, close) per weekday (0 is Monday); a weekday missing is closed all day."""

    days: Mapping[int, tuple[dt.time, dt.time]]

    def is_open(self, local: dt.datetime) -> bool:
        span = self.days.get(local.weekday())
        return span is not None and span[0] <= local.time().replace(tzinfo=None) < span[1]

    def next_opening(self, now: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
        """The next time the team opens after `now` (aware), in `zone`; None while open.

        Wall-clock times: on a day clocks change, "09:00" is still nine on the office clock.
        """
        local = now.astimezone(zone)
        if self.is_open(local):
            return None
        for offset in range(8):
            day = local.date() + dt.timedelta(days=offset)
            span = self.days.get(day.weekday())
            if span is None:
                continue
            opening = dt.datetime.combine(day, span[0], tzinfo=zone)
            if opening > local:
                return opening
        raise ValueError("the opening hours open on no day of the week")


def parse_hours(raw: Any, where: str = "business.hours") -> OpeningHours | None:
    """{"mon-fri": "09:00-17:00", "sat": "10:00-14:00"} -> OpeningHours; empty -> None."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f'{where} must be a mapping like {{mon-fri: "09:00-17:00"}}, got {raw!r}')
    days: dict[int, tuple[dt.time, dt.time]] = {}
    for key, value in raw.items():
        for day in _days(str(key), where):
            if day in days:
                raise ConfigError(f"{where}: {WEEKDAYS[day]} is given twice")
            days[day] = _span(value, f"{where}.{key}")
    return OpeningHours(days)


def _days(key: str, where: str) -> list[int]:
    """'mon-fri' -> [0..4]; 'sat' -> [5]."""
    first, _, last = key.strip().lower().partition("-")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        raise ConfigError(
            f"{where}: {key!r} is not a day or a range of days like mon-fri "
            f"(days: {', '.join(WEEKDAYS)})"
        )
    start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
    if end < start:
        raise ConfigError(f"{where}: {key!r} runs backwards (write {last}-{first})")
    return list(range(start, end + 1))


def _span(value: Any, where: str) -> tuple[dt.time, dt.time]:
    match = _SPAN.match(value) if isinstance(value, str) else None
    try:
        start, end = (
            (dt.time.fromisoformat(t.zfill(5)) for t in match.groups()) if match else (None, None)
        )
    except ValueError:
        start = end = None
    if start is None or end is None:
        raise ConfigError(f'{where} must be opening hours like "09:00-17:00", got {value!r}')
    if start >= end:
        raise ConfigError(f"{where}: opening {start:%H:%M} must be before closing {end:%H:%M}")
    return start, end
