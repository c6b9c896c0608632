"""Rasa's responses, rendered in the conversation's language with the business's facts.

endpoints.yml names this class as the `nlg:` generator, Rasa's own extension point for
rendering responses: it runs in the Rasa process (no HTTP call) and renders the domain's
responses exactly as Rasa's templated generator does, with two facts it adds itself:

* `language`: the language to answer in (settle.understanding.language_detection
  .answering_language): what the customer's messages chose, else what the session's first
  message brought (browser, phone line, or the language on file for a proven number);
* `business_name` and `support_phone`, from settle.yml.

So a new conversation needs no custom session-start action: the session's first message
(its metadata) is in the tracker, and nothing else has to be set before the first answer.
"""

from __future__ import annotations

from typing import Any

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from settle.access import proof as proofs
from settle.app import runtime
from settle.understanding.language_detection import answering_language, session_start_metadata


class SettleResponses(TemplatedNaturalLanguageGenerator):
    def __init__(
        self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None
    ) -> None:
        super().__init__((domain or Domain.empty()).responses)

    async def generate(
        self, utter_action: str, tracker: DialogueStateTracker, output_channel: str, **kwargs: Any
    ) -> dict[str, Any] | None:
        slots = response_slots(tracker)
        generated = self.generate_from_slots(utter_action, slots, output_channel, **kwargs)
        # A call chooses its voice, speech recognition and keypad hints by the language of
        # what it says: a plain response tells it, as the actions' answers do.
        if generated is not None and tracker.get_latest_input_channel() == "twilio_voice":
            generated["custom"] = {**(generated.get("custom") or {}), "language": slots["language"]}
        return generated


def response_slots(tracker: DialogueStateTracker) -> dict[str, Any]:
    """The slots a response is chosen and filled with: the conversation's, plus the
    language to answer in (as the actions work it out: actions/turn.py) and the business's
    name and support line."""
    settings = runtime.current().settings
    business = settings.business
    latest = tracker.latest_message.metadata if tracker.latest_message else None
    proven = proofs.unseal(latest, tracker.sender_id, settings.action_secret).phone_proven
    slots = tracker.current_slot_values()
    return {
        **slots,
        "language": answering_language(
            slots.get("language"),
            session_start_metadata((e.type_name, e.metadata) for e in tracker.events),
            latest,
            proven,
            business.languages,
        ),
        "business_name": business.name,
        "support_phone": business.support_phone,
    }
