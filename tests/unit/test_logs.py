"""Log lines are JSON objects at LOG_LEVEL and hold no card numbers, payment links, secrets
or what customers said."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from settle.config import ConfigError, log_level
from settle.privacy.logs import MAX_LINE, NOT_LOGGED, log_json_lines, redact_event, scrub


def test_a_card_number_is_masked_even_where_the_line_is_cut():
    line = "x" * (MAX_LINE - 15) + " 4111111111111111 end"
    scrubbed = scrub(line)
    assert "41111111" not in scrubbed and "****" in scrubbed


def test_links_and_secrets_are_hidden():
    assert (
        scrub("SMS: pay at https://checkout.stripe.com/c/pay/cs_test_a1#x now")
        == "SMS: pay at <payment link> now"
    )
    assert scrub("http://localhost:5055/sandbox/checkout/abc123") == "<payment link>"
    assert (
        scrub("GET /conversations/x/tracker?token=s3cret&x=1")
        == "GET /conversations/x/tracker?token=<hidden>&x=1"
    )
    assert (
        scrub("SMTP_URL smtp://mailer:hunter2@mail.example.com:587")
        == "SMTP_URL smtp://mailer:<hidden>@mail.example.com:587"
    )


def test_a_huge_line_is_cut():
    assert len(scrub("a" * 100_000)) < MAX_LINE + 20


def test_structlog_values_that_hold_what_customers_said_are_not_logged():
    event = redact_event(
        None,
        "debug",
        {
            "event": "processor.message.parse",
            "parse_data_text": "INV-1001 94110",
            "slot_values": {"customer_id": "C001"},
            "sender_id": "web-1",
            "error": "card 4111 1111 1111 1111 refused",
        },
    )
    assert event["parse_data_text"] == NOT_LOGGED and event["slot_values"] == NOT_LOGGED
    assert event["sender_id"] == "web-1" and "4111" not in event["error"]


@pytest.fixture
def logged():
    """A logger of its own writing to a string; the process's logging put back afterwards."""
    root = logging.getLogger()
    before = (
        root.level,
        [(h, h.formatter, h.level) for h in root.handlers],
        list(structlog.get_config()["processors"]),
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("settle.test.lines")
    logger.addHandler(handler)
    logger.propagate = False

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield logger, lines
    logger.removeHandler(handler)
    root.setLevel(before[0])
    for h, formatter, level in before[1]:
        h.setFormatter(formatter)
        h.setLevel(level)
    structlog.get_config()["processors"][:] = before[2]


def test_every_line_is_one_json_object_with_card_numbers_masked(logged):
    logger, lines = logged
    log_json_lines(logging.INFO)
    log_json_lines(logging.INFO)  # idempotent
    logger.info("customer said %s", "4111 1111 1111 1111")
    try:
        raise ValueError("refused https://user:hunter2@db.example.com/x 4242424242424242")
    except ValueError:
        logger.exception("Could not charge")
    said, failed = lines()
    assert said["message"] == "customer said ****"
    assert said["level"] == "info" and said["logger"] == "settle.test.lines"
    assert said["time"].endswith("Z") and "T" in said["time"]
    assert failed["level"] == "error" and failed["message"] == "Could not charge"
    assert "ValueError" in failed["exception"]
    assert "hunter2" not in failed["exception"] and "4242424242424242" not in failed["exception"]


def test_lines_under_log_level_are_not_written(logged):
    logger, lines = logged
    log_json_lines(logging.WARNING)
    logger.info("routine")
    logger.warning("worth a look")
    assert [line["message"] for line in lines()] == ["worth a look"]


def test_the_end_of_a_long_traceback_is_kept(logged):
    logger, lines = logged
    log_json_lines(logging.INFO)
    try:
        raise RuntimeError("x" * 5000 + "\nthe reason 4111 1111 1111 1111")
    except RuntimeError:
        logger.exception("failed")
    (line,) = lines()
    assert line["exception"].endswith("the reason ****")
    assert len(line["exception"]) < 2 * MAX_LINE


def test_rasa_structlog_events_come_out_as_the_same_json_objects(logged):
    logger, lines = logged
    processors = structlog.get_config()["processors"]
    # Rasa's chain, rendering for a terminal or as JSON (rasa.utils.log_utils).
    processors[:] = [
        structlog.processors.add_log_level,
        structlog.processors.dict_tracebacks,
        structlog.processors.JSONRenderer(),
    ]
    factory = structlog.get_config()["logger_factory"]
    structlog.configure(logger_factory=structlog.stdlib.LoggerFactory())
    try:
        log_json_lines(logging.INFO)
        structlog.get_logger("settle.test.lines").info(
            "processor.message.parse", parse_data_text="INV-1001 94110", sender_id="web-1"
        )
    finally:
        structlog.configure(logger_factory=factory)
    (line,) = lines()
    assert line["message"] == "processor.message.parse" and line["level"] == "info"
    assert line["sender_id"] == "web-1" and line["parse_data_text"] == NOT_LOGGED
    assert line["logger"] == "settle.test.lines"


def test_log_level_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    assert log_level() == logging.INFO
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert log_level() == logging.DEBUG
    monkeypatch.setenv("LOG_LEVEL", "verbose")
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        log_level()
