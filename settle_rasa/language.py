"""NLU component: the language of each message, as the message property `language` and,
when it is one the business speaks (settle.yml business.languages), as a `language` entity.

Added to the pipeline in config.yml. The domain maps the entity into the `language` slot,
which picks the responses' variations: Rasa's own slot mapping, so no custom action runs
on each message. Messages too short or mixed to tell carry neither, so "ok" or "sí" never
flip the language.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from settle.config import load_business_settings
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

    def __init__(self, config: dict[str, Any], spoken: tuple[str, ...] | None = None) -> None:
        self.languages = tuple(config.get("languages") or ["en"])
        # The languages the business answers in; read when first needed, not at import.
        self._spoken = spoken

    @property
    def spoken(self) -> tuple[str, ...]:
        if self._spoken is None:
            self._spoken = tuple(load_business_settings().languages)
        return self._spoken

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            found = detect_language(text, self.languages)
            if found is None:
                continue
            message.set(
                LANGUAGE,
                {
                    "code": found.language,
                    "confidence": found.confidence,
                    "explicit": found.explicit,
                },
                add_to_output=True,
            )
            if found.language in self.spoken:
                entity = {
                    ENTITY_ATTRIBUTE_TYPE: LANGUAGE,
                    ENTITY_ATTRIBUTE_VALUE: found.language,
                    ENTITY_ATTRIBUTE_START: 0,
                    ENTITY_ATTRIBUTE_END: len(text),
                    EXTRACTOR: type(self).__name__,
                }
                others = [e for e in message.get(ENTITIES, []) if e.get("entity") != LANGUAGE]
                message.set(ENTITIES, [*others, entity], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
