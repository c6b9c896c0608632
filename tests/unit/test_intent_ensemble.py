"""The intent ensemble: DIET's ranking averaged with a logistic regression's, in config.yml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from settle_rasa.intent_ensemble import IntentEnsemble, average_rankings

ROOT = Path(__file__).resolve().parents[2]

EXAMPLES = {
    "pay_invoice": ["i want to pay my bill", "pay my invoice", "i'd like to pay now"],
    "request_refund": ["i want a refund", "give me my money back", "refund my payment"],
    "greet": ["hello", "hi there", "good morning"],
}


def test_the_mean_weighs_both_rankings_and_counts_a_missing_intent_as_zero():
    diet = [{"name": "greet", "confidence": 0.9}, {"name": "pay_invoice", "confidence": 0.1}]
    linear = {"greet": 0.2, "pay_invoice": 0.7, "request_refund": 0.1}
    ranking = average_rankings(diet, linear, weight=0.5)
    assert [r["name"] for r in ranking] == ["greet", "pay_invoice", "request_refund"]
    assert [r["confidence"] for r in ranking] == pytest.approx([0.55, 0.4, 0.05])
    assert all(type(r["confidence"]) is float for r in ranking)
    only_linear = average_rankings([], linear, weight=0.5)
    assert only_linear[0] == {"name": "pay_invoice", "confidence": pytest.approx(0.35)}


@pytest.fixture
def trained(tmp_path):
    """A featurizer and an ensemble trained on EXAMPLES, as `rasa train` would."""
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), "test")
    messages = [
        Message(data={"text": text, "intent": intent})
        for intent, texts in EXAMPLES.items()
        for text in texts
    ]
    data = TrainingData(messages)
    WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process_training_data(data)
    featurizer = CountVectorsFeaturizer.create(
        CountVectorsFeaturizer.get_default_config(), storage, Resource("cvf"), context
    )
    featurizer.train(data)
    featurizer.process_training_data(data)
    resource = Resource("ensemble")
    IntentEnsemble.create(IntentEnsemble.get_default_config(), storage, resource, context).train(
        data
    )
    ensemble = IntentEnsemble.load(IntentEnsemble.get_default_config(), storage, resource, context)

    def parse(text: str, diet_ranking: list[dict]) -> Message:
        message = Message(data={"text": text})
        WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process([message])
        featurizer.process([message])
        message.set("intent", diet_ranking[0] if diet_ranking else None)
        message.set("intent_ranking", diet_ranking)
        return ensemble.process([message])[0]

    parse.ensemble = ensemble  # type: ignore[attr-defined]
    return parse


def test_a_confidently_wrong_diet_guess_is_outvoted_once_the_linear_model_disagrees(trained):
    # DIET is 60/40 for a greeting; the linear model, saved and loaded again, reads a refund.
    message = trained(
        "refund my money",
        [{"name": "greet", "confidence": 0.6}, {"name": "request_refund", "confidence": 0.4}],
    )
    assert message.get("intent")["name"] == "request_refund"
    ranking = message.get("intent_ranking")
    assert ranking[0] == message.get("intent")
    assert {r["name"] for r in ranking} == set(EXAMPLES)
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)


def test_a_sure_diet_guess_the_linear_model_shares_stays_on_top(trained):
    message = trained("hello", [{"name": "greet", "confidence": 0.99}])
    assert message.get("intent")["name"] == "greet"
    assert message.get("intent")["confidence"] > 0.7


def test_the_pipeline_averages_after_diet_and_before_the_fallback_check():
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    pipeline = [step["name"] for step in config["pipeline"]]
    diet = pipeline.index("DIETClassifier")
    assert pipeline[diet + 1] == "settle_rasa.intent_ensemble.IntentEnsemble"
    assert pipeline[diet + 2] == "FallbackClassifier"


def test_an_odd_diet_confidence_counts_as_zero_rather_than_topping_the_ranking():
    diet = [{"name": "greet", "confidence": float("nan")}, {"name": "pay_invoice"}]
    ranking = average_rankings(diet, {"greet": 0.2, "pay_invoice": 0.8}, weight=0.5)
    assert ranking == [
        {"name": "pay_invoice", "confidence": pytest.approx(0.4)},
        {"name": "greet", "confidence": pytest.approx(0.1)},
    ]


def test_a_model_saved_without_the_linear_classifier_keeps_diets_intent(tmp_path):
    # LogisticRegressionClassifier.load falls back to an unfitted model when nothing was
    # saved (no training examples, a lost file): every message would raise NotFittedError.
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), "test")
    config = IntentEnsemble.get_default_config()
    ensemble = IntentEnsemble.load(config, storage, Resource("never_saved"), context)
    message = Message(data={"text": "hello"})
    diet = [{"name": "greet", "confidence": 0.9}]
    message.set("intent", diet[0])
    message.set("intent_ranking", diet)
    ensemble.process([message])
    assert message.get("intent") == diet[0]


def test_a_ranking_length_of_zero_keeps_every_intent(trained):
    trained.ensemble.config["ranking_length"] = 0  # Rasa's "all of them"
    message = trained("hello", [{"name": "greet", "confidence": 0.99}])
    assert message.get("intent")["name"] == "greet"
    assert len(message.get("intent_ranking")) == len(EXAMPLES)
