"""A plan's schedule: how a balance splits into installments and on which days they fall.

Pure maths over the business's plan rules, no database and no clock: the installments add
up to the balance exactly (the remainder cents go on the first), none is below the minimum,
and the last is due within max_days of the first. The customer's own day (their time zone)
decides when an installment is due.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from settle.rules.policy import INTERVALS, PlanRules


class ScheduleError(ValueError):
    """This count does not fit the rules (reason: below_min_installment, too_long)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ScheduledInstallment:
    """One installment of a schedule, before it is recorded (as settle.store.models.Installment)."""

    due_on: dt.date
    amount_minor: int


@dataclass(frozen=True)
class PlanOption:
    count: int
    interval: str
    installments: tuple[ScheduledInstallment, ...]
    first_due_on: dt.date

    @property
    def total_minor(self) -> int:
        return sum(i.amount_minor for i in self.installments)

    @property
    def first_amount_minor(self) -> int:
        return self.installments[0].amount_minor

    @property
    def amount_minor(self) -> int:
        """The regular installment (the first may carry a few extra cents)."""
        return self.installments[-1].amount_minor

    @property
    def last_due_on(self) -> dt.date:
        return self.installments[-1].due_on

    def describe(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "interval": self.interval,
            "first_due_on": self.first_due_on.isoformat(),
            "last_due_on": self.last_due_on.isoformat(),
            "installments": [
                {"due_on": i.due_on.isoformat(), "amount_minor": i.amount_minor}
                for i in self.installments
            ],
        }


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(start: dt.date, count: int, interval: str) -> list[dt.date]:
    if interval == "monthly":  # the same day each month, or the month's last day
        return [_add_months(start, n) for n in range(count)]
    return [start + dt.timedelta(days=INTERVALS[interval] * n) for n in range(count)]


def schedule(
    balance_minor: int, count: int, rules: PlanRules, start: dt.date
) -> list[ScheduledInstallment]:
    """balance_minor in count installments from start: they add up to the balance exactly
    (the remainder cents go on the first), none is below the minimum, and the last is due
    within max_days of the first. Raises ScheduleError when count cannot do all three."""
    if count < 1:
        raise ScheduleError(
            "count_not_allowed", f"a plan needs at least one installment, got {count}"
        )
    regular, remainder = divmod(balance_minor, count)
    if regular < rules.min_installment_minor:
        raise ScheduleError(
            "below_min_installment",
            f"{count} installments of {regular} are below the minimum "
            f"{rules.min_installment_minor}",
        )
    dates = due_dates(start, count, rules.interval)
    if (dates[-1] - dates[0]).days > rules.max_days:
        raise ScheduleError(
            "too_long",
            f"{count} {rules.interval} installments take "
            f"{(dates[-1] - dates[0]).days} days, more than {rules.max_days}",
        )
    return [
        ScheduledInstallment(day, regular + (remainder if n == 0 else 0))
        for n, day in enumerate(dates)
    ]


def fitting_options(balance_minor: int, rules: PlanRules, start: dt.date) -> list[PlanOption]:
    """One option for each allowed count whose schedule keeps the rules, fewest first."""
    options = []
    for count in sorted(rules.installment_counts):
        try:
            installments = schedule(balance_minor, count, rules, start)
        except ScheduleError:
            continue
        options.append(PlanOption(count, rules.interval, tuple(installments), start))
    return options
