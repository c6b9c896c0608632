"""Card payments by keypad on a call, with Twilio <Pay> (Twilio handles the card; PCI SAQ A).

The amount comes from the billing database through the action and travels in the <Pay>
action URL, which Twilio signs along with the callback: it cannot be changed on the way.
A success is reconciled through the same path as a Stripe webhook.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import Pay

from settle.app import runtime
from settle.billing.reconcile import handle_payment_event
from settle.core import audit, i18n
from settle.core.money import check_currency, format_money, to_major_units

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeypadOutcome:
    paid: bool
    invoice_id: str
    amount_text: str


def pay_verb(pay: dict[str, Any], language: str, nonce: str) -> Pay:
    """<Pay> for the amount the action read from the database; the result comes back to
    an action URL that carries the call's one-time token (settle.access.replay)."""
    amount, currency = int(pay["amount_minor"]), check_currency(pay["currency"])
    query = urlencode(
        {"invoice": pay["invoice_id"], "amount": amount, "currency": currency, "n": nonce}
    )
    return Pay(
        payment_connector=runtime.current().settings.twilio_pay_connector,
        charge_amount=str(to_major_units(amount, currency)),
        currency=currency.lower(),
        description=f"Invoice {pay['invoice_id']}",
        action=f"/webhooks/twilio_voice/pay?{query}",
        method="POST",
        language=i18n.text("voice_language", language),
        max_attempts=3,
        timeout=10,
    )


def record_result(form, args, locale: str = "en_US") -> KeypadOutcome:
    """Handle <Pay>'s action callback: reconcile a success, audit anything else; the
    amount is written for the caller's locale, to be read aloud in their language."""
    settle = runtime.current()
    invoice_id = args.get("invoice") or ""
    amount, currency = int(args.get("amount") or 0), check_currency(args.get("currency") or "USD")
    call_sid = form.get("CallSid") or ""
    result = form.get("Result") or "unknown"
    amount_text = format_money(amount, currency, locale)
    with settle.store.unit_of_work() as session:
        if result != "success":
            audit.record(
                session,
                "twilio_pay",
                "payment.keypad_failed",
                f"invoice:{invoice_id}",
                call_sid=call_sid,
                result=result,
                error=form.get("PaymentError"),
            )
            return KeypadOutcome(False, invoice_id, amount_text)
        reference = form.get("PaymentConfirmationCode") or f"twilio_pay:{call_sid}"
        event = {
            "id": f"twilio_pay:{call_sid}:{reference}",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": f"twilio_pay:{call_sid}",
                    "payment_status": "paid",
                    "amount_total": amount,
                    "currency": currency.lower(),
                    "payment_intent": reference,
                    "client_reference_id": invoice_id,
                    "metadata": {"invoice_id": invoice_id, "call_sid": call_sid},
                }
            },
        }
        outcome = handle_payment_event(session, event, settle.settings, provider="twilio_pay")
    log.info("Keypad payment on call %s for %s: %s", call_sid, invoice_id, outcome)
    settle.request_delivery()
    return KeypadOutcome(
        outcome in ("paid", "partially_paid", "duplicate"), invoice_id, amount_text
    )
