"""Log lines hold no card numbers, payment links, secrets or what customers said."""

from __future__ import annotations

import io
import logging

import structlog

from settle.privacy.logs import MAX_LINE, NOT_LOGGED, redact_event, scrub, scrub_all_logs


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


def test_installed_on_every_handler_and_in_structlog():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("settle.test.scrub")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        scrub_all_logs()
        scrub_all_logs()  # idempotent
        logger.warning("customer said 4111 1111 1111 1111")
        assert stream.getvalue().strip() == "customer said ****"
        assert structlog.get_config()["processors"].count(redact_event) == 1
    finally:
        logger.removeHandler(handler)
