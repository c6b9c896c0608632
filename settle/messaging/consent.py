"""Who refused messages: opt-outs (STOP, Twilio's 21610, a refused channel) and opt-ins
(START). The outbox asks here before queueing and again before sending.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settle.core import audit
from settle.store.models import OptOut, utcnow

# The reply that confirms an opt-out said in a conversation ("no more reminders", not the
# STOP keyword, which Twilio's answer confirms): carriers allow that one message, and
# without it the customer hears nothing. Its outbox key starts with this, and it goes only
# while the opt-out is fresh.
CONFIRMATION = "opt-out-confirmation:"
CONFIRMATION_WINDOW = dt.timedelta(minutes=10)
# The source of an opt-out said in a conversation (actions.opt_out): only that one is
# confirmed, never one the billing system, a STOP or Twilio recorded while a turn ran.
CONVERSATION_SOURCE = "conversation:"


def is_opted_out(session: Session, phone: str, channel: str = "sms") -> bool:
    """Whether phone (or an e-mail address) refused channel ("sms", "call", "email");
    an opt-out for "all" (STOP) refuses every channel."""
    return (
        session.scalar(
            select(OptOut.id)
            .where(OptOut.phone == phone, OptOut.channel.in_(("all", channel)))
            .limit(1)
        )
        is not None
    )


def opted_out_since(session: Session, phone: str, since: dt.datetime) -> bool:
    """Whether phone opted out of everything in a conversation at or after `since` (in the
    turn just run)."""
    row = session.scalar(
        select(OptOut.id).where(
            OptOut.phone == phone,
            OptOut.channel == "all",
            OptOut.created_at >= since,
            OptOut.source.startswith(CONVERSATION_SOURCE, autoescape=True),
        )
    )
    return row is not None


def refuses(session: Session, to: str, channel: str, key: str) -> bool:
    """Whether the message keyed `key` must not go to `to`: opted out, unless it is the
    confirmation of an opt-out made within CONFIRMATION_WINDOW."""
    if not is_opted_out(session, to, channel):
        return False
    if not key.startswith(CONFIRMATION):
        return True
    return not opted_out_since(session, to, utcnow() - CONFIRMATION_WINDOW)


def record_opt_out(
    session: Session, phone: str, source: str, actor: str, channel: str = "all"
) -> bool:
    """Record that phone wants no more messages (on channel, or any); True when it is new."""
    if is_opted_out(session, phone, channel):
        return False
    try:
        with session.begin_nested():
            session.add(OptOut(phone=phone, channel=channel, source=source))
    except IntegrityError:
        return False
    audit.record(
        session, actor, "contact.opted_out", f"phone:{phone}", source=source, channel=channel
    )
    return True


def record_opt_in(session: Session, phone: str, source: str, actor: str) -> bool:
    """The number asked for messages again (START); True when it had opted out."""
    rows = session.scalars(select(OptOut).where(OptOut.phone == phone)).all()
    for row in rows:
        session.delete(row)
    if rows:
        audit.record(session, actor, "contact.opted_in", f"phone:{phone}", source=source)
    return bool(rows)
