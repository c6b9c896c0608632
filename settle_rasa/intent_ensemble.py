"""NLU component: DIET's intent ranking averaged with a logistic regression's.

Placed after DIETClassifier and before FallbackClassifier in config.yml. Both classifiers read
the same word and character n-gram features, but they err differently: DIET is confident and
sometimes confidently wrong on phrasings unlike its training data, the linear model is softer
and steadier. Their mean, with equal weights, is right more often than either alone on both
test sets (docs/understanding.md, "Ensemble"), and the fallback threshold then applies to the
mean, so an utterance the two disagree on is asked about again rather than acted on.

DIET reports its 10 best intents (its `ranking_length`); the other intents count as 0 on
its side, which is what DIET gives them within rounding.

The linear model is Rasa's own LogisticRegressionClassifier (trained, saved and loaded by
Rasa); only how its probabilities meet DIET's is new here.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import RANKING_LENGTH

logger = logging.getLogger(__name__)


def _confidence(value: Any) -> float:
    """A ranking's confidence as a float; missing, NaN or infinite counts as 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def average_rankings(first: list[dict], second: dict[str, float], weight: float) -> list[dict]:
    """The intents of both rankings, by `weight` × first + (1 − weight) × second, best first.

    An intent missing from a ranking, or a confidence that is missing or not a finite
    number, counts as confidence 0 there. Confidences come out as plain floats (the linear
    model's are numpy floats, which JSON can't write).
    """
    scores = dict.fromkeys(second, 0.0)
    scores.update({r[INTENT_NAME_KEY]: 0.0 for r in first})
    for r in first:
        scores[r[INTENT_NAME_KEY]] += weight * _confidence(r.get("confidence"))
    for name, confidence in second.items():
        scores[name] += (1.0 - weight) * _confidence(confidence)
    ranking = [{INTENT_NAME_KEY: n, "confidence": c} for n, c in scores.items()]
    return sorted(ranking, key=lambda r: -r["confidence"])


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentEnsemble(LogisticRegressionClassifier):
    _warned = False  # about a missing linear model, once a process

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **LogisticRegressionClassifier.get_default_config(),
            # lbfgs needs more than the default 100 steps on ~5,000 examples × 20k features.
            "max_iter": 1000,
            # DIET's share of the mean; the linear model has the rest.
            "diet_weight": 0.5,
        }

    def process(self, messages: list[Message]) -> list[Message]:
        if not messages:
            return messages
        if not hasattr(self.clf, "classes_"):  # nothing was trained or saved: DIET decides
            if not self._warned:
                logger.warning("%s has no trained linear model; DIET's ranking stands", self.name)
            self._warned = True
            return messages
        probabilities = self.clf.predict_proba(self._create_X(messages))
        for message, row in zip(messages, probabilities, strict=True):
            linear = dict(zip(self.clf.classes_, row, strict=True))
            ranking = average_rankings(
                message.get(INTENT_RANKING_KEY) or [], linear, self.config["diet_weight"]
            )
            if self.config[RANKING_LENGTH] > 0:  # 0: all of them, as in Rasa's classifiers
                ranking = ranking[: self.config[RANKING_LENGTH]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # Nothing after it in the pipeline trains on intents predicted for the training data.
        return training_data
