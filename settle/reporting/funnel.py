"""What the period's conversations came to: the funnel and the containment rate.

Each conversation's outcomes come from what Settle recorded in its name (audit entries
under settle.core.audit.conversation_actor, made while it lasted), from payments on the
links it sent, and, for what only the tracker knows, from its replies
(settle.reporting.conversations). `outcomes` and `funnel` do no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from settle.core.audit import conversation_actor
from settle.reporting.conversations import MARGIN, Conversation
from settle.store.models import AuditEntry, Payment, PaymentLink

# Audit actions that mark a conversation's outcome.
RECORDED = {
    "identity.verified": "verified",
    "payment_link.created": "link_sent",
    "plan.created": "plan_started",
    "refund.issued": "refund_issued",
    "reminder.requested": "reminder_set",
    "contact.opted_out": "opt_out_recorded",
    "handoff.requested": "handoff",
}
# A conversation reached its goal when one of these happened in it.
GOALS_REACHED = (
    "link_sent",
    "plan_started",
    "refund_issued",
    "balance_told",
    "reminder_set",
    "opt_out_recorded",
)
FUNNEL = {
    "verified": "verified",
    "links_sent": "link_sent",
    "links_paid": "link_paid",
    "plans_started": "plan_started",
    "refunds": "refund_issued",
    "handoffs": "handoff",
}
_CHUNK = 500


@dataclass(frozen=True)
class Fact:
    """An audit entry made in a conversation's name."""

    actor: str
    at: dt.datetime
    action: str


@dataclass(frozen=True)
class Funnel:
    counts: dict[str, int]  # "conversations", then the FUNNEL stages
    with_goal: int
    contained: int

    @property
    def containment_rate(self) -> float | None:
        """Contained over conversations with a goal, to four decimals; None without any."""
        return round(self.contained / self.with_goal, 4) if self.with_goal else None


def conversation_facts(
    session: Session, conversations: Sequence[Conversation]
) -> tuple[list[Fact], list[tuple[str, dt.datetime]]]:
    """The audit entries made in these conversations' names, and the payments received
    through links that name one of them (payment_links.conversation_id, paid_at)."""
    if not conversations:
        return [], []
    since = min(c.began_at for c in conversations)
    actors = sorted({conversation_actor(c.sender_id) for c in conversations})
    senders = sorted({c.sender_id for c in conversations})
    facts: list[Fact] = []
    paid: list[tuple[str, dt.datetime]] = []
    for start in range(0, max(len(actors), len(senders)), _CHUNK):
        facts += [
            Fact(actor, at, action)
            for actor, at, action in session.execute(
                select(AuditEntry.actor, AuditEntry.at, AuditEntry.action).where(
                    AuditEntry.actor.in_(actors[start : start + _CHUNK]),
                    AuditEntry.action.in_(RECORDED),
                    AuditEntry.at >= since,
                )
            )
        ]
        paid += [
            (sender, at)
            for sender, at in session.execute(
                select(PaymentLink.conversation_id, Payment.created_at)
                .join(PaymentLink, PaymentLink.id == Payment.payment_link_id)
                .where(
                    PaymentLink.conversation_id.in_(senders[start : start + _CHUNK]),
                    Payment.created_at >= since,
                )
            )
        ]
    return facts, paid


def outcomes(
    conversations: Sequence[Conversation],
    facts: Iterable[Fact],
    paid: Iterable[tuple[str, dt.datetime]],
) -> list[frozenset[str]]:
    """Each conversation's outcomes: the RECORDED ones made in its name while it lasted
    (from its first event until the sender's next conversation; MARGIN past its first
    message at most when none followed), what its replies showed, and "link_paid" when a
    payment came through a link naming its sender after it began, and it is the sender's
    latest conversation before that payment in which a link was sent."""
    by_actor: dict[str, list[Fact]] = defaultdict(list)
    for fact in facts:
        by_actor[fact.actor].append(fact)
    found: list[set[str]] = []
    for c in conversations:
        until = c.ended_by or c.first_message_at + MARGIN
        seen = {
            RECORDED[f.action]
            for f in by_actor[conversation_actor(c.sender_id)]
            if c.began_at <= f.at < until
        }
        found.append(seen | c.told)
    linked: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(conversations):
        if "link_sent" in found[i]:
            linked[c.sender_id].append(i)
    for sender, at in paid:
        before = [i for i in linked[sender] if conversations[i].began_at <= at]
        if before:
            found[max(before, key=lambda i: conversations[i].began_at)].add("link_paid")
    return [frozenset(seen) for seen in found]


def funnel(conversations: Sequence[Conversation], found: Sequence[frozenset[str]]) -> Funnel:
    """The funnel counts conversations, each once per stage it reached. A conversation has
    a goal when it named one (the `goal` slot), reached one or was handed to a person; it
    is contained when it reached one without a hand-off."""
    counts = {"conversations": len(conversations)}
    counts.update({stage: sum(o in s for s in found) for stage, o in FUNNEL.items()})
    with_goal = contained = 0
    for conversation, seen in zip(conversations, found, strict=True):
        reached, handed_off = bool(seen & set(GOALS_REACHED)), "handoff" in seen
        with_goal += bool(conversation.goals) or reached or handed_off
        contained += reached and not handed_off
    return Funnel(counts, with_goal, contained)
