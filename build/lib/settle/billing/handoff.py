"""Hand-offs to a person, recorded with what the conversation established."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from settle.app import runtime
from settle.core import audit
from settle.store.models import AuditEntry, Customer

GOALS = {
    "pay": "pay an invoice",
    "balance": "know their balance",
    "opt_out": "stop messages",
    "plan": "pay in installments",
    "refund": "get a refund",
    "dispute": "dispute an invoice",
    "reminder": "be reminded later",
}


def record_handoff(session: Session, actor: str, reason: str, summary: dict[str, Any]) -> int:
    """Audit the hand-off; its id is the reference the person who takes over can look up."""
    entry = audit.record(session, actor, "handoff.requested", "", reason=reason, **summary)
    session.flush()
    return entry.id


def describe(detail: dict[str, Any], customer_name: str | None) -> str:
    """One or two sentences a person can take over with."""
    parts = []
    if detail.get("verified_customer"):
        parts.append(
            f"The caller is verified as {customer_name or 'customer'} "
            f"({detail['verified_customer']})."
        )
    elif detail.get("failed_verifications"):
        parts.append(
            f"The caller could not be verified after {detail['failed_verifications']} attempts."
        )
    else:
        parts.append("The caller is not verified yet.")
    if detail.get("goal") in GOALS:
        parts.append(f"They want to {GOALS[detail['goal']]}.")
    if detail.get("invoice"):
        parts.append(f"Invoice {detail['invoice']}.")
    if detail.get("payment"):
        parts.append(
            f"Payment {detail['payment']}"
            + (
                f", reason given: {detail['refund_reason'].replace('_', ' ')}."
                if detail.get("refund_reason")
                else "."
            )
        )
    if detail.get("dispute"):
        parts.append(f"Dispute {detail['dispute']} is recorded with their words.")
    reason = detail.get("reason")
    if reason and reason not in ("human_handoff", "asked"):
        parts.append(f"Reason: {reason.replace('_', ' ')}.")
    return " ".join(parts)


def spoken_summary(reference: str | None) -> str:
    """The summary of hand-off `reference` (an audit id), for the whisper to the agent."""
    try:
        entry_id = int(reference or "")
    except ValueError:
        return "No summary is available."
    with runtime.current().store.unit_of_work() as session:
        entry = session.get(AuditEntry, entry_id)
        if entry is None or entry.action != "handoff.requested":
            return "No summary is available."
        customer = session.get(Customer, entry.detail.get("verified_customer") or "")
        return describe(entry.detail, customer.name if customer else None)
