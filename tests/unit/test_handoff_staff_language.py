"""What staff hear and read of a hand-off is in the business's language, and names the
language the customer speaks (in the business's language)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import select

from settle.billing.handoff import describe, record_handoff, spoken_summary
from settle.config import BusinessSettings, Settings
from settle.store.models import Customer, Invoice, Message

SETTINGS = Settings(database_url="sqlite://", public_base_url="https://pay.acme.test")


def _staffed(language: str) -> Settings:
    business = BusinessSettings(
        name="Acme", languages=("en", "es", "fr"), language=language, staff_phone="+14155550199"
    )
    return replace(SETTINGS, business=business)


@pytest.mark.parametrize(
    "staff, expected", [("en", "The customer speaks Spanish."), ("fr", "Le client parle espagnol.")]
)
def test_the_summary_is_in_the_staff_s_language_and_names_the_customer_s(staff, expected):
    detail = {"verified_customer": "C1", "goal": "pay", "language": "es"}
    said = describe(detail, "Ava Ruiz", staff)
    assert said.endswith(expected)
    assert ("The caller is verified" in said) == (staff == "en")
    assert ("L'appelant est vérifié" in said) == (staff == "fr")


def test_a_summary_without_a_language_says_none():
    assert "speaks" not in describe({"verified_customer": "C1"}, "Ava", "en")


def _seed(session) -> None:
    session.add(
        Customer(id="C1", name="Ava", phone="+14155550101", postal_code="94110", language="es")
    )
    session.add(
        Invoice(
            id="INV-1",
            customer_id="C1",
            amount_minor=50000,
            currency="USD",
            issued_on=dt.date(2026, 1, 1),
            due_on=dt.date(2026, 2, 1),
        )
    )


@pytest.mark.parametrize(
    "staff, alert_words, language_words",
    [
        ("en", "a hand-off waits", "The customer speaks Portuguese."),
        ("fr", "un transfert attend", "Le client parle portugais."),
    ],
)
def test_the_whisper_and_the_staff_alert_speak_the_business_s_language(
    store, staff, alert_words, language_words
):
    settings = _staffed(staff)
    with store.unit_of_work() as session:
        _seed(session)
    # The conversation was in Portuguese, though the customer's file says Spanish.
    summary = {"verified_customer": "C1", "invoice": "INV-1", "language": "pt"}
    with store.unit_of_work() as session:
        reference = record_handoff(session, "conversation:t", "asked", summary, settings)
    whisper = spoken_summary(store, str(reference), settings.business.staff_language)
    assert whisper.endswith(language_words)
    with store.unit_of_work() as session:
        (alert,) = [m.body for m in session.scalars(select(Message)) if m.to == "+14155550199"]
    assert alert_words in alert and alert.endswith(language_words)
