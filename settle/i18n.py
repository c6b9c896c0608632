"""Texts Settle sends outside the conversation (SMS), in every supported language.

Texts for messages, calls and keyword replies. Conversation responses live in domain.yml;
tests check that both cover every language.
"""
from __future__ import annotations

import re
from typing import Any

from babel import Locale

MESSAGES = {
    "en": {
        "payment_link": "{business}: pay invoice {invoice} ({amount}) securely here: {url} "
                        "The link works until {expires}. Reply STOP to opt out.",
        "receipt": "{business}: thank you! We received {amount} for invoice {invoice}. "
                   "Remaining balance: {balance}. Reply STOP to opt out.",
        "invoice_line": "{position}. {amount}, due {due} ({invoice})",
        # Phone calls
        "voice_language": "en-US",
        "voice_name": "Polly.Joanna-Neural",
        "speech_hints": "pay, balance, yes, no, agent, person, invoice, first, second, third, "
                        "fourth, fifth, last, landline",
        "keypad_yes_no": "Say yes or no, or press 1 for yes and 2 for no.",
        "keypad_choice": "You can also press the number of the invoice.",
        "keypad_menu": "You can also press 1 to pay a bill, 2 for your balance, or 0 for a person.",
        "didnt_hear": "Sorry, I didn't hear anything.",
        "say_again": "Sorry, could you say that again?",
        "silence_handoff": "I still can't hear you, so I'm putting you through to our team.",
        "silence_goodbye": "I still can't hear you, so I'll end the call now. "
                           "Please call us back any time. Goodbye.",
        "one_moment": "One moment please.",
        "slow_apology": "Sorry, this is taking longer than it should.",
        "outbound_intro": "Hello, this is an automated call from {business} about your account.",
        "voicemail": "Hello, this is the automated assistant of {business}, calling about your "
                     "account. Please call us back at {support_phone}. Thank you, goodbye.",
        "whisper": "Settle hand-off. {summary} Connecting you now.",
        "keypad_paid": "Thank you. Your payment of {amount} for invoice {invoice} went through, "
                       "and a receipt is on its way by text. Is there anything else I can help with?",
        "keypad_failed": "Sorry, the card payment didn't go through, and nothing was charged. "
                         "You can ask me to text you a payment link, or ask for a person.",
        # Web chat
        "button_yes": "Yes",
        "button_no": "No",
        "invoice_button": "{amount}, due {due}",
        "pay_button": "Pay {amount}",
        "web_link_ready": "Here is your secure payment link for {amount} (invoice {invoice}). "
                          "I'll let you know here as soon as it's paid. Would you also like it "
                          "by text to your phone ending in {phone_last4}?",
        # Text messages
        "sms_help": "{business}: automated billing assistant. Text PAY to pay an invoice, BALANCE "
                    "to hear what you owe, AGENT for a person, or call {support_phone}. "
                    "Reply STOP to opt out.",
        "sms_opted_out": "{business}: you are unsubscribed and will get no more messages from us. "
                         "Reply START to subscribe again.",
        "sms_opted_in": "{business}: you are subscribed again. Reply STOP to opt out.",
        "sms_media_only": "Sorry, I can only read text. Please reply with a few words, e.g. PAY.",
    },
}

# Keywords that opt out, opt back in or ask for help, in every supported language.
# Carrier and Twilio keywords first; a whole message must be one of them.
OPT_OUT_KEYWORDS = {
    "en": ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "stop all",
           "opt out", "optout", "revoke"),
}
OPT_IN_KEYWORDS = {"en": ("start", "unstop", "yes", "subscribe")}
HELP_KEYWORDS = {"en": ("help", "info")}


def keyword_kind(text: str) -> str | None:
    """'STOP' -> 'opt_out', 'start' -> 'opt_in', 'Help!' -> 'help', anything else -> None."""
    word = " ".join(re.sub(r"[^\w\s]", " ", (text or "").lower()).split())
    for kind, table in (("opt_out", OPT_OUT_KEYWORDS), ("opt_in", OPT_IN_KEYWORDS),
                        ("help", HELP_KEYWORDS)):
        if any(word in words for words in table.values()):
            return kind
    return None


def locale_for(language: str, region: str = "US") -> str:
    """'en' + 'US' -> 'en_US' when Babel knows it, else the bare language."""
    try:
        return str(Locale.parse(f"{language}_{region}"))
    except Exception:  # noqa: BLE001 - an unknown pair falls back to the language
        return language


def text(key: str, language: str = "en", **values: Any) -> str:
    templates = MESSAGES.get(language) or MESSAGES["en"]
    return templates[key].format(**values)
