"""NLU component: opt-outs checked by per-language rules on top of the model's guess.

Placed after the classifiers in config.yml. When the rules (settle.understanding.opt_out_rules)
are certain, the message's intent is `opt_out` whatever the model guessed ("no more
reminders" often reads as a reminder request); when they are unsure ("too many reminders"),
it is `opt_out` too, and the action asks "Do you want us to stop contacting you?" first —
as it does when the model hears an opt-out in "don't stop reminding me".
Either way the message carries `opt_out_check` (the outcome and the model's own guess, for
review), and the model's ranking stays below the new top intent.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from settle.understanding import opt_out_rules

OPT_OUT = "opt_out"
# The message property the action reads (actions/opt_out.py): {"outcome", "model_intent"}.
CHECK = "opt_out_check"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class OptOutCheck(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> OptOutCheck:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._check(message)
        return messages

    def _check(self, message: Message) -> None:
        # Every language's rules: a short message's language is often misjudged ("chega de
        # lembretes por favor" reads as Spanish), and no opt-out may be lost to that.
        text = message.get(TEXT) or ""
        outcome = opt_out_rules.check(text)
        guess = dict(message.get(INTENT) or {})
        if outcome is None and guess.get("name") == OPT_OUT and opt_out_rules.wants_to_keep(text):
            # "don't stop reminding me", read by the model as an opt-out: ask, never stop.
            outcome = opt_out_rules.UNSURE
        if outcome is None:
            return
        message.set(CHECK, {"outcome": outcome, "model_intent": guess}, add_to_output=True)
        if outcome == opt_out_rules.CERTAIN or guess.get("name") != OPT_OUT:
            # Sure of the route, not of the wish: an unsure opt-out is asked about.
            top = {"name": OPT_OUT, "confidence": 1.0}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != OPT_OUT]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
