"""Refunds inside the business's refund policy, never twice for one payment, and refunds
made outside Settle recorded as Stripe reports them.

Public entry points (the Rasa actions and the CLI call these); the rest of Settle imports
from the modules themselves.
"""

from settle.refunds.issue import (
    decide,
    handle_refund_event,
    issue_refund,
    refundable_payments,
    refunds_document,
)

__all__ = [
    "decide",
    "handle_refund_event",
    "issue_refund",
    "refundable_payments",
    "refunds_document",
]
