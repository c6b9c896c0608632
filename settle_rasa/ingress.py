"""What every channel does to a message before Rasa sees it.

Each of Settle's four input channels (REST, socket.io, Twilio SMS, Twilio Voice) hands its
messages to Rasa through `screened(on_new_message, language_of)`, so that NLU, Rasa's
logs, the tracker, the actions, the outbox and the audit log only ever see what is left:

* a message longer than `security.max_message_chars` is not passed on at all: the customer
  is asked, in their language, to shorten it;
* no request body over RASA_BODY_LIMIT reaches the Rasa server at all, and its logs are
  scrubbed JSON lines at LOG_LEVEL (`guard_server`: settle.privacy.logs);
* the conversation store's own metadata key (SESSION_WINDOW) is dropped from what a
  client sends, so only the store marks a conversation's window;
* card numbers, typed or spoken, in the text and in any metadata string, are masked
  (settle.privacy.cards), and the customer is told once per such message, in their
  language, that Settle never takes card numbers and how to pay safely instead;
* a turn that fails, or ends without a word (the action server is down: Rasa logs the
  error and says nothing), is answered with a clear "something went wrong on our side"
  and the support number, instead of silence. The conversation is kept as it was, so it
  carries on once the action server is back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint

from settle.access import proof as proofs
from settle.app import runtime
from settle.config import log_level
from settle.core import i18n
from settle.privacy.cards import mask_card_numbers, mask_everywhere
from settle.privacy.logs import log_json_lines
from settle.understanding.language_detection import SESSION_WINDOW

log = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

# Sanic's default is 100 MB. A channel's message is a few kilobytes; Rasa's own API (token
# only) takes tracker events, which stay far below this.
RASA_BODY_LIMIT = 1024 * 1024


def guard_server(blueprint: Blueprint) -> Blueprint:
    """Once this channel is on, the Rasa server refuses bodies over RASA_BODY_LIMIT (413) and
    writes its logs as scrubbed JSON lines at LOG_LEVEL. Set through the channel, Rasa's own
    extension point, so a plain `rasa run` with our credentials.yml gets it too."""
    # Now, while Rasa sets its server up, so that its start-up lines are JSON too; and again
    # before serving, for any handler added since.
    log_json_lines(log_level())

    @blueprint.listener("before_server_start")
    async def _guard(app, _loop) -> None:
        app.config.REQUEST_MAX_SIZE = min(app.config.REQUEST_MAX_SIZE, RASA_BODY_LIMIT)
        log_json_lines(log_level())

    return blueprint


def screened(
    on_new_message: OnNewMessage, language_of: Callable[[UserMessage], str | None] = lambda _: None
) -> OnNewMessage:
    """on_new_message, for messages that are short enough and free of card numbers."""

    async def handle(message: UserMessage) -> Any:
        text = message.text if isinstance(message.text, str) else ""
        limit = runtime.current().security.max_message_chars
        if len(text) > limit:
            log.warning(
                "A %d-character message on %s was not passed on (limit %d)",
                len(text),
                message.input_channel,
                limit,
            )
            await _tell(message, "message_too_long", language_of)
            return None
        if isinstance(message.metadata, dict) and SESSION_WINDOW in message.metadata:
            log.warning("A message on %s carried the store's own key", message.input_channel)
            message.metadata = {k: v for k, v in message.metadata.items() if k != SESSION_WINDOW}
        masked_text, masked_metadata = mask_card_numbers(text), masked(message)
        if masked_text != text or masked_metadata != message.metadata:
            log.warning("A card number was masked in a message on %s", message.input_channel)
            message.text, message.metadata = masked_text, masked_metadata
            await _tell(message, "card_number_removed", language_of)
        output = message.output_channel = _Counting(message.output_channel)
        try:
            result = await on_new_message(message)
        except Exception:
            log.exception("A turn on %s failed", message.input_channel)
            result = None
        if output.sent == 0:
            log.error(
                "A turn on %s ended without a reply: is the action server up?",
                message.input_channel,
            )
            await _tell(message, "service_trouble", language_of)
        return result

    return handle


def masked(message: UserMessage) -> Any:
    """The message's metadata with card numbers masked, except the channel's own sealed
    proof when it is valid: an HMAC in hex can look like a card number (about one seal in
    20,000), and masking it would unprove the customer's number. A proof that does not
    unseal is a client's and is masked like everything else."""
    metadata = message.metadata
    if not isinstance(metadata, dict) or proofs.METADATA_KEY not in metadata:
        return mask_everywhere(metadata)
    secret = runtime.current().settings.action_secret
    if proofs.unseal(metadata, message.sender_id, secret) == proofs.UNPROVEN:
        return mask_everywhere(metadata)
    return {
        **mask_everywhere(proofs.without_proof(metadata)),
        proofs.METADATA_KEY: metadata[proofs.METADATA_KEY],
    }


class _Counting(OutputChannel):
    """The channel's own output, counting what the turn says through it."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner, self.sent = inner, 0

    def name(self) -> str:  # responses may vary by channel: keep the channel's name
        return self.inner.name()

    async def send_response(self, recipient_id: str, message: dict) -> None:
        self.sent += 1
        await self.inner.send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.inner.send_text_message(recipient_id, text, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)


async def _tell(
    message: UserMessage, key: str, language_of: Callable[[UserMessage], str | None]
) -> None:
    support = runtime.current().settings.business.support_phone
    text = i18n.text(key, spoken_language(language_of(message)), support_phone=support)
    await message.output_channel.send_text_message(message.sender_id, text)


def spoken_language(wanted: str | None) -> str:
    """The language asked for when the business speaks it, else its first language."""
    languages = runtime.current().settings.business.languages
    return wanted if wanted is not None and wanted in languages else languages[0]
