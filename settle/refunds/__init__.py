"""Refunds inside the business's refund policy, never twice for one payment, and refunds
made outside Settle recorded as Stripe reports them.

decision.py is the policy as a pure function of the facts; records.py reads what is on
record (and gathers those facts); issue.py asks Stripe; events.py applies Stripe's reports.

Public entry points (the Rasa actions and the CLI call these); the rest of Settle imports
from the modules themselves.
"""

from settle.refunds.events import handle_refund_event
from settle.refunds.issue import issue_refund
from settle.refunds.records import decide_payment, refundable_payments, refunds_document

__all__ = [
    "decide_payment",
    "handle_refund_event",
    "issue_refund",
    "refundable_payments",
    "refunds_document",
]
