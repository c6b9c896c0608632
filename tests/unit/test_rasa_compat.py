"""settle_rasa/compat.py: Rasa's check of custom action results, with the schema compiled
once. Driven through `RemoteAction.run`, Rasa's own code path for a custom action call,
with the action server's reply stubbed at the HTTP client."""

from __future__ import annotations

import asyncio
import logging

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from settle_rasa import compat
from settle_rasa.language import LanguageDetector

RASAS_OWN = RemoteAction._validate_action_result

WELL_FORMED = {
    "events": [
        {"event": "slot", "name": "language", "value": "es", "timestamp": None},
        {"event": "followup", "name": "action_pay"},
    ],
    "responses": [{"response": "utter_greet"}, {"text": "Hola"}],
}
MALFORMED = {
    "unknown event": {"events": [{"event": "no_such_event", "name": "x"}]},
    "slot name not a string": {"events": [{"event": "slot", "name": 5, "value": 1}]},
    "events not a list": {"events": {"event": "slot", "name": "language"}},
    "responses not objects": {"events": [], "responses": ["Hola"]},
}


@pytest.fixture
def restore_rasa(monkeypatch):
    """Each test starts from Rasa's own check and leaves it so."""
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RASAS_OWN)
    assert not compat.is_applied(), "Rasa's own check was taken after the patch"


def run_action(monkeypatch, reply: dict) -> list:
    endpoint = EndpointConfig("http://action-server.invalid/webhook")

    async def request(**kwargs):
        return reply

    monkeypatch.setattr(endpoint, "request", request)
    action = RemoteAction("action_pay", endpoint)
    tracker = DialogueStateTracker("someone", [])
    return asyncio.run(
        action.run(
            CollectingOutputChannel(),
            TemplatedNaturalLanguageGenerator({"utter_greet": [{"text": "Hello"}]}),
            tracker,
            Domain.empty(),
        )
    )


def rejection(monkeypatch, reply: dict) -> str:
    with pytest.raises(ValidationError) as raised:
        run_action(monkeypatch, reply)
    return raised.value.message


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_action_response_is_rejected_as_rasa_rejects_it(
    restore_rasa, monkeypatch, case
):
    by_rasa = rejection(monkeypatch, MALFORMED[case])
    assert compat.apply(version="3.6.21")
    assert compat.is_applied()
    assert rejection(monkeypatch, MALFORMED[case]) == by_rasa
    assert "Failed to validate Action server response" in by_rasa


def test_a_well_formed_response_passes(restore_rasa, monkeypatch):
    compat.apply(version="3.6.21")
    events = run_action(monkeypatch, WELL_FORMED)
    assert SlotSet("language", "es") in events
    assert [e.text for e in events if e.type_name == "bot"] == ["Hello", "Hola"]


def test_the_schema_is_checked_once_not_on_every_call(restore_rasa, monkeypatch):
    compat.apply(version="3.6.21")
    validator_class = validator_for(RemoteAction.action_response_format_spec())
    checks = []
    monkeypatch.setattr(validator_class, "check_schema", staticmethod(checks.append))
    for _ in range(3):
        run_action(monkeypatch, WELL_FORMED)
    assert checks == []


def test_another_rasa_version_is_left_untouched(restore_rasa, caplog):
    with caplog.at_level(logging.WARNING, logger="settle_rasa.compat"):
        assert not compat.apply(version="3.7.0")
    assert RemoteAction._validate_action_result is RASAS_OWN
    assert not compat.is_applied()
    assert "Rasa 3.7.0 is not 3.6.x" in caplog.text


def test_applying_twice_changes_nothing(restore_rasa):
    assert compat.apply(version="3.6.21")
    patched = RemoteAction._validate_action_result
    assert compat.apply(version="3.6.21")
    assert RemoteAction._validate_action_result is patched


def test_loading_the_pipeline_applies_it_on_the_installed_rasa(restore_rasa):
    LanguageDetector.create({"languages": ["en"]}, None, None, None)
    assert compat.is_applied()
