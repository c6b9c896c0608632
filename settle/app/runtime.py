"""The wired-up application: settings, billing store, payment gateway and SMS sender.

Built once per process on first use (never at import), from the environment by default;
tests hand in their own with `use()`.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from settle.adapters.payments import PaymentGateway, SandboxGateway, StripeGateway
from settle.adapters.sms import ConsoleOutbox, SmsSender, TwilioSms
from settle.config import Settings
from settle.core.clock import use_business_timezone
from settle.messaging.delivery import deliver_pending
from settle.reminders.contact_rules import contact_hours
from settle.rules.cadence import ReminderCadence
from settle.rules.policy import Policy
from settle.rules.security import SecurityRules
from settle.store.db import Store
from settle.sync.outbox import attach as attach_sync

log = logging.getLogger(__name__)


@dataclass
class Settle:
    settings: Settings
    store: Store
    gateway: PaymentGateway
    sms: SmsSender
    # The e-mail sender: SMTP_URL, else the outbox.
    email: Any = None
    _courier: _Courier | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        use_business_timezone(self.settings.business.timezone)
        attach_sync(self.store, self.settings.sync)  # money changes write their events
        if self.email is None:
            from settle.adapters.email import mailer_for

            self.email = mailer_for(self.settings.smtp_url, self.settings.smtp_from)

    # The business's rules, as the one Settings holds them (settle.yml).
    @property
    def policy(self) -> Policy:
        return self.settings.policy

    @property
    def cadence(self) -> ReminderCadence:
        return self.settings.cadence

    @property
    def security(self) -> SecurityRules:
        return self.settings.security

    @classmethod
    def from_settings(cls, settings: Settings, store: Store | None = None) -> Settle:
        """The application the settings describe (on `store`, when the caller has one open)."""
        if settings.uses_stripe:
            gateway: PaymentGateway = StripeGateway(
                settings.required("stripe_api_key"), settings.stripe_api_base
            )
        else:
            gateway = SandboxGateway(
                settings.public_base_url, decline_off_session=settings.sandbox_decline_off_session
            )
        if settings.uses_twilio:
            sms: SmsSender = TwilioSms(
                settings.required("twilio_account_sid"),
                settings.required("twilio_auth_token"),
                settings.required("twilio_from_number"),
                settings.twilio_api_base,
                status_callback=f"{settings.public_base_url}/webhooks/twilio/status",
            )
        else:
            sms = ConsoleOutbox()
        return cls(settings, store or Store.connect(settings.database_url), gateway, sms)

    def describe(self) -> str:
        return (
            f"payments: {self.gateway.provider}, "
            f"messages: {'twilio' if isinstance(self.sms, TwilioSms) else 'outbox'}, "
            f"database: {self.store.engine.url.render_as_string(hide_password=True)}"
        )

    def deliver_messages(self, now: dt.datetime | None = None) -> None:
        """Send what the outbox holds that is due at `now` (the clock by default)."""
        hours = contact_hours(self.cadence)
        deliver_pending(self.store, self.sms, hours=hours, now=now)
        deliver_pending(self.store, self.email, channel="email", hours=hours, now=now)

    def request_delivery(self) -> None:
        """What a conversation turn or a webhook queued goes out now, from this process's
        courier thread: the request that queued it does not wait for Twilio or SMTP."""
        self._courier_thread().wake()

    def in_background(self, job: Callable[[], object]) -> None:
        """Run `job` on the courier thread, then deliver what it queued: a webhook's
        follow-up (charging a plan's first installment, a decline's pay-by-hand link,
        telling a web chat its payment arrived) never holds Stripe's request open. The
        charge and the decline notice are also done by the next plan pass, so a restart
        before they run loses nothing; the web chat's notice is only a courtesy (the
        receipt text goes through the outbox) and is not retried."""
        self._courier_thread().run_soon(job)

    def _courier_thread(self) -> _Courier:
        with _lock:
            if self._courier is None:
                self._courier = _Courier(self.deliver_messages)
            return self._courier


def job_name(job: Callable[[], object]) -> str:
    """A job's function name, for the log: never its arguments (settings hold secrets,
    events hold customers' details)."""
    return str(getattr(getattr(job, "func", job), "__name__", type(job).__name__))


class _Courier:
    """One background thread a process: runs the jobs handed to it, then delivers
    (coalescing wake-ups)."""

    def __init__(self, deliver: Callable[[], None]) -> None:
        self._deliver, self._wanted = deliver, threading.Event()
        self._jobs: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="settle-courier", daemon=True).start()

    def wake(self) -> None:
        self._wanted.set()

    def run_soon(self, job: Callable[[], object]) -> None:
        self._jobs.put(job)
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            while not self._jobs.empty():
                job = self._jobs.get()
                try:
                    job()
                except Exception:
                    log.exception("Background job %s failed", job_name(job))
            try:
                self._deliver()
            except Exception:
                log.exception("Message delivery failed")


_current: Settle | None = None
_lock = threading.Lock()


def current() -> Settle:
    global _current
    with _lock:
        if _current is None:
            _current = Settle.from_settings(Settings.from_env())
            log.info("Settle ready (%s)", _current.describe())
        return _current


def use(app: Settle | None) -> None:
    """Replace the process's application (tests), or reset it with None."""
    global _current
    with _lock:
        _current = app
