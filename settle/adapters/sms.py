"""Texts through Twilio's Programmable Messaging (the official SDK), or, without Twilio
credentials, kept in the outbox and shown in the log. An adapter: it sends what it is given
and says how that went (DeliveryError says whether another try is worth it); the outbox's
rules (retries, leases, opt-outs) live in settle.messaging.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)

# Twilio: "Attempt to send to unsubscribed recipient" — the number replied STOP.
TWILIO_OPTED_OUT = 21610


class DeliveryError(Exception):
    def __init__(
        self,
        message: str,
        permanent: bool = False,
        opted_out: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.opted_out = opted_out
        # Seconds the provider asked us to wait (HTTP Retry-After), when it said.
        self.retry_after = retry_after


@dataclass(frozen=True)
class Delivery:
    status: str  # "sent" (provider accepted it) or "outbox" (kept locally)
    provider_sid: str | None = None


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> Delivery: ...


# The headers of this thread's last Twilio answer (Retry-After on a 429).
_last_headers = threading.local()


class _HttpClient(TwilioHttpClient):
    """Twilio's HTTP client, keeping each thread's last answer's headers, and sending to
    TWILIO_API_BASE (a proxy or a local test server) when one is set."""

    def __init__(self, base_url: str | None, timeout: float):
        super().__init__(timeout=timeout)
        self._base = base_url.rstrip("/") if base_url else None

    def request(self, method, url, *args, **kwargs):
        if self._base and url.startswith("https://api.twilio.com"):
            url = self._base + url[len("https://api.twilio.com") :]
        _last_headers.headers = None
        response = super().request(method, url, *args, **kwargs)
        _last_headers.headers = getattr(response, "headers", None)
        return response


def twilio_client(
    account_sid: str, auth_token: str, api_base: str | None = None, timeout: float = 10.0
) -> Client:
    http_client = _HttpClient(api_base, timeout)
    return Client(account_sid, auth_token, http_client=http_client)


class TwilioSms:
    """Programmable Messaging through the official Twilio SDK."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str | None = None,
        status_callback: str | None = None,
        timeout: float = 10.0,
    ):
        self._client = twilio_client(account_sid, auth_token, api_base, timeout)
        self._from = from_number
        self._status_callback = status_callback

    def send(self, to: str, body: str) -> Delivery:
        try:
            extra = {"status_callback": self._status_callback} if self._status_callback else {}
            message = self._client.messages.create(to=to, from_=self._from, body=body, **extra)
        except TwilioRestException as error:
            # 429 (too many requests) and 5xx are worth another try; other 4xx are not.
            raise DeliveryError(
                f"Twilio error {error.code}: {error.msg}",
                permanent=error.status is not None
                and 400 <= error.status < 500
                and error.status != 429,
                opted_out=error.code == TWILIO_OPTED_OUT,
                retry_after=self._retry_after(),
            ) from error
        except Exception as error:
            raise DeliveryError(f"Twilio unreachable: {error}") from error
        return Delivery("sent", message.sid)

    def _retry_after(self) -> float | None:
        value = (_last_headers.headers or {}).get("Retry-After")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None

    def already_sent(self, to: str, body: str, since: dt.datetime) -> str | None:
        """The sid of a message with this body Twilio already took for `to` since `since`:
        its create API has no idempotency key, so a send cut off by a crash is looked up
        before it is made again."""
        try:  # by To only: a message Twilio took but has not sent yet has no DateSent
            taken = self._client.messages.list(to=to, limit=50)
        except Exception as error:
            raise DeliveryError(f"Twilio lookup failed: {error}") from error
        return next(
            (
                m.sid
                for m in taken
                if m.body == body
                and m.from_ == self._from
                and (m.date_created is None or m.date_created >= since)
            ),
            None,
        )


class ConsoleOutbox:
    """No Twilio credentials: the message stays in the outbox table and is shown in the log."""

    def send(self, to: str, body: str) -> Delivery:
        log.warning("OUTBOX (no Twilio credentials) SMS to %s: %s", to, body)
        return Delivery("outbox")
