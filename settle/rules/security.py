"""The `security:` section of the settings file: how many identity guesses, whose caller ID
counts, how fast a web client may talk. Checked at start-up like the other sections."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settle.core.settings_file import ConfigError, read_settings_file

# Twilio's StirVerstat values that vouch for a caller's number, by attestation level.
ATTESTATIONS = {"A": "TN-Validation-Passed-A", "B": "TN-Validation-Passed-B"}


@dataclass(frozen=True)
class Limit:
    """`misses` failed identity checks within `window_minutes` lock for `lock_minutes`."""

    misses: int
    window_minutes: int
    lock_minutes: int


@dataclass(frozen=True)
class Lockout:
    # One conversation: after these misses it takes no more guesses and hands over.
    conversation: Limit = Limit(3, 24 * 60, 24 * 60)
    # Across conversations, for one invoice number and for the customer who owns it. These
    # lock only the invoice-and-postal-code check, never a proven phone.
    invoice: Limit = Limit(5, 15, 60)
    customer: Limit = Limit(5, 15, 60)
    # One client address on the web channels (REST, socket.io).
    client_address: Limit = Limit(10, 15, 60)

    def limit_for(self, scope: str) -> Limit:
        return getattr(self, scope)


SCOPES = ("conversation", "invoice", "customer", "client_address")


@dataclass(frozen=True)
class SecurityRules:
    lockout: Lockout = field(default_factory=Lockout)
    # Attestation levels whose caller ID identifies a caller: ["A"] (default) or ["A", "B"].
    caller_id_attestations: tuple[str, ...] = ("A",)
    # Messages a minute one client address may send on REST and socket.io.
    web_messages_per_minute: int = 30
    # The longest message any channel passes on; longer ones are answered "too long".
    max_message_chars: int = 2000
    # Conversations idle for longer are deleted by the service's hourly pass.
    conversation_retention_days: int = 90

    def attested(self, stir_verstat: str | None) -> bool:
        return any(
            ATTESTATIONS[level] == (stir_verstat or "").strip()
            for level in self.caller_id_attestations
        )


def security_from_dict(raw: Mapping[str, Any]) -> SecurityRules:
    _unknown(
        raw,
        {
            "lockout",
            "caller_id_attestations",
            "web_messages_per_minute",
            "max_message_chars",
            "conversation_retention_days",
        },
        "security",
    )
    defaults = SecurityRules()
    lockout_raw = raw.get("lockout") or {}
    _mapping(lockout_raw, "security.lockout")
    _unknown(lockout_raw, set(SCOPES), "security.lockout")
    limits: dict[str, Limit] = {}
    for scope in SCOPES:
        given = lockout_raw.get(scope) or {}
        _mapping(given, f"security.lockout.{scope}")
        _unknown(given, {"misses", "window_minutes", "lock_minutes"}, f"security.lockout.{scope}")
        default = defaults.lockout.limit_for(scope)
        limits[scope] = Limit(
            **{
                key: _positive(
                    given.get(key, getattr(default, key)), f"security.lockout.{scope}.{key}"
                )
                for key in ("misses", "window_minutes", "lock_minutes")
            }
        )
    levels = raw.get("caller_id_attestations", list(defaults.caller_id_attestations))
    if (
        not isinstance(levels, list)
        or not levels
        or any(level not in ATTESTATIONS for level in levels)
    ):
        raise ConfigError(f"security.caller_id_attestations must be [A] or [A, B], got {levels!r}")
    return SecurityRules(
        lockout=Lockout(**limits),
        caller_id_attestations=tuple(levels),
        web_messages_per_minute=_positive(
            raw.get("web_messages_per_minute", defaults.web_messages_per_minute),
            "security.web_messages_per_minute",
        ),
        max_message_chars=_positive(
            raw.get("max_message_chars", defaults.max_message_chars), "security.max_message_chars"
        ),
        conversation_retention_days=_positive(
            raw.get("conversation_retention_days", defaults.conversation_retention_days),
            "security.conversation_retention_days",
        ),
    )


def load_security(path: str | None = None) -> SecurityRules:
    """The `security:` section of SETTLE_SETTINGS (or settle.yml); defaults when absent."""
    return security_from_sections(*read_settings_file(path))


def security_from_sections(file: Path, raw: Mapping[str, Any]) -> SecurityRules:
    """The `security:` section of a settings file already read."""
    section = raw.get("security") or {}
    try:
        _mapping(section, "security")
        return security_from_dict(section)
    except ConfigError as error:
        raise ConfigError(f"{file}: {error}") from None


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")
    return value


def _mapping(value: Any, name: str) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping, got {value!r}")


def _unknown(raw: Mapping[str, Any], known: set, name: str) -> None:
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown {name} setting(s): {', '.join(sorted(map(str, unknown)))}")
