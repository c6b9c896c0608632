"""The `policy:` section of the settings file: defaults, conversions, and clear errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from settle.app.reports import explain
from settle.config import ConfigError
from settle.rules.policy import Policy, load_policy, policy_from_dict
from settle.store.models import Customer, Invoice, Payment

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_settings_file_is_valid_and_in_minor_units():
    policy = load_policy(str(ROOT / "settle.yml"))
    assert policy.currency == "USD"
    assert policy.plans.min_balance_minor == 10000  # 100.00
    assert policy.plans.min_installment_minor == 2500
    assert policy.plans.installment_counts == (2, 3, 4, 6)
    assert policy.refunds.auto_approve_limit_minor == 20000
    assert policy.skills.plans and policy.skills.refunds
    assert policy.handoff.phone_for("refunds") == "+14155550100"  # business.support_phone


def test_no_policy_section_means_the_defaults(tmp_path):
    file = tmp_path / "settle.yml"
    file.write_text("business:\n  name: X\n")
    assert load_policy(str(file)) == Policy()


def test_settle_settings_env_is_read(tmp_path, monkeypatch):
    file = tmp_path / "s.yml"
    file.write_text(
        "business:\n  currency: EUR\npolicy:\n  plans:\n    min_balance: 50\n"
        "    min_installment: 10.5\n"
    )
    monkeypatch.setenv("SETTLE_SETTINGS", str(file))
    policy = load_policy()
    assert policy.currency == "EUR"
    assert (policy.plans.min_balance_minor, policy.plans.min_installment_minor) == (5000, 1050)


def test_amounts_follow_the_currency_precision():
    policy = policy_from_dict(
        {"plans": {"min_balance": 10000, "min_installment": 2000}}, currency="JPY"
    )
    assert policy.plans.min_balance_minor == 10000  # yen have no minor unit


def test_handoff_numbers_per_skill_fall_back_to_the_support_phone():
    policy = policy_from_dict(
        {"handoff": {"refunds": "(415) 555-0111", "plans": ""}}, support_phone="+14155550100"
    )
    assert policy.handoff.phone_for("refunds") == "+14155550111"
    assert policy.handoff.phone_for("plans") == "+14155550100"
    assert policy.handoff.phone_for("disputes") == "+14155550100"
    assert (
        policy_from_dict(
            {"handoff": {"default": "+14155550122"}}, support_phone="+14155550100"
        ).handoff.phone_for("plans")
        == "+14155550122"
    )


@pytest.mark.parametrize(
    "section, named",
    [
        ({"plan": {}}, "policy.plan"),
        ({"plans": {"min_balanse": 10}}, "policy.plans.min_balanse"),
        ({"skills": {"refund": True}}, "policy.skills.refund"),
        ({"skills": {"refunds": "yes"}}, "policy.skills.refunds"),
        ({"plans": {"installment_counts": 3}}, "policy.plans.installment_counts"),
        ({"plans": {"installment_counts": [2, "3"]}}, "policy.plans.installment_counts"),
        ({"plans": {"default_count": True}}, "policy.plans.default_count"),
        ({"plans": {"min_balance": "a lot"}}, "policy.plans.min_balance"),
        ({"plans": {"min_balance": 10.001}}, "policy.plans.min_balance"),
        ({"plans": {"interval": "daily"}}, "policy.plans.interval"),
        ({"plans": {"default_count": 5}}, "policy.plans.default_count"),
        ({"plans": {"installment_counts": [1, 2], "default_count": 2}}, "installment_counts"),
        ({"plans": {"max_days": 60}}, "policy.plans.max_days"),
        ({"plans": {"min_balance": 40}}, "policy.plans.min_balance"),
        ({"plans": {"retry_days": 0}}, "policy.plans.retry_days"),
        ({"refunds": {"reasons": ["because"]}}, "policy.refunds.reasons"),
        ({"refunds": {"window_days": 0}}, "policy.refunds.window_days"),
        ({"refunds": {"partial_allowed": 1}}, "policy.refunds.partial_allowed"),
        ({"handoff": {"refunds": "not a phone"}}, "policy.handoff.refunds"),
        ({"handoff": {"billing": "+14155550100"}}, "policy.handoff.billing"),
    ],
)
def test_mistakes_are_errors_that_name_the_key(section, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        policy_from_dict(section)


def test_a_broken_file_names_the_file(tmp_path):
    file = tmp_path / "settle.yml"
    file.write_text("policy:\n  plans:\n    interval: yearly\n")
    with pytest.raises(ConfigError, match=r"settle\.yml: policy\.plans\.interval"):
        load_policy(str(file))


def _customer(session, invoices=((28500, "open"),), payment_days_ago=None):
    session.add(Customer(id="C1", name="Ann", phone="+14155550101", postal_code="94110"))
    for n, (amount, status) in enumerate(invoices, start=1):
        session.add(
            Invoice(
                id=f"INV-{n}",
                customer_id="C1",
                amount_minor=amount,
                currency="USD",
                issued_on=dt.date(2026, 1, 1),
                due_on=dt.date(2026, 2, n),
                status=status,
            )
        )
    session.flush()
    if payment_days_ago is not None:
        for n, days in enumerate(payment_days_ago, start=1):
            session.add(
                Payment(
                    invoice_id="INV-1",
                    amount_minor=5000 * n,
                    currency="USD",
                    provider="sandbox",
                    provider_ref=f"pi_{n}",
                    created_at=NOW - dt.timedelta(days=days),
                )
            )
        session.flush()


NOW = dt.datetime(2026, 3, 1, 15, 0, tzinfo=dt.timezone.utc)


def test_explain_says_which_plans_and_why_not(store):
    with store.unit_of_work() as session:
        _customer(
            session,
            invoices=((28500, "open"), (5000, "open"), (9000, "paid")),
            payment_days_ago=(2, 90),
        )
        report = explain(session, Policy(), "C1", now=NOW)
    by_id = {i["invoice_id"]: i for i in report["invoices"]}
    assert set(by_id) == {"INV-1", "INV-2"}  # open invoices only
    assert by_id["INV-1"]["plans_eligible"] and by_id["INV-1"]["default_count"] == 3
    assert [o["count"] for o in by_id["INV-1"]["options"]] == [2, 3, 4, 6]
    assert (by_id["INV-2"]["plans_eligible"], by_id["INV-2"]["reason"]) == (False, "below_minimum")
    refunds = {p["payment_id"]: p for p in report["payments"]}
    assert [p["payment_id"] for p in report["payments"]] == [1, 2]  # most recent first
    assert (refunds[1]["refund"], refunds[1]["rule"]) == ("approve", "within_policy")
    assert (refunds[2]["refund"], refunds[2]["rule"]) == ("refuse", "outside_window")


def test_explain_one_invoice_and_over_the_limit(store):
    with store.unit_of_work() as session:
        _customer(session, invoices=((28500, "open"), (90000, "open")))
        session.add(
            Payment(
                invoice_id="INV-1",
                amount_minor=25000,
                currency="USD",
                provider="sandbox",
                provider_ref="pi_big",
                created_at=NOW - dt.timedelta(days=1),
            )
        )
        session.flush()
        policy = policy_from_dict({"handoff": {"refunds": "+14155550111"}})
        report = explain(session, policy, "C1", invoice_id="INV-1", now=NOW)
        with pytest.raises(LookupError):
            explain(session, policy, "C1", invoice_id="INV-404", now=NOW)
    assert [i["invoice_id"] for i in report["invoices"]] == ["INV-1"]
    payment = report["payments"][0]
    assert (payment["refund"], payment["rule"], payment["handoff_phone"]) == (
        "person",
        "over_auto_approve_limit",
        "+14155550111",
    )


def test_settle_policy_explain_command(demo_store, monkeypatch, capsys):
    from settle.app.cli import main

    monkeypatch.setenv("DATABASE_URL", str(demo_store.engine.url))
    monkeypatch.delenv("SETTLE_SETTINGS", raising=False)
    assert main(["policy", "explain", "C002", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_id = {i["invoice_id"]: i for i in report["invoices"]}
    assert set(by_id) == {"INV-2001", "INV-2002", "INV-2003"}
    assert by_id["INV-2002"]["reason"] == "below_minimum"  # $95.00 < $100.00
    assert by_id["INV-2003"]["plans_eligible"] and by_id["INV-2003"]["default_count"] == 3

    assert main(["policy", "explain", "C002", "--invoice", "INV-2003"]) == 0
    text = capsys.readouterr().out
    assert "INV-2003 ($310.75 due): plans offered" in text
    assert "3 monthly payments of $103.58 (the first $103.59)" in text
    assert "no payments to refund" in text

    assert main(["policy", "explain", "C002", "--invoice", "INV-2002"]) == 0
    assert "below policy.plans.min_balance" in capsys.readouterr().out
    assert main(["policy", "explain", "NOBODY"]) == 1
    assert "no customer 'NOBODY'" in capsys.readouterr().err


def test_every_command_stops_on_a_policy_mistake(tmp_path, monkeypatch, capsys):
    from settle.app.cli import main

    file = tmp_path / "settle.yml"
    file.write_text("policy:\n  plans:\n    default_count: 5\n")
    monkeypatch.setenv("SETTLE_SETTINGS", str(file))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'settle.db'}")
    assert main(["migrate"]) == 2
    assert "policy.plans.default_count 5 is not one of" in capsys.readouterr().err
