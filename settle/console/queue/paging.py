"""The queue a page at a time: the waiting items' keys are counted and cut to a page in SQL
(settle.console.queue.waiting), and only that page's items are read and worded
(settle.console.queue.items), so a page costs the same few statements however long the
queue or the audit log grows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from settle.config import Settings
from settle.console.queue.items import QueueItem, load_items
from settle.console.queue.waiting import KINDS, waiting_keys
from settle.store.models import utcnow

PER_PAGE = 50


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue, and how much waits in all."""

    items: list[QueueItem]
    number: int  # 1 .. pages
    pages: int  # at least 1, even when nothing waits
    total: int
    counts: dict[str, int]  # kind -> items waiting, every kind in KINDS order

    @property
    def older(self) -> int | None:
        """The page before this one (older items), if any."""
        return self.number - 1 if self.number > 1 else None

    @property
    def newer(self) -> int | None:
        """The page after this one (newer items), if any."""
        return self.number + 1 if self.number < self.pages else None


def page_number(asked: str | int | None) -> int:
    """The page a request asked for, at least 1: anything but a whole number is page 1
    (queue_page then brings a number past the end back to the last page)."""
    try:
        number = int(asked or 1)
    except (TypeError, ValueError):  # not a number, or more digits than Python reads
        return 1
    return max(number, 1)


def queue_page(session: Session, settings: Settings, asked: str | int | None = 1) -> QueuePage:
    """The page `asked` of everything that needs a person, oldest first; a page past the end
    is the last one."""
    keys = waiting_keys(utcnow()).subquery()
    counted = session.execute(select(keys.c.rank, func.count()).group_by(keys.c.rank))
    by_rank = {rank: count for rank, count in counted}
    counts = {kind: by_rank.get(rank, 0) for rank, kind in enumerate(KINDS)}
    total = sum(counts.values())
    pages = max(1, -(-total // PER_PAGE))
    number = min(page_number(asked), pages)
    chosen = (
        select(keys.c.at, keys.c.rank, keys.c.id)
        .order_by(keys.c.at, keys.c.rank, keys.c.id)
        .limit(PER_PAGE)
        .offset((number - 1) * PER_PAGE)
    )
    items = load_items(session, settings, session.execute(chosen).all()) if total else []
    return QueuePage(items, number, pages, total, counts)


def work_queue(session: Session, settings: Settings) -> list[QueueItem]:
    """Everything that needs a person, oldest first, all pages at once (for the CLI and
    tests; the console reads it a page at a time with queue_page)."""
    keys = waiting_keys(utcnow()).subquery()
    chosen = select(keys.c.at, keys.c.rank, keys.c.id).order_by(keys.c.at, keys.c.rank, keys.c.id)
    return load_items(session, settings, session.execute(chosen).all())
