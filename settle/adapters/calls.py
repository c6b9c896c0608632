"""Outbound calls (used by reminders): placed through Twilio into the same voice flow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.base.exceptions import TwilioRestException

from settle.adapters.sms import twilio_client
from settle.config import ConfigError, Settings
from settle.core import audit
from settle.messaging.consent import is_opted_out
from settle.reminders.records import CallAttempt
from settle.store.db import Store
from settle.store.models import Customer, utcnow


class CallRefused(Exception):
    """The call may not or cannot be placed; the message says why."""


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    to: str


def place_call(
    store: Store,
    settings: Settings,
    customer_id: str,
    reason: str,
    invoice_id: str | None = None,
    actor: str = "operator",
    now: dt.datetime | None = None,
    invoice_ids: Sequence[str] | None = None,
) -> PlacedCall:
    """Call the customer's phone on file; Twilio fetches TwiML from the voice webhook.

    Each call is recorded as an attempt for every invoice it is about (invoice_ids, else
    invoice_id), which the reminder engine's cap of call attempts counts.
    """
    if not settings.uses_twilio:
        raise ConfigError(
            "placing calls needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER"
        )
    with store.unit_of_work() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise CallRefused(f"no customer {customer_id!r}")
        if is_opted_out(session, customer.phone, "call"):
            audit.record(
                session, actor, "call.refused", f"customer:{customer_id}", reason="opted out"
            )
            raise CallRefused(f"{customer.phone} has opted out of messages and calls")
        phone, language = customer.phone, customer.language
    query = {
        "reason": reason,
        **({"invoice": invoice_id} if invoice_id else {}),
        "language": language,
    }
    client = twilio_client(
        settings.required("twilio_account_sid"),
        settings.required("twilio_auth_token"),
        settings.twilio_api_base,
    )
    try:
        call = client.calls.create(
            to=phone,
            from_=settings.twilio_from_number,
            url=f"{settings.twilio_voice_url}?{urlencode(query)}",
            # An answering machine hears the voicemail message after
            # its greeting and beep, not over it.
            machine_detection="DetectMessageEnd",
            # No answer, busy or failed: recorded on the attempt (it
            # still counts towards the cap); the sequence goes on.
            status_callback=f"{settings.public_base_url}/webhooks/twilio/call-status",
        )
    except TwilioRestException as error:
        raise CallRefused(f"Twilio error {error.code}: {error.msg}") from error
    with store.unit_of_work() as session:
        audit.record(
            session,
            actor,
            "call.placed",
            f"customer:{customer_id}",
            call_sid=call.sid,
            reason=reason,
            invoice_id=invoice_id,
        )
        about: list[str | None] = list(invoice_ids or []) or [invoice_id]
        for about_id in about:
            session.add(
                CallAttempt(
                    customer_id=customer_id,
                    invoice_id=about_id,
                    call_sid=call.sid,
                    reason=reason[:32],
                    status="queued",
                    at=now or utcnow(),
                )
            )
    return PlacedCall(call.sid, phone)


def record_call_status(session, call_sid: str, status: str, answered_by: str | None = None) -> bool:
    """Twilio's status callback for a call we placed: completed, no-answer, busy, failed…"""
    attempts = session.query(CallAttempt).filter(CallAttempt.call_sid == call_sid).all()
    for attempt in attempts:
        attempt.status = (
            status
            if not answered_by or status != "completed"
            else ("voicemail" if answered_by.startswith("machine") else status)
        )
    if attempts:
        audit.record(
            session,
            "twilio",
            "call.status",
            f"call:{call_sid}",
            status=status,
            answered_by=answered_by,
        )
    return bool(attempts)
