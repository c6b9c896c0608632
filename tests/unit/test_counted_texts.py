"""Texts that count something take the language's plural form, whatever the count.

A count that can be 1 has `<key>_one` and `<key>_other` texts (Babel picks the form); a text
with a bare `{count}` only ever counts plan installments, which the policy keeps at 2 or more.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from actions.plan import _choose
from actions.refund import refund_rule_text
from settle.billing.handoff import describe
from settle.core import i18n

LANGUAGES = sorted(i18n.VOICES)
# Texts about a plan's installments: policy.plans.installment_counts are all >= 2.
PLAN_COUNTS = {
    "plan_schedule_even",
    "plan_schedule_uneven",
    "plan_setup_link",
    "installment_reminder",
    "installment_paid",
    "installment_failed",
    "installment_failed_final",
    "page_setup_summary",
    "checkout_installment",
}


def _differ_and_name_the_count(one: str, many: str, count: int) -> None:
    """The text for 1 is not the text for `count` with the number swapped ("1 payments")."""
    assert str(count) in many
    assert one != many.replace(str(count), "1"), one
    assert not re.search(r"\(s\)|\(e\)|\(n\)|\(en\)|\(i\)", one + many), (one, many)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_instalment_count_the_policy_does_not_offer_is_named_in_the_right_form(language):
    offer = SimpleNamespace(options=[SimpleNamespace(count=3), SimpleNamespace(count=6)])
    offer.default = offer.options[0]
    chosen_one, one = _choose(offer, [3, 6], ("count", 1), None, language)
    chosen_many, many = _choose(offer, [3, 6], ("count", 12), None, language)
    assert (chosen_one.count, chosen_many.count) == (3, 6)
    _differ_and_name_the_count(one, many, 12)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_refund_window_of_one_day_is_not_one_days(language):
    def said(days: int) -> str:
        policy = SimpleNamespace(refunds=SimpleNamespace(window_days=days))
        return refund_rule_text(SimpleNamespace(language=language, policy=policy), "outside_window")

    _differ_and_name_the_count(said(1), said(30), 30)
    assert refund_rule_text(SimpleNamespace(language=language), "reason_not_accepted")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_hand_off_summary_counts_failed_verifications_in_the_staffs_language(language):
    one = describe({"failed_verifications": 1}, None, language)
    three = describe({"failed_verifications": 3}, None, language)
    _differ_and_name_the_count(one, three, 3)


def test_every_counted_text_has_both_forms_or_only_counts_plan_installments():
    for language in LANGUAGES:
        messages = i18n.MESSAGES[language]
        for key, template in messages.items():
            stem, _, form = key.rpartition("_")
            if form in ("one", "other") and f"{stem}_one" in messages:
                assert f"{stem}_other" in messages, (language, key)
            elif "{count}" in template:
                assert key in PLAN_COUNTS, f"{language}: {key} counts with one form only"
