"""The conversation's language moves by Rasa's own slot mapping, not a custom action per
message: the detector marks a clear message with a `language` entity the domain maps."""

from __future__ import annotations

from pathlib import Path

import yaml
from rasa.shared.nlu.training_data.message import Message

from settle_rasa.language import LanguageDetector

ROOT = Path(__file__).resolve().parents[2]
ALL = ["en", "es", "fr", "de", "pt", "it"]


def _entities(text: str, spoken=("en", "es")) -> list[dict]:
    message = Message(data={"text": text})
    LanguageDetector({"languages": ALL}, spoken=tuple(spoken)).process([message])
    return message.get("entities", [])


def test_a_clear_message_carries_its_language_as_an_entity():
    [entity] = _entities("Hola, quiero pagar mi factura por favor")
    assert (entity["entity"], entity["value"]) == ("language", "es")
    assert _entities("en español por favor")[0]["value"] == "es"


def test_short_unclear_or_unspoken_languages_set_nothing():
    assert _entities("ok") == []
    assert _entities("sí") == []
    # French is detected, but this business does not answer in French: the slot stays.
    message = Message(data={"text": "Bonjour, je voudrais payer ma facture s'il vous plaît"})
    LanguageDetector({"languages": ALL}, spoken=("en", "es")).process([message])
    assert message.get("language")["code"] == "fr" and message.get("entities", []) == []


def test_the_detector_keeps_other_entities_and_replaces_a_forged_language():
    message = Message(
        data={
            "text": "Hola, quiero pagar mi factura por favor",
            "entities": [{"entity": "keypad", "value": "1"}, {"entity": "language", "value": "xx"}],
        }
    )
    LanguageDetector({"languages": ALL}, spoken=("en", "es")).process([message])
    assert sorted((e["entity"], e["value"]) for e in message.get("entities")) == [
        ("keypad", "1"),
        ("language", "es"),
    ]


def test_the_domain_maps_the_entity_and_no_custom_action_runs_per_message():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    assert domain["slots"]["language"]["mappings"] == [
        {"type": "from_entity", "entity": "language"}
    ]
    assert {"language": {"influence_conversation": False}} in domain["entities"]
    # Rasa calls action_validate_slot_mappings after every message when the domain lists it.
    assert "action_validate_slot_mappings" not in domain["actions"]
