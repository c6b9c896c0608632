"""E-mail through the same outbox as texts: recorded with the change, then sent over SMTP.

SMTP_URL (`smtp://user:pass@host:587?starttls=1`, or `smtps://…` for implicit TLS) and
SMTP_FROM configure it; without SMTP_URL e-mails stay in the outbox, like texts without
Twilio. An e-mail's outbox body is its subject, a blank line, then its text.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy.orm import Session

from settle.adapters.sms import Delivery, DeliveryError
from settle.config import ConfigError
from settle.messaging.delivery import deliver_pending
from settle.messaging.outbox import queue_message
from settle.store.db import Store
from settle.store.models import Message

log = logging.getLogger(__name__)


def compose(subject: str, text: str) -> str:
    """The outbox body of an e-mail: subject, blank line, text."""
    return f"{subject.strip()}\n\n{text}"


def split_body(body: str) -> tuple:
    subject, _, text = body.partition("\n\n")
    return subject, text


class SmtpMailer:
    """Sends over SMTP with the standard library (STARTTLS or implicit TLS when asked)."""

    def __init__(self, url: str, sender: str, timeout: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(
                f"SMTP_URL must look like smtp://user:pass@host:587?starttls=1, got {url!r}"
            )
        if not sender:
            raise ConfigError("SMTP_FROM must be set when SMTP_URL is set")
        query = parse_qs(parts.query)
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.implicit_tls = parts.scheme == "smtps"
        self.starttls = (query.get("starttls") or ["0"])[0].lower() in ("1", "true", "yes")
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout

    def send(self, to: str, body: str) -> Delivery:
        subject, text = split_body(body)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message_id = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["Message-ID"] = message_id
        message.set_content(text)
        try:
            smtp_class = smtplib.SMTP_SSL if self.implicit_tls else smtplib.SMTP
            with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(f"SMTP refused {to}: {error.recipients}", permanent=True) from error
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(
                f"SMTP error {error.smtp_code}: {error.smtp_error!r}",
                permanent=500 <= error.smtp_code < 600,
            ) from error
        except (OSError, smtplib.SMTPException) as error:  # network faults are retried later
            raise DeliveryError(f"SMTP server unreachable: {error}") from error
        return Delivery("sent", message_id)


class EmailOutbox:
    """No SMTP_URL: the e-mail stays in the outbox table and is shown in the log."""

    def send(self, to: str, body: str) -> Delivery:
        log.warning("OUTBOX (no SMTP_URL) e-mail to %s: %s", to, split_body(body)[0])
        return Delivery("outbox")


def mailer_for(smtp_url: str | None, smtp_from: str | None):
    return SmtpMailer(smtp_url, smtp_from or "") if smtp_url else EmailOutbox()


def queue_email(
    session: Session,
    to: str,
    subject: str,
    text: str,
    key: str,
    actor: str,
    customer_id: str | None = None,
    proactive: bool = False,
) -> Message:
    """Record an e-mail to send once per key; refused (and audited) when to has opted out."""
    return queue_message(
        session, "email", to, compose(subject, text), key, actor, customer_id, proactive
    )


def deliver_pending_email(
    store: Store, mailer, limit: int = 100, ids: list[int] | None = None
) -> list[int]:
    """Send queued e-mails (retries, back-off and opt-outs as for texts)."""
    return deliver_pending(store, mailer, limit=limit, ids=ids, channel="email")
