"""The reminder cadence: which steps go out when, on which channels, within which hours.

Read from the `reminders:` section of the settings file (settle.yml) and checked at load:
a wrong key or value is a ConfigError that names it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settle.core.settings_file import ConfigError, read_settings_file

CHANNELS = ("sms", "call", "email")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ContactWindow:
    """When a customer may be contacted, in their own time zone: [start, end) on `days`."""

    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(21, 0)
    days: tuple[str, ...] = WEEKDAYS

    def allows(self, local: dt.datetime) -> bool:
        return (
            WEEKDAYS[local.weekday()] in self.days
            and self.start <= local.time().replace(tzinfo=None) < self.end
        )

    def next_opening(self, local: dt.datetime) -> dt.datetime:
        """The first moment at or after local (aware, the customer's zone) inside the window."""
        if self.allows(local):
            return local
        day = local.date()
        for offset in range(8):
            candidate_day = day + dt.timedelta(days=offset)
            if WEEKDAYS[candidate_day.weekday()] not in self.days:
                continue
            opening = dt.datetime.combine(candidate_day, self.start, tzinfo=local.tzinfo)
            if opening >= local:
                return opening
        raise ValueError("the contact window allows no day of the week")


@dataclass(frozen=True)
class ReminderStep:
    """One step of the sequence: `offset_days` from the due date (negative: before it)."""

    offset_days: int
    channels: tuple[str, ...]

    @property
    def name(self) -> str:
        """'-3', '0', '+7': the step's name in claims, idempotency keys and settle.yml."""
        return f"{self.offset_days:+d}" if self.offset_days else "0"


DEFAULT_STEPS = (
    ReminderStep(-3, ("sms",)),
    ReminderStep(0, ("sms",)),
    ReminderStep(3, ("call",)),
    ReminderStep(7, ("sms", "email")),
    ReminderStep(14, ("call",)),
)


@dataclass(frozen=True)
class ReminderCadence:
    """The business's reminder rules (settle.yml `reminders:`)."""

    enabled: bool = True
    steps: tuple[ReminderStep, ...] = DEFAULT_STEPS
    # The customer's local time at which a step becomes due (moved into the window if needed).
    send_time: dt.time = dt.time(10, 0)
    # A step missed (the service was down, quiet hours, a cap) is still sent this many days
    # after its date, unless a later step is due by then.
    still_useful_days: int = 2
    quiet_hours: ContactWindow = ContactWindow()
    # Stricter windows by region: "CA-QC" (province or state from the phone number), "CA".
    regions: Mapping[str, ContactWindow] = field(default_factory=dict)
    call_attempts_max: int = 7
    call_attempts_days: int = 7
    no_calls_after_conversation_days: int = 7
    # How long a worker's claim on a step is exclusive; after it another worker may take it.
    claim_lease_seconds: int = 300

    def step(self, name: str) -> ReminderStep | None:
        return next((s for s in self.steps if s.name == name), None)

    def window_for(self, region: str) -> ContactWindow:
        """The most specific window for region: 'CA-QC', then 'CA', then the default."""
        for key in (region, region.split("-")[0]):
            if key in self.regions:
                return self.regions[key]
        return self.quiet_hours


def _time(value, key: str) -> dt.time:
    if isinstance(value, int) and not isinstance(
        value, bool
    ):  # YAML reads 08:00 as 480 (sexagesimal)
        return dt.time(value // 60, value % 60) if 0 <= value < 24 * 60 else _bad(key, value)
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        return _bad(key, value)


def _bad(key: str, value, expected: str = 'a time of day like "08:00"'):
    raise ConfigError(f"reminders.{key} must be {expected}, got {value!r}")


def _window(raw, key: str, default: ContactWindow) -> ContactWindow:
    if not isinstance(raw, dict):
        _bad(key, raw, "a mapping with start, end and days")
    unknown = set(raw) - {"start", "end", "days"}
    if unknown:
        raise ConfigError(f"reminders.{key}: unknown setting(s): {', '.join(sorted(unknown))}")
    start = _time(raw.get("start", default.start.isoformat("minutes")), f"{key}.start")
    end = _time(raw.get("end", default.end.isoformat("minutes")), f"{key}.end")
    if start >= end:
        raise ConfigError(f"reminders.{key}: start {start:%H:%M} must be before end {end:%H:%M}")
    days = raw.get("days", list(default.days))
    if not isinstance(days, list) or not days or any(str(d).lower() not in WEEKDAYS for d in days):
        _bad(f"{key}.days", days, f"a list of days from {', '.join(WEEKDAYS)}")
    return ContactWindow(start, end, tuple(str(d).lower() for d in days))


def _positive_int(raw: Mapping, key: str, default: int, minimum: int = 0) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        _bad(key, value, f"a whole number of at least {minimum}")
    return value


def _steps(raw) -> tuple[ReminderStep, ...]:
    if not isinstance(raw, dict) or not raw:
        _bad("steps", raw, "a mapping of days from the due date to channels, e.g. {-3: sms}")
    steps = []
    for offset, channels in raw.items():
        try:
            days = int(str(offset).strip())
        except ValueError:
            raise ConfigError(
                f"reminders.steps: {offset!r} is not a number of days from the "
                "due date (like -3, 0 or +7)"
            ) from None
        names = [channels] if isinstance(channels, str) else channels
        if not isinstance(names, list) or not names or any(name not in CHANNELS for name in names):
            raise ConfigError(
                f"reminders.steps.{offset}: {channels!r} is not a channel or list of "
                f"channels from {', '.join(CHANNELS)}"
            )
        steps.append(ReminderStep(days, tuple(dict.fromkeys(names))))
    steps.sort(key=lambda s: s.offset_days)
    if len({s.offset_days for s in steps}) != len(steps):
        raise ConfigError("reminders.steps: two steps on the same day")
    return tuple(steps)


KNOWN_KEYS = {
    "enabled",
    "steps",
    "send_time",
    "still_useful_days",
    "quiet_hours",
    "regions",
    "call_attempts_max",
    "call_attempts_days",
    "no_calls_after_conversation_days",
    "claim_lease_seconds",
}


def cadence_from_dict(raw: Mapping) -> ReminderCadence:
    """A ReminderCadence from the `reminders:` mapping; ConfigError names a bad key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"reminders must be a mapping, got {raw!r}")
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"unknown reminders setting(s): {', '.join(sorted(map(str, unknown)))}")
    defaults = ReminderCadence()
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        _bad("enabled", enabled, "true or false")
    quiet = _window(raw.get("quiet_hours", {}), "quiet_hours", defaults.quiet_hours)
    regions_raw = raw.get("regions") or {}
    if not isinstance(regions_raw, dict):
        _bad("regions", regions_raw, 'a mapping like {"CA-QC": {start: "08:00", end: "20:00"}}')
    regions: dict[str, ContactWindow] = {
        str(name).upper(): _window(window, f"regions.{name}", quiet)
        for name, window in regions_raw.items()
    }
    send_time = _time(raw.get("send_time", "10:00"), "send_time")
    return ReminderCadence(
        enabled=enabled,
        steps=_steps(raw["steps"]) if "steps" in raw else defaults.steps,
        send_time=send_time,
        still_useful_days=_positive_int(raw, "still_useful_days", defaults.still_useful_days),
        quiet_hours=quiet,
        regions=regions,
        call_attempts_max=_positive_int(raw, "call_attempts_max", defaults.call_attempts_max),
        call_attempts_days=_positive_int(raw, "call_attempts_days", defaults.call_attempts_days, 1),
        no_calls_after_conversation_days=_positive_int(
            raw, "no_calls_after_conversation_days", defaults.no_calls_after_conversation_days
        ),
        claim_lease_seconds=_positive_int(
            raw, "claim_lease_seconds", defaults.claim_lease_seconds, 10
        ),
    )


def load_cadence(path: str | None = None) -> ReminderCadence:
    """The `reminders:` section of SETTLE_SETTINGS (or settle.yml); defaults when absent."""
    return cadence_from_sections(*read_settings_file(path))


def cadence_from_sections(file: Path, raw: Mapping[str, Any]) -> ReminderCadence:
    """The `reminders:` section of a settings file already read."""
    if "reminders" not in raw:
        return ReminderCadence()
    try:
        return cadence_from_dict(raw["reminders"] or {})
    except ConfigError as error:
        raise ConfigError(f"{file}: {error}") from None
