"""Configuration, loaded once: the environment variables (the contract) and the business
settings file (settle.yml: business, policy, reminders, security), checked together."""

from __future__ import annotations

import ipaddress
import logging
import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settle.core import i18n
from settle.core.phones import to_e164
from settle.core.settings_file import PROJECT_ROOT, ConfigError, read_settings_file
from settle.rules.cadence import ReminderCadence, cadence_from_sections
from settle.rules.invoice_numbers import InvoiceNumbers, parse_invoice_numbers
from settle.rules.opening_hours import OpeningHours, parse_hours
from settle.rules.policy import Policy, policy_from_sections
from settle.rules.security import SecurityRules, security_from_sections
from settle.sync.settings import SyncSettings, sync_from

__all__ = [
    "PROJECT_ROOT",
    "allowed_origins",
    "BusinessSettings",
    "ConfigError",
    "Settings",
    "load_business_settings",
    "log_level",
    "read_settings_file",
    "redis_url",
    "tracker_database_url",
]

DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "settle.db"


def tracker_database_url() -> str:
    """Where Rasa keeps conversations: TRACKER_DATABASE_URL, else a non-SQLite DATABASE_URL,
    else a SQLite file under var/."""
    explicit = os.environ.get("TRACKER_DATABASE_URL", "").strip()
    if explicit:
        return explicit
    billing = os.environ.get("DATABASE_URL", "").strip()
    if billing and not billing.startswith("sqlite"):
        return billing
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'conversations.db'}"


def allowed_origins() -> str:
    """SETTLE_ALLOWED_ORIGINS: the site a browser may talk to Rasa from (`rasa run --cors`),
    or "*" for any."""
    return os.environ.get("SETTLE_ALLOWED_ORIGINS", "").strip() or "*"


def redis_url() -> str | None:
    """REDIS_URL: the Redis that Rasa's workers share (locks, voice calls, socket rooms);
    None on one machine, where everything stays in one process."""
    return os.environ.get("REDIS_URL", "").strip() or None


# The names Rasa understands too: `rasa run` reads LOG_LEVEL itself (rasa.utils.common).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level() -> int:
    """LOG_LEVEL as a logging level (any case; INFO when unset)."""
    raw = os.environ.get("LOG_LEVEL", "").strip()
    name = raw.upper() or "INFO"
    if name not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return logging.getLevelName(name)


@dataclass(frozen=True)
class BusinessSettings:
    """The business's rules, read from the settings file (see settle.yml)."""

    name: str = "Settle Demo Services"
    currency: str = "USD"
    default_region: str = "US"
    languages: tuple = ("en",)
    support_phone: str = ""
    checkout_link_minutes: int = 60 * 24
    invoices_read_back: int = 5
    # Our phone numbers whose callers hear another language first, e.g. {"+14155550123": "es"}.
    line_languages: dict = field(default_factory=dict)
    # A customer's clock when their own time zone is missing or unknown (settle.core.clock).
    timezone: str = "America/New_York"
    # The language of what the business's own staff hear and read (hand-off summaries);
    # empty: the first of `languages`.
    language: str = ""
    # Where staff are alerted to a new work-queue item (settle.messaging.staff); empty: nowhere.
    staff_email: str = ""
    staff_phone: str = ""  # E.164
    # When the team answers hand-offs, in `timezone` (settle.rules.opening_hours); None: always.
    hours: OpeningHours | None = None
    # The shapes of the business's invoice numbers (settle.rules.invoice_numbers).
    invoice_numbers: InvoiceNumbers = field(default_factory=InvoiceNumbers)

    @property
    def staff_language(self) -> str:
        return self.language or self.languages[0]


@dataclass(frozen=True)
class Settings:
    """Everything Settle reads from its environment, parsed once."""

    database_url: str
    public_base_url: str = "http://localhost:5055"
    stripe_api_key: str | None = field(default=None, repr=False)  # a secret: never printed
    stripe_webhook_secret: str | None = field(default=None, repr=False)  # a secret: never printed
    stripe_api_base: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)  # a secret: never printed
    twilio_from_number: str | None = None
    twilio_api_base: str | None = None
    twilio_voice_url: str = "http://localhost:5005/webhooks/twilio_voice/webhook"
    rasa_url: str = "http://localhost:5005"
    rasa_public_url: str = "http://localhost:5005"
    # The private key the service signs Rasa API calls with (settle.access.rasa_api).
    rasa_jwt_key_file: Path | None = None
    # E-mail reminders: smtp://user:pass@host:587?starttls=1; absent -> e-mails stay in the outbox.
    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    smtp_from: str | None = None
    # Only the Rasa server knows it: it sends it to the action endpoint (endpoints.yml
    # headers) and seals the channels' proofs of identity with it.
    action_secret: str | None = field(default=None, repr=False)  # a secret: never printed
    # SETTLE_DEV_MODE=1 (`make run`): requests from this machine may skip signatures.
    dev_mode: bool = False
    # Interim operator access to /outbox (Authorization: Bearer …).
    operator_token: str | None = field(default=None, repr=False)  # a secret: never printed
    # The billing-system API's key from the environment (audited as "api:env").
    api_key: str | None = field(default=None, repr=False)  # a secret: never printed
    # Proxies whose X-Forwarded-For is believed (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()
    # SETTLE_SANDBOX_DECLINE=1 declines the sandbox's installment charges (demos, tests).
    sandbox_decline_off_session: bool = False
    # How often the service runs a plan pass, and a reminder pass (0: never; cron runs
    # `settle reminders run` instead).
    plan_interval_seconds: float = 300.0
    reminder_interval_seconds: float = 60.0
    # The Twilio <Pay> connector (Stripe) for card payments by keypad.
    twilio_pay_connector: str = "Default"
    # Twilio waits 15 s for a call's answer; leave room for the network both ways.
    voice_turn_seconds: float = 10.0
    # The internal Prometheus listener of the Settle service (0: none); never the public port.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9105
    business: BusinessSettings = field(default_factory=BusinessSettings)
    # The business's rules for plans, refunds and hand-offs (settle.yml `policy:`).
    policy: Policy = field(default_factory=Policy)
    # The reminder rules: steps, contact hours, caps (settle.yml `reminders:`).
    cadence: ReminderCadence = field(default_factory=ReminderCadence)
    # Who may do what: lockout limits, attestation levels, web rate (settle.yml `security:`).
    security: SecurityRules = field(default_factory=SecurityRules)
    # The billing system's endpoints for events, and their signing secret (settle.sync).
    sync: SyncSettings = field(default_factory=SyncSettings)

    def required(self, name: str) -> str:
        """A setting this deployment cannot run without (a credential): its value, or a
        ConfigError naming its environment variable."""
        value = getattr(self, name)
        if not value:
            raise ConfigError(f"{name.upper()} is not set")
        return str(value)

    @property
    def uses_stripe(self) -> bool:
        return bool(self.stripe_api_key)

    @property
    def uses_twilio(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731
        settings = cls(
            database_url=get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}",
            public_base_url=(get("PUBLIC_BASE_URL") or "http://localhost:5055").rstrip("/"),
            stripe_api_key=get("STRIPE_API_KEY"),
            stripe_webhook_secret=get("STRIPE_WEBHOOK_SECRET"),
            stripe_api_base=get("STRIPE_API_BASE"),
            twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_from_number=get("TWILIO_FROM_NUMBER"),
            twilio_api_base=get("TWILIO_API_BASE"),
            twilio_voice_url=get("TWILIO_VOICE_URL")
            or "http://localhost:5005/webhooks/twilio_voice/webhook",
            rasa_url=(get("RASA_URL") or "http://localhost:5005").rstrip("/"),
            rasa_jwt_key_file=Path(key_file) if (key_file := get("RASA_JWT_KEY_FILE")) else None,
            rasa_public_url=(
                get("RASA_PUBLIC_URL") or get("RASA_URL") or "http://localhost:5005"
            ).rstrip("/"),
            smtp_url=get("SMTP_URL"),
            smtp_from=get("SMTP_FROM"),
            action_secret=get("SETTLE_ACTION_SECRET"),
            dev_mode=_flag(get("SETTLE_DEV_MODE"), "SETTLE_DEV_MODE"),
            operator_token=get("SETTLE_OPERATOR_TOKEN"),
            api_key=get("SETTLE_API_KEY"),
            trusted_proxies=_addresses(get("SETTLE_TRUSTED_PROXIES"), "SETTLE_TRUSTED_PROXIES"),
            sandbox_decline_off_session=get("SETTLE_SANDBOX_DECLINE") == "1",
            plan_interval_seconds=_seconds(
                get("SETTLE_PLAN_INTERVAL_SECONDS"), 300.0, "SETTLE_PLAN_INTERVAL_SECONDS"
            ),
            reminder_interval_seconds=_seconds(
                get("SETTLE_REMINDER_INTERVAL_SECONDS"), 60.0, "SETTLE_REMINDER_INTERVAL_SECONDS"
            ),
            twilio_pay_connector=get("TWILIO_PAY_CONNECTOR") or "Default",
            voice_turn_seconds=_seconds(
                get("SETTLE_VOICE_TURN_SECONDS"), 10.0, "SETTLE_VOICE_TURN_SECONDS"
            ),
            metrics_host=get("SETTLE_METRICS_HOST") or "127.0.0.1",
            metrics_port=_port(get("SETTLE_METRICS_PORT"), 9105, "SETTLE_METRICS_PORT"),
            **_settings_file_sections(
                get("SETTLE_SETTINGS"), get("SETTLE_SYNC_URL"), get("SETTLE_SYNC_SECRET")
            ),
        )
        if settings.smtp_url and not settings.smtp_from:
            raise ConfigError("SMTP_FROM must be set when SMTP_URL is set")
        if settings.uses_twilio and not settings.twilio_from_number:
            raise ConfigError("TWILIO_FROM_NUMBER must be set when Twilio credentials are set")
        return settings


def _flag(value: str | None, name: str) -> bool:
    if value is None or value.lower() in ("0", "false", "no", "off"):
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {value!r}")


def _seconds(value: str | None, default: float, name: str) -> float:
    """A number of seconds (fractions allowed); the default when unset."""
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}") from None


def _port(value: str | None, default: int, name: str) -> int:
    """A TCP port; 0 turns the listener off."""
    if value is None:
        return default
    if not value.isdigit() or int(value) > 65535:
        raise ConfigError(f"{name} must be a port number (0 for none), got {value!r}")
    return int(value)


def _addresses(value: str | None, name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks (10.0.0.0/8)."""
    found = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    for part in found:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ConfigError(f"{name}: {part!r} is not an IP address or network") from None
    return found


def _settings_file_sections(
    path: str | None, sync_urls: str | None, sync_secret: str | None
) -> dict[str, Any]:
    """Every section of the settings file, read once and checked (with the environment's
    sync endpoints, which win over the file's)."""
    file, raw = read_settings_file(path)
    return {
        "business": business_from_sections(file, raw),
        "policy": policy_from_sections(file, raw),
        "cadence": cadence_from_sections(file, raw),
        "security": security_from_sections(file, raw),
        "sync": sync_from(sync_urls, sync_secret, file, raw),
    }


def load_business_settings(path: str | None = None) -> BusinessSettings:
    """The `business:` section of the settings file (see read_settings_file)."""
    return business_from_sections(*read_settings_file(path))


def business_from_sections(file: Path, raw: dict[str, Any]) -> BusinessSettings:
    """The `business:` section of a settings file already read."""
    business = dict(raw.get("business") or {})
    if "max_verification_attempts" in business:
        raise ConfigError(
            f"{file}: business.max_verification_attempts has moved to "
            "security.lockout.conversation.misses"
        )
    known = set(BusinessSettings.__dataclass_fields__)
    unknown = set(business) - known
    if unknown:
        raise ConfigError(f"{file}: unknown business setting(s): {', '.join(sorted(unknown))}")
    if "languages" in business:
        business["languages"] = tuple(business["languages"])
    hours = parse_hours(business.pop("hours", None), f"{file}: business.hours")
    numbers = parse_invoice_numbers(
        business.pop("invoice_numbers", None), f"{file}: business.invoice_numbers"
    )
    defaults = BusinessSettings()
    for key, value in business.items():
        expected = type(getattr(defaults, key))
        if not isinstance(value, expected):
            raise ConfigError(
                f"{file}: business.{key} must be a {expected.__name__}, got {value!r}"
            )
    if "timezone" in business:
        try:
            zoneinfo.ZoneInfo(business["timezone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ConfigError(
                f"{file}: business.timezone {business['timezone']!r} is not an IANA time zone "
                "(e.g. America/Chicago)"
            ) from error
    if business.get("language") and business["language"] not in i18n.MESSAGES:
        raise ConfigError(
            f"{file}: business.language {business['language']!r} is not one Settle speaks "
            f"({', '.join(sorted(i18n.MESSAGES))})"
        )
    _check_staff_contact(file, business, business.get("default_region", defaults.default_region))
    for number, language in business.get("line_languages", {}).items():
        if language not in business.get("languages", defaults.languages):
            raise ConfigError(
                f"{file}: business.line_languages[{number}] is {language!r}, "
                "which is not one of business.languages"
            )
    return BusinessSettings(**business, hours=hours, invoice_numbers=numbers)


def _check_staff_contact(file: Path, business: dict[str, Any], region: str) -> None:
    """business.staff_phone in E.164 (as phonenumbers reads it), business.staff_email with an @."""
    email = business.get("staff_email", "").strip()
    local, _, domain = email.partition("@")
    if email and (not local or not domain or any(c.isspace() for c in email)):
        raise ConfigError(f"{file}: business.staff_email {email!r} is not an e-mail address")
    if business.get("staff_phone", "").strip():
        try:
            business["staff_phone"] = to_e164(business["staff_phone"], region)
        except ValueError as error:
            raise ConfigError(f"{file}: business.staff_phone: {error}") from None
    business["staff_email"] = email
