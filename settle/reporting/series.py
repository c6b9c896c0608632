"""The report's figures spread over its days and weeks, for the console's charts: what was
collected each day, by the channel its link was sent on, and containment week by week.
Each adds up to a figure of the report (collected_minor; conversations_with_goal and
conversations_contained), whose definitions they keep."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.core.clock import zone_of
from settle.reporting.conversations import CHANNELS, Conversation, channel_of
from settle.reporting.funnel import funnel
from settle.reporting.period import Period
from settle.store.models import Payment, PaymentLink

# Paid without a link sent in a conversation (a reminder's link, the billing system's own).
NOT_IN_A_CONVERSATION = "none"
COLLECTED_CHANNELS = (*CHANNELS, NOT_IN_A_CONVERSATION)
WEEK = dt.timedelta(days=7)


@dataclass(frozen=True)
class DailyCollections:
    days: tuple[dt.date, ...]  # every day of the period, in the business's zone
    minor: dict[str, dict[str, list[int]]]  # currency -> channel -> collected on each day


@dataclass(frozen=True)
class Week:
    """Seven days from `since` (the period's last week may be shorter)."""

    since: dt.date
    until: dt.date
    conversations: int
    with_goal: int
    contained: int

    @property
    def containment_rate(self) -> float | None:
        return round(self.contained / self.with_goal, 4) if self.with_goal else None


@dataclass(frozen=True)
class Series:
    collected: DailyCollections
    weeks: list[Week]

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": [day.isoformat() for day in self.collected.days],
            "collected_minor": self.collected.minor,
            "weeks": [
                {
                    "since": week.since.isoformat(),
                    "until": week.until.isoformat(),
                    "conversations": week.conversations,
                    "with_goal": week.with_goal,
                    "contained": week.contained,
                    "containment_rate": week.containment_rate,
                }
                for week in self.weeks
            ],
        }


def daily_collections(
    session: Session, period: Period, currencies: Sequence[str]
) -> DailyCollections:
    """Payments received in the period by the day they came in (the business's day) and
    the channel of the conversation their link was sent in; `currencies` listed even
    with nothing in them."""
    days = tuple(period.since + dt.timedelta(days=n) for n in range(period.days))
    minor = {c: {channel: [0] * len(days) for channel in COLLECTED_CHANNELS} for c in currencies}
    zone = zone_of(period.timezone)
    rows = session.execute(
        select(Payment.currency, Payment.amount_minor, Payment.created_at, PaymentLink.channel)
        .outerjoin(PaymentLink, PaymentLink.id == Payment.payment_link_id)
        .where(Payment.created_at >= period.start, Payment.created_at < period.end)
    )
    for currency, amount, at, input_channel in rows:
        channel = NOT_IN_A_CONVERSATION if input_channel is None else channel_of(input_channel)
        by_channel = minor.setdefault(
            currency, {name: [0] * len(days) for name in COLLECTED_CHANNELS}
        )
        by_channel[channel][(at.astimezone(zone).date() - period.since).days] += amount
    return DailyCollections(days, {c: minor[c] for c in sorted(minor)})


def weekly_containment(
    period: Period, conversations: Sequence[Conversation], found: Sequence[frozenset[str]]
) -> list[Week]:
    """The funnel's goal and containment counts of the conversations begun in each week of
    the period (by the business's day of their first message)."""
    zone = zone_of(period.timezone)
    weeks = []
    since = period.since
    while since <= period.until:
        until = min(since + WEEK - dt.timedelta(days=1), period.until)
        picked = [
            i
            for i, c in enumerate(conversations)
            if since <= c.first_message_at.astimezone(zone).date() <= until
        ]
        counted = funnel([conversations[i] for i in picked], [found[i] for i in picked])
        began = counted.counts["conversations"]
        weeks.append(Week(since, until, began, counted.with_goal, counted.contained))
        since += WEEK
    return weeks
