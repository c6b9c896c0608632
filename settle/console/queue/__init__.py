"""The work queue on the console's first page: everything that waits for a person, oldest
first. Hand-offs the conversation asked for, open disputes, refunds the policy left to a
person, flagged payments, and identity checks locked after too many misses.

Each kind is read from where it already lives (the audit log, disputes, identity locks);
an item leaves the queue when its decision is on record (settle.console.resolve,
settle.console.flagged), so the queue needs no table of its own. Which items wait is
decided in SQL (waiting), a page of them worded in a few queries (items), and the page cut
and counted (paging).
"""

from settle.console.queue.items import QueueItem
from settle.console.queue.paging import PER_PAGE, QueuePage, page_number, queue_page, work_queue
from settle.console.queue.waiting import (
    FLAG_DECIDED,
    KINDS,
    MISMATCHES,
    REFUND_DECIDED,
    flag_decided,
    flag_entry,
    flag_kind,
    handoff_done,
    pending_refund_request,
)

__all__ = [
    "FLAG_DECIDED",
    "KINDS",
    "MISMATCHES",
    "PER_PAGE",
    "REFUND_DECIDED",
    "QueueItem",
    "QueuePage",
    "flag_decided",
    "flag_entry",
    "flag_kind",
    "handoff_done",
    "page_number",
    "pending_refund_request",
    "queue_page",
    "work_queue",
]
