"""The conversation's language without custom actions: the detector marks a clear message
with a `language` entity the domain maps into the slot; until one does, the session speaks
the language its first message brought; responses are rendered in it in the Rasa process."""

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
    # Rasa calls action_validate_slot_mappings after every message when the domain lists it,
    # and a custom action_session_start at each new conversation: Rasa's own does now.
    assert "action_validate_slot_mappings" not in domain["actions"]
    assert "action_session_start" not in domain["actions"]


def test_the_answering_language_is_chosen_then_started_then_on_file_then_the_first():
    from settle.understanding.language_detection import ON_FILE, answering_language

    spoken = ("en", "es", "fr")
    on_file = {ON_FILE: "fr"}
    assert answering_language("es", {"language": "en"}, on_file, True, spoken) == "es"  # chosen
    assert answering_language(None, {"language": "es-MX"}, on_file, True, spoken) == "es"
    assert answering_language(None, {}, on_file, True, spoken) == "fr"  # proven number's
    assert answering_language(None, {}, on_file, False, spoken) == "en"  # unproven: nothing
    assert answering_language(None, {"language": "de"}, None, False, spoken) == "en"
    assert answering_language("xx", "not a dict", "nor this", True, spoken) == "en"
    assert answering_language(None, None, None, False, ("es", "en")) == "es"


def test_responses_are_rendered_in_the_language_with_the_business_facts(app):
    import asyncio
    from dataclasses import replace

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SessionStarted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from settle_rasa.responses import SettleResponses

    app.settings = replace(
        app.settings, business=replace(app.settings.business, languages=tuple(ALL))
    )
    domain = Domain.load(str(ROOT / "domain.yml"))
    nlg = SettleResponses(domain=domain)

    def greeting(*events) -> str:
        tracker = DialogueStateTracker.from_events("c1", list(events), domain.slots)
        return asyncio.run(nlg.generate("utter_greet", tracker, "rest"))["text"]

    business = app.settings.business.name
    assert greeting().startswith(f"Hello! I'm the automated assistant for {business}.")
    started_es = UserUttered("hi", metadata={"language": "es"})
    assert greeting(started_es).startswith(f"¡Hola! Soy el asistente automatizado de {business}")
    assert greeting(started_es, SlotSet("language", "fr")).startswith("Bonjour!")
    # A new session starts over from its own first message.
    later = [started_es, SessionStarted(), UserUttered("hi", metadata={"language": "de"})]
    assert greeting(*later).startswith("Guten Tag!")
    assert greeting(*later, UserUttered("ok", metadata={"language": "es"})).startswith("Guten")
    # A response an action fills keeps its own values, in the same language.
    tracker = DialogueStateTracker.from_events("c1", [started_es], domain.slots)
    said = asyncio.run(
        nlg.generate("utter_nothing_to_pay", tracker, "rest", invoice_number="INV-9")
    )
    assert "INV-9" in said["text"] and "{" not in said["text"]
