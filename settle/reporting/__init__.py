"""Reports for operators: the collections report (`settle report`, the console) — money
collected and owed, how late, and what the conversations came to. Reads only."""

from settle.reporting.collections import (
    CollectionsReport,
    collections_report,
    csv_rows,
    csv_text,
    report_and_series,
)
from settle.reporting.period import Period, parse_date, period_between
from settle.reporting.series import Series

__all__ = [
    "CollectionsReport",
    "Period",
    "collections_report",
    "csv_rows",
    "csv_text",
    "parse_date",
    "period_between",
    "report_and_series",
    "Series",
]
