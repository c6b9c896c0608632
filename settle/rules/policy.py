"""The business's rules for plans, refunds and hand-offs, from the `policy:` section of the
settings file (settle.app.reports tells an operator what they mean for a customer).

Amounts are written in major units in the file (`min_balance: 100.00`) and held here in
minor units of business.currency. Everything is validated at start-up: an unknown key, a
wrong type or two settings that contradict each other is a ConfigError naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from settle.core.money import to_minor_units
from settle.core.phones import to_e164
from settle.core.settings_file import ConfigError, read_settings_file

SKILLS = ("payments", "plans", "refunds", "disputes", "reminders")
INTERVALS = {"weekly": 7, "biweekly": 14, "monthly": 31}  # monthly: the longest month
# What a customer can say a refund is for, and the reason Stripe is told.
STRIPE_REFUND_REASONS = {
    "duplicate": "duplicate",
    "fraudulent": "fraudulent",
    "overcharge": "requested_by_customer",
    "service_not_provided": "requested_by_customer",
    "cancelled": "requested_by_customer",
    "other": "requested_by_customer",
}


@dataclass(frozen=True)
class Skills:
    """Which conversations Settle handles itself; a disabled one is handed to a person."""

    payments: bool = True
    plans: bool = True
    refunds: bool = True
    disputes: bool = True
    reminders: bool = True

    def enabled(self, skill: str) -> bool:
        return bool(getattr(self, skill))


@dataclass(frozen=True)
class PlanRules:
    min_balance_minor: int = 10000
    installment_counts: tuple[int, ...] = (2, 3, 4, 6)
    default_count: int = 3
    min_installment_minor: int = 2500
    max_days: int = 180  # from the first installment to the last
    first_due_within_days: int = 0  # 0: the first installment is charged today
    interval: str = "monthly"
    retry_attempts: int = 2  # retries of a failed installment, after the first attempt
    retry_days: int = 3  # days between attempts
    reminder_days_before: int = 3


@dataclass(frozen=True)
class RefundPolicy:
    window_days: int = 60  # after the payment
    auto_approve_limit_minor: int = 20000  # above this a person decides
    partial_allowed: bool = True
    reasons: tuple[str, ...] = ("duplicate", "overcharge", "service_not_provided", "cancelled")
    max_per_customer: int = 2
    period_days: int = 365


@dataclass(frozen=True)
class HandoffRoutes:
    """Where each kind of hand-off goes: a phone per skill, else the business's support line."""

    support_phone: str = ""
    phones: dict[str, str] = field(default_factory=dict)

    def phone_for(self, skill: str) -> str:
        return self.phones.get(skill) or self.support_phone


@dataclass(frozen=True)
class Policy:
    currency: str = "USD"
    skills: Skills = field(default_factory=Skills)
    plans: PlanRules = field(default_factory=PlanRules)
    refunds: RefundPolicy = field(default_factory=RefundPolicy)
    handoff: HandoffRoutes = field(default_factory=HandoffRoutes)


# The file's names for the amounts held in minor units.
_PLAN_AMOUNTS = {"min_balance": "min_balance_minor", "min_installment": "min_installment_minor"}
_REFUND_AMOUNTS = {"auto_approve_limit": "auto_approve_limit_minor"}


def load_policy(path: str | None = None) -> Policy:
    """The `policy:` section of SETTLE_SETTINGS (or settle.yml); defaults when it is absent."""
    return policy_from_sections(*read_settings_file(path))


def policy_from_sections(file: Path, raw: dict[str, Any]) -> Policy:
    """The `policy:` section of a settings file already read (amounts in the business's
    currency, phones in its region)."""
    business = raw.get("business") or {}
    try:
        return policy_from_dict(
            raw.get("policy") or {},
            currency=business.get("currency", "USD"),
            support_phone=business.get("support_phone", ""),
            region=business.get("default_region", "US"),
        )
    except ConfigError as error:
        raise ConfigError(f"{file}: {error}") from None


def policy_from_dict(
    section: dict[str, Any], currency: str = "USD", support_phone: str = "", region: str = "US"
) -> Policy:
    """Build and check a Policy from the parsed `policy:` mapping."""
    _mapping(section, "policy")
    _unknown(section, {"skills", "plans", "refunds", "handoff"}, "policy")

    skills_raw = _mapping(section.get("skills") or {}, "policy.skills")
    _unknown(skills_raw, set(SKILLS), "policy.skills")
    for key, value in skills_raw.items():
        _typed(value, bool, f"policy.skills.{key}")
    skills = Skills(**skills_raw)

    plans = _section(section.get("plans") or {}, PlanRules, _PLAN_AMOUNTS, currency, "policy.plans")
    _check_plans(plans)
    refunds = _section(
        section.get("refunds") or {}, RefundPolicy, _REFUND_AMOUNTS, currency, "policy.refunds"
    )
    _check_refunds(refunds)

    handoff_raw = _mapping(section.get("handoff") or {}, "policy.handoff")
    _unknown(handoff_raw, set(SKILLS) | {"default"}, "policy.handoff")
    phones = {}
    for key, value in handoff_raw.items():
        if value in (None, ""):
            continue
        _typed(value, str, f"policy.handoff.{key}")
        try:
            phones[key] = to_e164(value, region)
        except ValueError as error:
            raise ConfigError(f"policy.handoff.{key}: {error}") from None
    fallback = phones.pop("default", None) or support_phone or ""
    return Policy(
        currency=currency,
        skills=skills,
        plans=plans,
        refunds=refunds,
        handoff=HandoffRoutes(support_phone=fallback, phones=phones),
    )


def _mapping(value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping of settings, got {value!r}")
    return value


def _unknown(section: dict, known: set, name: str) -> None:
    unknown = set(section) - known
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(f'{name}.{k}' for k in sorted(unknown))}"
            f" (known: {', '.join(sorted(known))})"
        )


def _typed(value: Any, expected: type, name: str) -> None:
    # bool is an int in Python; a count of `true` is still a mistake.
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{name} must be a {expected.__name__}, got {value!r}")


def _section(raw: Any, cls, amounts: dict[str, str], currency: str, name: str):
    raw = dict(_mapping(raw, name))
    known = {f.name for f in fields(cls)} - set(amounts.values()) | set(amounts)
    _unknown(raw, known, name)
    defaults = cls()
    values = {}
    for key, value in raw.items():
        if key in amounts:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ConfigError(f"{name}.{key} must be an amount such as 100.00, got {value!r}")
            try:
                values[amounts[key]] = to_minor_units(str(value), currency)
            except ValueError as error:
                raise ConfigError(f"{name}.{key}: {error}") from None
            continue
        expected = type(getattr(defaults, key))
        if expected is tuple:
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{name}.{key} must be a non-empty list, got {value!r}")
            item_type = type(getattr(defaults, key)[0])
            for item in value:
                _typed(item, item_type, f"{name}.{key}[]")
            value = tuple(value)
        else:
            _typed(value, expected, f"{name}.{key}")
        values[key] = value
    return cls(**values)


def _check_plans(rules: PlanRules) -> None:
    name = "policy.plans"
    if rules.interval not in INTERVALS:
        raise ConfigError(
            f"{name}.interval must be one of {', '.join(INTERVALS)}, got {rules.interval!r}"
        )
    if any(count < 2 for count in rules.installment_counts):
        raise ConfigError(
            f"{name}.installment_counts: a plan has at least 2 installments, "
            f"got {list(rules.installment_counts)}"
        )
    if len(set(rules.installment_counts)) != len(rules.installment_counts):
        raise ConfigError(
            f"{name}.installment_counts has a count twice: {list(rules.installment_counts)}"
        )
    if rules.default_count not in rules.installment_counts:
        raise ConfigError(
            f"{name}.default_count {rules.default_count} is not one of "
            f"{name}.installment_counts {list(rules.installment_counts)}"
        )
    for key in ("max_days", "min_installment_minor", "retry_days"):
        if getattr(rules, key) < 1:
            raise ConfigError(f"{name}.{key.replace('_minor', '')} must be at least 1")
    for key in ("first_due_within_days", "retry_attempts", "reminder_days_before"):
        if getattr(rules, key) < 0:
            raise ConfigError(f"{name}.{key} cannot be negative")
    if rules.min_installment_minor * min(rules.installment_counts) > rules.min_balance_minor:
        # Otherwise a balance just above min_balance could never be split.
        raise ConfigError(
            f"{name}.min_balance must be at least min_installment × the smallest "
            f"count ({min(rules.installment_counts)})"
        )
    longest = (max(rules.installment_counts) - 1) * INTERVALS[rules.interval]
    if longest > rules.max_days:
        raise ConfigError(
            f"{name}.max_days ({rules.max_days}) is too short for "
            f"{max(rules.installment_counts)} {rules.interval} installments "
            f"(up to {longest} days): raise max_days or drop that count from installment_counts"
        )


def _check_refunds(policy: RefundPolicy) -> None:
    name = "policy.refunds"
    for key in ("window_days", "period_days"):
        if getattr(policy, key) < 1:
            raise ConfigError(f"{name}.{key} must be at least 1")
    if policy.max_per_customer < 0 or policy.auto_approve_limit_minor < 0:
        raise ConfigError(f"{name}: max_per_customer and auto_approve_limit cannot be negative")
    unknown = set(policy.reasons) - set(STRIPE_REFUND_REASONS)
    if unknown:
        raise ConfigError(
            f"{name}.reasons: unknown reason(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(STRIPE_REFUND_REASONS)})"
        )
