"""The collections report for a period: the billing tables' figures, the conversations'
funnel, as one document (`settle report --json`, and the console) or as CSV rows; and,
for the console's charts, the same figures by day and week (settle.reporting.series).

The figures are defined in README.md ("settle report"); each comes from one place:
money, opt-outs and reminders from the billing tables (settle.reporting.books), the
conversations from the tracker store (settle.reporting.conversations), and what the
conversations came to from both (settle.reporting.funnel).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from settle.reporting import books, series
from settle.reporting.conversations import CHANNELS, read_conversations
from settle.reporting.funnel import Funnel, conversation_facts, funnel, outcomes
from settle.reporting.period import AGING_BUCKETS, Period, dso_days
from settle.reporting.series import Series
from settle.store.db import Store


@dataclass(frozen=True)
class CollectionsReport:
    period: Period
    money: books.Money
    funnel: Funnel
    channels: dict[str, int]
    languages: dict[str, int]
    opt_outs: int
    reminders: books.ReminderOutcomes
    conversation_store: str  # read | missing | unreachable
    # The business's currency and every one any money figure has: each figure lists them
    # all (0 where none), so they line up column by column.
    currencies: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        money, currencies = self.money, list(self.currencies)

        def each(figures: dict[str, int]) -> dict[str, int]:
            return {c: figures.get(c, 0) for c in currencies}

        return {
            "period": {
                "since": self.period.since.isoformat(),
                "until": self.period.until.isoformat(),
                "days": self.period.days,
                "timezone": self.period.timezone,
            },
            "currencies": currencies,
            "collected_minor": each(money.collected),
            "refunded_minor": each(money.refunded),
            "invoiced_minor": each(money.invoiced),
            "outstanding_minor": each(money.outstanding),
            "aging_minor": {bucket: each(money.aging[bucket]) for bucket in AGING_BUCKETS},
            "dso_days": {
                c: dso_days(money.outstanding.get(c, 0), money.invoiced.get(c, 0), self.period.days)
                for c in currencies
            },
            "funnel": dict(self.funnel.counts),
            "conversations_with_goal": self.funnel.with_goal,
            "conversations_contained": self.funnel.contained,
            "containment_rate": self.funnel.containment_rate,
            "channels": dict(self.channels),
            "languages": dict(self.languages),
            "opt_outs": self.opt_outs,
            "reminders": {
                "sent": self.reminders.sent,
                "skipped": self.reminders.skipped,
                "skipped_reasons": dict(self.reminders.skipped_reasons),
                "held": self.reminders.held,
                "paid_within_7_days": self.reminders.paid_within_7_days,
            },
            "conversation_store": self.conversation_store,
        }


def collections_report(
    store: Store,
    tracker_url: str,
    period: Period,
    languages: Sequence[str],
    currency: str | None = None,
) -> CollectionsReport:
    """The report for period, from the billing store and the conversation store at
    tracker_url (Rasa's; read only). The business's `languages` and `currency` are listed
    even when nothing was in them."""
    return report_and_series(store, tracker_url, period, languages, currency)[0]


def report_and_series(
    store: Store,
    tracker_url: str,
    period: Period,
    languages: Sequence[str],
    currency: str | None = None,
) -> tuple[CollectionsReport, Series]:
    """The report, and its figures by day and week (the console's charts), read once."""
    conversations = read_conversations(tracker_url, period, languages)
    found = conversations.found
    with store.unit_of_work() as session:
        money = books.money(session, period)
        opt_outs = books.opt_outs(session, period)
        reminders = books.reminder_outcomes(session, period)
        facts, paid = conversation_facts(session, found)
        currencies = tuple(
            sorted(
                ({currency} if currency else set())
                | set(money.collected)
                | set(money.refunded)
                | set(money.invoiced)
                | set(money.outstanding)
            )
        )
        collected = series.daily_collections(session, period, currencies)
    reached = outcomes(found, facts, paid)
    channels = Counter(c.channel for c in found)
    spoken = Counter(c.language for c in found)
    report = CollectionsReport(
        period=period,
        money=money,
        funnel=funnel(found, reached),
        channels={channel: channels[channel] for channel in CHANNELS},
        languages={
            language: spoken[language]
            for language in [*languages, *sorted(set(spoken) - set(languages))]
        },
        opt_outs=opt_outs,
        reminders=reminders,
        conversation_store=conversations.store,
        currencies=currencies,
    )
    return report, Series(collected, series.weekly_containment(period, found, reached))


CSV_HEADER = ("metric", "currency_or_key", "value")


def csv_rows(document: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """One row per figure of the document: the last key is the currency or key, the keys
    before it, joined by dots, the metric; a figure with no key (opt_outs) leaves it empty,
    and a null value is an empty field. Lists (currencies) are left out: rows name them."""
    for name, value in document.items():
        yield from _rows([name], value)


def csv_text(document: dict[str, Any]) -> str:
    """The document as CSV (`settle report --csv`, the console's download): CSV_HEADER,
    then csv_rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(document))
    return out.getvalue()


def _rows(path: list[str], value: Any) -> Iterator[tuple[str, str, str]]:
    if isinstance(value, list):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _rows([*path, str(key)], item)
        return
    field = "" if value is None else str(value)
    if len(path) == 1:
        yield path[0], "", field
    else:
        yield ".".join(path[:-1]), path[-1], field
