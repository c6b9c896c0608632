"""Reports for operators: the collections report (`settle report`, the console) — money
collected and owed, how late, and what the conversations came to. Reads only."""

from settle.reporting.collections import CollectionsReport, collections_report, csv_rows
from settle.reporting.period import Period, parse_date, period_between

__all__ = [
    "CollectionsReport",
    "Period",
    "collections_report",
    "csv_rows",
    "parse_date",
    "period_between",
]
