"""Who the customer is: the number the channel proved, or an invoice number and postal
code they give, checked against the locks that stop guessing (settle.access.lockout)."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import actor, blocking, channel_proof, for_voice, hand_off, reset_flow
from settle.access import lockout
from settle.access.proof import ChannelProof
from settle.app import runtime
from settle.billing import identity, verification


async def ask_identity(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Ask who they are: invoice number and postal code (on a call we placed, the postal
    code of the customer we called), unless this conversation may not guess any more."""
    proof = channel_proof(tracker)
    lock, called = await blocking(_before_asking, tracker, proof)
    if lock is not None:
        return await locked_out(dispatcher, tracker, lock)
    if called:
        dispatcher.utter_message(
            response="utter_confirm_postal_code",
            json_message=for_voice(tracker, keypad=postal_keypad()),
        )
    else:
        dispatcher.utter_message(
            response="utter_ask_identity", json_message=for_voice(tracker, keypad="identity")
        )
    return [
        SlotSet("stage", "awaiting_identity"),
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ]


def postal_keypad() -> str:
    """Postal codes of digits can be typed; letters (Canada, the UK) must be said."""
    region = runtime.current().settings.business.default_region
    return "none" if identity.postal_codes_have_letters(region) else "postal"


def _before_asking(tracker: Tracker, proof: ChannelProof):
    """(a lock on this conversation or client, whether we called a known customer)."""
    settle = runtime.current()
    return verification.before_asking(
        settle.store, settle.settings.business.default_region, asker(tracker), proof
    )


def asker(tracker: Tracker) -> verification.Asker:
    """Who is asking, as the identity checks count and audit it."""
    return verification.Asker(actor(tracker), tracker.sender_id, tracker.get_latest_input_channel())


async def locked_out(
    dispatcher: CollectingDispatcher, tracker: Tracker, lock: lockout.Lock
) -> list[EventType]:
    """No more guesses: say so in the customer's language and hand over to a person."""
    reference = await blocking(hand_off, tracker, "identity_locked", {"lock": lock.scope})
    response = (
        "utter_handoff_unverified" if lock.scope == "conversation" else "utter_identity_locked"
    )
    dispatcher.utter_message(
        response=response, json_message=for_voice(tracker, handoff={"ref": reference})
    )
    return [
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ] + reset_flow()


def caller_id_customer(tracker: Tracker) -> dict[str, str] | None:
    """The customer whose number on file the channel proved (a signed text from it, or a
    call the carrier attested); nobody for any other message."""
    proof = channel_proof(tracker)
    if not proof.phone_proven:
        return None
    settle = runtime.current()
    return verification.verify_caller_id(
        settle.store, settle.settings.business.default_region, asker(tracker), proof
    )


def verified_events(customer: dict[str, str], bound_to: str) -> list[EventType]:
    return [
        SlotSet("verified", True),
        SlotSet("customer_id", customer["id"]),
        SlotSet("identity_binding", bound_to),
        SlotSet("verification_failures", 0.0),
        SlotSet("claimed_invoice_number", None),
        SlotSet("claimed_postal_code", None),
    ]


def keypad_digits(tracker: Tracker) -> str | None:
    """Keys a caller pressed at this question (the voice channel's /inform{"keypad": …})."""
    for entity in (tracker.latest_message or {}).get("entities") or []:
        value = str(entity.get("value") or "").strip().strip("#*")
        if entity.get("entity") == "keypad" and value.isdigit():
            return value
    return None


def invoice_from_keypad(digits: str) -> str:
    """The invoice those digits name; digits that name none still count as a guess."""
    return verification.invoice_from_keypad(runtime.current().store, digits)


def called_customer_facts(proof: ChannelProof) -> dict[str, str] | None:
    settle = runtime.current()
    return verification.called_customer_facts(
        settle.store, settle.settings.business.default_region, proof
    )


def check_claim(
    tracker: Tracker, proof: ChannelProof, number: str | None, postal: str
) -> verification.ClaimOutcome:
    """Check the claim unless a lock closes it (settle.billing.verification.check_claim)."""
    settle = runtime.current()
    return verification.check_claim(
        settle.store,
        settle.security.lockout,
        settle.settings.business.default_region,
        asker(tracker),
        proof,
        number,
        postal,
    )
