"""The opt-out check on top of the model: on a parsed message, and in action_opt_out."""

from __future__ import annotations

from pathlib import Path

import yaml
from rasa.shared.nlu.training_data.message import Message
from sqlalchemy import select

from actions.opt_out import ActionOptOut
from settle.store.models import OptOut
from settle_rasa.language import LanguageDetector
from settle_rasa.opt_out_check import OptOutCheck
from tests.unit.trackers import run, tracker

ROOT = Path(__file__).resolve().parents[2]
ALL = ["en", "es", "fr", "de", "pt", "it"]


def _parsed(text: str, guess: str, confidence: float = 0.82) -> Message:
    """A message as DIET and the fallback classifier leave it, language detected."""
    message = Message(data={"text": text})
    LanguageDetector({"languages": ALL}, spoken=tuple(ALL)).process([message])
    ranking = [
        {"name": guess, "confidence": confidence},
        {"name": "opt_out", "confidence": 0.1},
        {"name": "pay_invoice", "confidence": 0.08},
    ]
    message.set("intent", dict(ranking[0]))
    message.set("intent_ranking", ranking)
    return OptOutCheck().process([message])[0]


def test_a_clear_opt_out_becomes_opt_out_and_keeps_the_models_guess_for_review():
    message = _parsed("no más recordatorios por favor", "request_reminder")
    assert message.get("intent") == {"name": "opt_out", "confidence": 1.0}
    assert [r["name"] for r in message.get("intent_ranking")] == [
        "opt_out",
        "request_reminder",
        "pay_invoice",
    ]
    check = message.get("opt_out_check")
    assert check["outcome"] == "certain"
    assert check["model_intent"] == {"name": "request_reminder", "confidence": 0.82}


def test_an_opt_out_in_a_misjudged_language_is_still_an_opt_out():
    for text in ("chega de lembretes por favor", "non chiamatemi più grazie", "stop texting me"):
        message = _parsed(text, "request_reminder")
        assert message.get("intent")["name"] == "opt_out", text


def test_an_unsure_message_goes_to_the_opt_out_action_marked_unsure():
    message = _parsed("too many reminders", "request_reminder")
    assert message.get("intent")["name"] == "opt_out"
    assert message.get("opt_out_check")["outcome"] == "unsure"


def test_a_model_opt_out_the_rules_are_unsure_of_is_kept_and_marked():
    message = _parsed("zu viele Erinnerungen", "opt_out", 0.7)
    assert message.get("intent") == {"name": "opt_out", "confidence": 0.7}
    assert message.get("opt_out_check")["outcome"] == "unsure"


def test_a_negation_the_model_takes_for_an_opt_out_is_asked_about_never_certain():
    # The trained model reads "don't stop reminding me" as opt_out (0.59).
    for text in (
        "don't stop reminding me",
        "no dejen de recordarme",
        "n'arrêtez pas de me relancer",
    ):
        message = _parsed(text, "opt_out", 0.59)
        assert message.get("intent")["name"] == "opt_out"
        assert message.get("opt_out_check")["outcome"] == "unsure", text


def test_reminder_requests_and_other_messages_are_left_alone():
    for text in ("recuérdame el viernes", "don't stop reminding me", "I want to pay my bill"):
        message = _parsed(text, "request_reminder")
        assert message.get("intent") == {"name": "request_reminder", "confidence": 0.82}
        assert message.get("opt_out_check") is None


def test_the_check_runs_after_the_model_and_its_fallback():
    pipeline = [c["name"] for c in yaml.safe_load((ROOT / "config.yml").read_text())["pipeline"]]
    check = pipeline.index("settle_rasa.opt_out_check.OptOutCheck")
    assert check > pipeline.index("DIETClassifier")
    assert check > pipeline.index("FallbackClassifier")


def test_the_question_and_the_no_exist_in_every_language():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    for response in ("utter_ask_opt_out", "utter_opt_out_declined"):
        languages = {
            c[0]["value"] for v in domain["responses"][response] if (c := v.get("condition"))
        }
        assert languages == {"es", "fr", "de", "pt", "it"}, response
    assert "awaiting_opt_out_confirmation" in domain["slots"]["stage"]["values"]


def test_fallback_intent_messages_are_rescued_too():
    message = _parsed("dejen de llamarme", "nlu_fallback", 0.3)
    assert message.get("intent")["name"] == "opt_out"


def _said_to(text: str, intent: str, outcome: str | None = None, stage: str | None = None):
    """action_opt_out on a signed text from +14155550101, as the pipeline marked it."""
    t = tracker(text, channel="twilio", sender="+14155550101", slots={"stage": stage})
    t.latest_message["intent"] = {"name": intent, "confidence": 1.0}
    if outcome:
        t.latest_message["opt_out_check"] = {"outcome": outcome, "model_intent": {}}
    return run(ActionOptOut(), t)


def _opted_out(app) -> list[str]:
    with app.store.unit_of_work() as session:
        return list(session.scalars(select(OptOut.phone)))


def test_an_unsure_opt_out_is_asked_about_and_a_yes_stops_messages(app):
    said, slots, _ = _said_to("too many reminders", "opt_out", "unsure")
    assert said == ["utter_ask_opt_out"] and slots == {"stage": "awaiting_opt_out_confirmation"}
    assert _opted_out(app) == []
    said, slots, _ = _said_to("yes", "affirm", stage="awaiting_opt_out_confirmation")
    assert said == ["utter_opted_out"] and slots["stage"] is None
    assert _opted_out(app) == ["+14155550101"]


def test_an_unsure_opt_out_answered_no_changes_nothing(app):
    said, slots, _ = _said_to("no", "deny", stage="awaiting_opt_out_confirmation")
    assert said == ["utter_opt_out_declined"] and slots["stage"] is None
    assert _opted_out(app) == []


def test_a_certain_opt_out_stops_messages_without_a_question(app):
    said, _, _ = _said_to("no more reminders please", "opt_out", "certain")
    assert said == ["utter_opted_out"]
    assert _opted_out(app) == ["+14155550101"]


def test_an_answer_as_unsure_as_the_wish_is_asked_again(app):
    said, slots, _ = _said_to(
        "fewer texts", "opt_out", "unsure", stage="awaiting_opt_out_confirmation"
    )
    assert said == ["utter_ask_opt_out"] and _opted_out(app) == []
