"""Log lines: one JSON object each, holding no secrets, whoever writes them (Settle, Rasa,
rasa-sdk, Sanic).

`log_json_lines(level)` gives every handler there is one formatter, `JsonLines`, which writes
`{"time", "level", "logger", "message"}` (plus `exception`, and the keys of a structlog
event) as one line, and sends Rasa's structlog events through those handlers instead of
rendering them itself. Before a line is written, every string in it is scrubbed:

* cut to MAX_LINE characters: when an action fails, Rasa's error line carried the whole
  request, tracker included (85 KB); of a traceback, the end is kept;
* card numbers masked (settle.privacy.cards);
* payment and card-saving links (Stripe Checkout, the sandbox pages) and secrets in URLs
  (`token=`, `user:password@`) hidden, being as good as the thing they open;
* what a customer said and the slot values (`text`, `parse_data_text`, `slot_values`, …
  the keys Rasa itself names as personal) replaced with "<not logged>", at every level.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

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


def redact_event(
    _logger, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: personal values out, every other string scrubbed."""
    for key, value in list(event.items()):
        if key in PERSONAL_KEYS:
            event[key] = NOT_LOGGED
        elif isinstance(value, str) and key != "event":
            event[key] = scrub(value)
        elif not isinstance(value, (str, int, float, bool, type(None))):
            event[key] = scrub(str(value))
    return event


def _exception_tail(text: str) -> str:
    """The last whole lines of a traceback, where the error is, up to about MAX_LINE."""
    kept: list[str] = []
    size = 0
    for line in reversed(text.splitlines()):
        if kept and size + len(line) > MAX_LINE:
            break
        kept.append(scrub(line))
        size += len(line) + 1
    return "\n".join(reversed(kept))


def _scrubbed(logger, method: str, event: MutableMapping[str, Any]) -> dict:
    """The event's strings scrubbed, in the line's order: time, level, logger, message (what
    structlog calls `event`), the rest, exception."""
    exception = event.pop("exception", None)
    event = redact_event(logger, method, event)
    message = event.pop("event", "")
    line = {key: event.pop(key) for key in ("time", "level", "logger") if key in event}
    line["message"] = scrub(message if isinstance(message, str) else str(message))
    line.update(event)
    if exception is not None:
        line["exception"] = _exception_tail(str(exception))
    return line


class JsonLines(structlog.stdlib.ProcessorFormatter):
    """A log record, or a structlog event handed over by `wrap_for_formatter`, as one JSON
    object on one line."""

    def __init__(self) -> None:
        super().__init__(
            processors=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
                structlog.processors.format_exc_info,
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _scrubbed,
                structlog.processors.JSONRenderer(),
            ]
        )


# How Rasa's structlog chain ends (rasa.utils.log_utils): rendered for a terminal, or as JSON.
_RENDERERS = (
    structlog.dev.ConsoleRenderer,
    structlog.processors.JSONRenderer,
    structlog.processors.ExceptionRenderer,
)


def log_json_lines(level: int) -> None:
    """Every handler writes JSON lines from `level` up (a handler on the root logger first, if
    there is none yet), Python's warnings included; and structlog, when it logs through the
    standard library as Rasa's does, leaves the writing to them. Idempotent; call once
    logging is set up."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    root.setLevel(level)
    logging.captureWarnings(True)
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    formatter = JsonLines()
    for logger in loggers:
        for handler in logger.handlers:
            handler.setLevel(level)
            if not isinstance(handler.formatter, JsonLines):
                handler.setFormatter(formatter)
    # In place: loggers already bound (cache_logger_on_first_use) share this list.
    processors = structlog.get_config()["processors"]
    if redact_event not in processors:
        processors.insert(0, redact_event)
    if isinstance(structlog.get_config()["logger_factory"], structlog.stdlib.LoggerFactory):
        while processors and isinstance(processors[-1], _RENDERERS):
            processors.pop()
        if processors[-1] is not structlog.stdlib.ProcessorFormatter.wrap_for_formatter:
            processors.append(structlog.stdlib.ProcessorFormatter.wrap_for_formatter)
