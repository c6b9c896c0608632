"""`settle report`: the collections report for a period, as JSON or CSV."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from settle.config import Settings, tracker_database_url
from settle.core.clock import customer_today
from settle.reporting import collections_report, csv_text, parse_date, period_between
from settle.store.db import Store


def date_argument(text: str) -> dt.date:
    """argparse type for --since/--until: a bad date stops the command (exit 2)."""
    try:
        return parse_date(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def report_command(
    store: Store, settings: Settings, since: dt.date | None, until: dt.date | None, as_csv: bool
) -> int:
    business = settings.business
    try:
        period = period_between(since, until, customer_today(business.timezone), business.timezone)
    except ValueError as error:
        print(f"settle report: {error}", file=sys.stderr)
        return 2
    report = collections_report(
        store, tracker_database_url(), period, business.languages, business.currency
    )
    if report.conversation_store != "read":
        print(
            f"settle report: the conversation store is {report.conversation_store} "
            "(TRACKER_DATABASE_URL): conversation figures are 0",
            file=sys.stderr,
        )
    document = report.as_dict()
    if as_csv:
        sys.stdout.write(csv_text(document))
    else:
        print(json.dumps(document, indent=2))
    return 0
