"""Hand-offs to a person, recorded with what the conversation established."""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.dates import format_date, format_time
from sqlalchemy.orm import Session

from settle.config import Settings
from settle.core import audit, clock, i18n
from settle.messaging import staff
from settle.store.db import Store
from settle.store.models import AuditEntry, Customer

# What the customer wanted, as the hand-off summary says it (handoff_goal_<goal>).
GOALS = ("pay", "balance", "opt_out", "plan", "refund", "dispute", "reminder")


def record_handoff(
    session: Session,
    actor: str,
    reason: str,
    summary: dict[str, Any],
    settings: Settings | None = None,
) -> int:
    """Audit the hand-off; its id is the reference the person who takes over can look up.
    With settings, staff are alerted (settle.messaging.staff)."""
    entry = audit.record(session, actor, "handoff.requested", "", reason=reason, **summary)
    session.flush()
    if settings is not None:
        staff.alert_staff(
            session,
            settings,
            "handoff",
            entry.id,
            customer_id=summary.get("verified_customer"),
            invoice_id=summary.get("invoice"),
            actor=actor,
            customer_language=summary.get("language"),
        )
    return entry.id


def closed_reply(
    settings: Settings, language: str, locale: str, now: dt.datetime | None = None
) -> str | None:
    """Outside business.hours, what the customer is told instead of being put through: when
    someone will call back (the next opening, in the business's zone). None while open."""
    business = settings.business
    if business.hours is None:
        return None
    opening = business.hours.next_opening(now or clock.utcnow(), clock.zone_of(business.timezone))
    if opening is None:
        return None
    day = format_date(opening, "EEEE", locale=locale)
    # The sentence ends with the time: "9:00 a.m." (es_US) must not end "a.m..".
    time = format_time(opening, "short", locale=locale).rstrip(".")
    return i18n.text("handoff_closed", language, day=day, time=time)


def describe(detail: dict[str, Any], customer_name: str | None, language: str = "en") -> str:
    """A few sentences a person can take over with, in the staff's `language`, ending with
    the language the customer speaks (named in the staff's)."""

    def say(key: str, **values: Any) -> str:
        return i18n.text(f"handoff_{key}", language, **values)

    customer = detail.get("verified_customer")
    if customer:
        parts = [say("verified", name=customer_name or customer, customer=customer)]
    elif detail.get("failed_verifications"):
        count = int(detail["failed_verifications"])
        parts = [i18n.plural("handoff_failed_verifications", count, language)]
    else:
        parts = [say("not_verified")]
    if detail.get("goal") in GOALS:
        parts.append(say(f"goal_{detail['goal']}"))
    if detail.get("invoice"):
        parts.append(say("invoice", invoice=detail["invoice"]))
    if detail.get("payment"):
        reason = (detail.get("refund_reason") or "").replace("_", " ")
        parts.append(
            say("payment_reason", payment=detail["payment"], reason=reason)
            if reason
            else say("payment", payment=detail["payment"])
        )
    if detail.get("dispute"):
        parts.append(say("dispute", dispute=detail["dispute"]))
    reason = detail.get("reason")
    if reason and reason not in ("human_handoff", "asked"):
        parts.append(say("reason", reason=reason.replace("_", " ")))
    if detail.get("language"):  # the conversation's language, named in the staff's
        parts.append(
            say("customer_language", spoken=i18n.language_name(detail["language"], language))
        )
    return " ".join(parts)


def spoken_summary(store: Store, reference: str | None, language: str) -> str:
    """The summary of hand-off `reference` (an audit id), for the whisper to the agent."""
    try:
        entry_id = int(reference or "")
    except ValueError:
        return i18n.text("handoff_no_summary", language)
    with store.unit_of_work() as session:
        entry = session.get(AuditEntry, entry_id)
        if entry is None or entry.action != "handoff.requested":
            return i18n.text("handoff_no_summary", language)
        customer = session.get(Customer, entry.detail.get("verified_customer") or "")
        return describe(entry.detail, customer.name if customer else None, language)
