"""Refunds inside the business's refund policy, never twice for one payment, and refunds
made outside Settle recorded as Stripe reports them.

decision.py is the policy as a pure function of the facts; records.py reads what is on
record (and gathers those facts); issue.py asks Stripe; events.py applies Stripe's reports;
conversation.py is what the Rasa actions ask, one unit of work each.

Public entry points (the Rasa actions and the CLI call these); the rest of Settle imports
from the modules themselves.
"""

from settle.refunds.conversation import decide_refund, offered_payments, payments_to_refund
from settle.refunds.events import handle_refund_event
from settle.refunds.issue import issue_refund
from settle.refunds.records import decide_payment, refundable_payments, refunds_document

__all__ = [
    "decide_payment",
    "decide_refund",
    "handle_refund_event",
    "issue_refund",
    "offered_payments",
    "payments_to_refund",
    "refundable_payments",
    "refunds_document",
]
