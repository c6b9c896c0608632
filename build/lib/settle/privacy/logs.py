"""Log lines that hold no secrets, whoever writes them (Settle, Rasa, rasa-sdk, Sanic).

`scrub_all_logs()` makes every handler's formatter, after formatting as before:

* cut a line to MAX_LINE characters: when an action fails, Rasa's error line carried the
  whole request, tracker included (85 KB);
* mask card numbers (settle.privacy.cards);
* hide payment and card-saving links (Stripe Checkout, the sandbox pages) and secrets in
  URLs (`token=`, `user:password@`), which are as good as the thing they open.

It also puts a processor first in Rasa's structlog chain that replaces what a customer
said and the slot values (`text`, `parse_data_text`, `slot_values`, … the keys Rasa itself
names as personal) with "<not logged>", at every level.
"""

from __future__ import annotations

import logging
import re

import structlog

from settle.privacy.cards import mask_card_numbers

MAX_LINE = 2000
# A line is cut to this much before anything else reads it (each step below is linear).
_READ_AT_MOST = 20 * MAX_LINE
NOT_LOGGED = "<not logged>"
# Rasa's structlog keys that carry what a customer said or what the bot knows of them
# (rasa.utils.log_utils names the same ones for its own anonymisation).
PERSONAL_KEYS = frozenset(
    {
        "text",
        "response_text",
        "user_text",
        "slot_values",
        "parse_data_text",
        "parse_data_entities",
        "prediction_events",
        "tracker_latest_message",
        "prefilled_slots",
        "message",
        "response",
        "slot_candidates",
        "rasa_event",
        "rasa_events",
        "tracker_states",
        "current_states",
        "old_states",
        "successes",
        "current_entity",
        "next_entity",
        "states",
        "entity",
        "token_text",
        "user_message",
        "json_message",
        "metadata",
        "tracker",
        "events",
        "slots",
        "entities",
        "value",
        "request",
        "json_body",
    }
)

_PAYMENT_LINK = re.compile(
    r"https?://[^\s'\"<>]*(?:checkout\.stripe\.com|/sandbox/|/pay/|/c/pay/|/setup/)[^\s'\"<>]*"
)
_URL_SECRET = re.compile(
    r"((?:[?&](?:token|auth_token|key|secret|signature)=))[^&\s'\"]+", re.IGNORECASE
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@", re.IGNORECASE)
# Older Rasa and rasa-sdk lines that quote the customer.
_USER_TEXT = re.compile(r"(Received user message ')([^\n]{0,1000}?)(' with intent)")
_SLOT_VALUES = re.compile(r"(Current slot values:)(.*)", re.DOTALL)


def scrub(line: str) -> str:
    """One formatted log line with nothing in it that must not be kept."""
    if len(line) > _READ_AT_MOST:
        line = line[:_READ_AT_MOST]
    line = mask_card_numbers(line)
    line = _USER_TEXT.sub(r"\1<what the customer said>\3", line)
    line = _SLOT_VALUES.sub(r"\1 <not logged>", line)
    line = _PAYMENT_LINK.sub("<payment link>", line)
    line = _URL_SECRET.sub(r"\1<hidden>", line)
    line = _URL_PASSWORD.sub(r"\1<hidden>@", line)
    if len(line) > MAX_LINE:
        line = f"{line[:MAX_LINE]} … [cut]"
    return line


def redact_event(_logger, _method: str, event: dict) -> dict:
    """structlog processor: personal values out, every other string scrubbed."""
    for key, value in list(event.items()):
        if key in PERSONAL_KEYS:
            event[key] = NOT_LOGGED
        elif isinstance(value, str) and key != "event":
            event[key] = scrub(value)
        elif not isinstance(value, (str, int, float, bool, type(None))):
            event[key] = scrub(str(value))
    return event


class ScrubbingFormatter(logging.Formatter):
    """Formats as `inner` does, then scrubs."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return scrub(self.inner.format(record))


def scrub_all_logs() -> None:
    """Wrap the formatter of every handler there is (the root logger's, and those Sanic gives
    its own loggers) and put `redact_event` first in structlog's chain. Idempotent; call once
    logging is set up."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not isinstance(handler.formatter, ScrubbingFormatter):
                handler.setFormatter(ScrubbingFormatter(handler.formatter))
    processors = structlog.get_config()["processors"]
    if redact_event not in processors:
        # In place: loggers already bound (cache_logger_on_first_use) share this list.
        processors.insert(0, redact_event)
