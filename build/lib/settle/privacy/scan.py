"""`settle scan-pans`: look for card numbers where none should be.

It reads the text that can hold one: every text column of the billing database (message
bodies, audit details, dispute reasons, …), the conversation store's events (user texts,
slot values, entities) and log files, line by line. Numbers are read as text too;
only timestamps are skipped, which are ours and long runs of digits. Findings name the place
and show it with the number masked: the scan never prints a card number itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, MetaData, String, Text, create_engine, select
from sqlalchemy.engine import Engine, make_url

from settle.privacy.cards import card_spans, mask_card_numbers

# JSON keys that hold times (Rasa's event timestamps are floats with 16 digits).
_SKIPPED_KEYS = {"timestamp", "time", "created_at", "updated_at"}
# A log line's own time stamp ("2026-12-01 23:10:37,123" or ISO 8601), skipped.
_LOG_TIME = re.compile(
    r"^\s*\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?"
)
EXCERPT_CHARS = 60


@dataclass(frozen=True)
class Finding:
    where: str
    excerpt: str  # the surroundings, with the card number masked

    def __str__(self) -> str:
        return f"{self.where}: {self.excerpt}"


def _excerpt(text: str, start: int, end: int) -> str:
    left, right = max(0, start - EXCERPT_CHARS), min(len(text), end + EXCERPT_CHARS)
    return " ".join(mask_card_numbers(text[left:right]).split())


def scan_text(text: Any, where: str) -> list[Finding]:
    if not isinstance(text, str) or not text:
        return []
    return [Finding(where, _excerpt(text, start, end)) for start, end in card_spans(text)]


def _strings(value: Any, path: str = "") -> Iterator[tuple]:
    """(path, text) for every string, whole number and key in a JSON value, except times."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, int) and not isinstance(value, bool):
        yield path, str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path} (a key)", str(key)
            if str(key) not in _SKIPPED_KEYS:
                yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def scan_value(value: Any, where: str) -> list[Finding]:
    """A column's value: JSON (parsed, or a JSON string) is read string by string."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, str):
        return scan_text(value, where)
    findings: list[Finding] = []
    for path, text in _strings(value):
        findings += scan_text(text, f"{where} {path}")
    return findings


def scan_database(
    engine: Engine, label: str, progress: Callable[[str], None] = lambda _: None
) -> Iterator[Finding]:
    """Every text column of every table (alembic's bookkeeping aside)."""
    metadata = MetaData()
    metadata.reflect(bind=engine)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            if not columns:
                continue
            keys = list(table.primary_key.columns)
            rows = connection.execution_options(yield_per=1000).execute(select(*keys, *columns))
            count = 0
            for row in rows:
                count += 1
                ident = ",".join(str(row[i]) for i in range(len(keys))) or str(count)
                for offset, column in enumerate(columns):
                    yield from scan_value(
                        row[len(keys) + offset], f"{label}:{table.name}.{column.name}#{ident}"
                    )
            progress(f"{label}: {table.name}, {count} rows")


def scan_url(
    url: str, label: str, progress: Callable[[str], None] = lambda _: None
) -> Iterator[Finding]:
    parsed = make_url(url)
    if (
        parsed.get_backend_name() == "sqlite"
        and parsed.database
        and not Path(parsed.database).exists()
    ):
        progress(f"{label}: no database at {parsed.database}")
        return
    engine = create_engine(url)
    try:
        yield from scan_database(engine, label, progress)
    finally:
        engine.dispose()


def log_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the *.log files (rotated ones too) under the directories named."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and ".log" in p.name)
        elif path.is_file():
            found.append(path)
    return found


def scan_log(path: Path) -> Iterator[Finding]:
    with path.open("r", encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            line = _LOG_TIME.sub("", line, count=1)
            yield from scan_text(line, f"log:{path}:{number}")


def scan_all(
    billing_url: str,
    conversations_url: str | None,
    logs: Iterable[Path],
    progress: Callable[[str], None] = lambda _: None,
) -> Iterator[Finding]:
    yield from scan_url(billing_url, "billing", progress)
    if conversations_url and conversations_url != billing_url:
        yield from scan_url(conversations_url, "conversations", progress)
    for path in log_files(logs):
        yield from scan_log(path)
        progress(f"log: {path}")
