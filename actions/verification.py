"""Who the customer is: the number the channel proved, or an invoice number and postal
code they give, checked against the locks that stop guessing (settle.access.lockout)."""

from __future__ import annotations

from rasa_sdk.events import EventType, SlotSet

from actions.conversation import blocking, hand_off, put_through, reset_flow
from actions.turn import Turn
from settle.access import lockout
from settle.billing import identity, verification


async def ask_identity(turn: Turn) -> list[EventType]:
    """Ask who they are: invoice number and postal code (on a call we placed, the postal
    code of the customer we called), unless this conversation may not guess any more."""
    lock, called = await blocking(_before_asking, turn)
    if lock is not None:
        return await locked_out(turn, lock)
    if called:
        turn.say("utter_confirm_postal_code", json_message=turn.voice(keypad=postal_keypad(turn)))
    else:
        turn.say("utter_ask_identity", json_message=turn.voice(keypad="identity"))
    return [
        SlotSet("stage", "awaiting_identity"),
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ]


def postal_keypad(turn: Turn) -> str:
    """Postal codes of digits can be typed; letters (Canada, the UK) must be said."""
    return "none" if identity.postal_codes_have_letters(turn.region) else "postal"


def _before_asking(turn: Turn):
    """(a lock on this conversation or client, whether we called a known customer)."""
    return verification.before_asking(turn.store, turn.region, asker(turn), turn.proof)


def asker(turn: Turn) -> verification.Asker:
    """Who is asking, as the identity checks count and audit it."""
    return verification.Asker(turn.actor, turn.sender_id, turn.channel)


async def locked_out(turn: Turn, lock: lockout.Lock) -> list[EventType]:
    """No more guesses: say so in the customer's language and hand over to a person."""
    reference = await blocking(hand_off, turn, "identity_locked", {"lock": lock.scope})
    response = (
        "utter_handoff_unverified" if lock.scope == "conversation" else "utter_identity_locked"
    )
    put_through(turn, reference, response=response)
    return [
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ] + reset_flow()


def caller_id_customer(turn: Turn) -> dict[str, str] | None:
    """The customer whose number on file the channel proved (a signed text from it, or a
    call the carrier attested); nobody for any other message."""
    if not turn.proof.phone_proven:
        return None
    return verification.verify_caller_id(turn.store, turn.region, asker(turn), turn.proof)


def verified_events(customer: dict[str, str], bound_to: str) -> list[EventType]:
    return [
        SlotSet("verified", True),
        SlotSet("customer_id", customer["id"]),
        SlotSet("identity_binding", bound_to),
        SlotSet("verification_failures", 0.0),
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ]


def keypad_digits(turn: Turn) -> str | None:
    """Keys a caller pressed at this question (the voice channel's /inform{"keypad": …})."""
    for entity in turn.message.get("entities") or []:
        value = str(entity.get("value") or "").strip().strip("#*")
        if entity.get("entity") == "keypad" and value.isdigit():
            return value
    return None


def invoice_from_keypad(turn: Turn, digits: str) -> str:
    """The invoice those digits name; digits that name none still count as a guess."""
    return verification.invoice_from_keypad(turn.store, digits)


def called_customer_facts(turn: Turn) -> dict[str, str] | None:
    """On a call Settle placed: the customer it called (whose postal code confirms who
    answered)."""
    return verification.called_customer_facts(turn.store, turn.region, turn.proof)


def check_claim(turn: Turn, number: str | None, postal: str) -> verification.ClaimOutcome:
    """Check the claim unless a lock closes it (settle.billing.verification.check_claim)."""
    return verification.check_claim(
        turn.store, turn.app.security.lockout, turn.region, asker(turn), turn.proof, number, postal
    )
