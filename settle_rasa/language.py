"""NLU component: the language of each message, as the message property `language`.

Added to the pipeline in config.yml; `action_validate_slot_mappings`
(actions/conversation_language.py) moves it into the `language` slot, which picks the
responses' variations. Messages too short or mixed to tell leave the property unset, so
"ok" or "sí" never flip the language.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from settle.understanding.language_detection import detect_language
from settle_rasa import compat

LANGUAGE = "language"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class LanguageDetector(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"languages": ["en"]}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        # Every model Settle loads builds this component: Rasa's extension point for the one
        # compatibility patch (settle_rasa/compat.py), in `rasa run`, `shell` and `test`.
        compat.apply()
        return cls(config)

    def __init__(self, config: dict[str, Any]) -> None:
        self.languages = tuple(config.get("languages") or ["en"])

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            found = detect_language(message.get(TEXT) or "", self.languages)
            if found is not None:
                message.set(
                    LANGUAGE,
                    {
                        "code": found.language,
                        "confidence": found.confidence,
                        "explicit": found.explicit,
                    },
                    add_to_output=True,
                )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
