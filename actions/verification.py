"""Who the customer is: the number the channel proved, or an invoice number and postal
code they give, checked against the locks that stop guessing (settle.access.lockout)."""

from __future__ import annotations

from dataclasses import dataclass

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import actor, blocking, channel_proof, for_voice, hand_off, reset_flow
from settle.access import lockout
from settle.access import proof as proofs
from settle.access.proof import ChannelProof
from settle.app import runtime
from settle.billing import identity
from settle.core import audit
from settle.store.models import Customer


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
    with runtime.current().store.unit_of_work() as session:
        called = _called_customer(session, proof) is not None
        lock = lockout.active_lock(session, _conversation_keys(tracker, proof, called))
        return lock, called


def _called_customer(session, proof: ChannelProof) -> Customer | None:
    """On a call Settle placed, the customer whose number on file we dialled."""
    if proof.kind != proofs.VOICE or not proof.outbound:
        return None
    return identity.customer_by_phone(
        session, proof.phone, runtime.current().settings.business.default_region
    )


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
    with settle.store.unit_of_work() as session:
        customer = identity.customer_by_phone(
            session, proof.phone, settle.settings.business.default_region
        )
        if customer is None:
            return None
        record_audit_in(
            session, tracker, "identity.verified", customer, method="caller_id", proof=proof.kind
        )
        return _customer_facts(customer)


def record_audit_in(session, tracker: Tracker, action: str, customer: Customer, **detail) -> None:
    detail.setdefault("channel", tracker.get_latest_input_channel())
    audit.record(session, actor(tracker), action, f"customer:{customer.id}", **detail)


def _customer_facts(customer: Customer) -> dict[str, str]:
    return {
        "id": customer.id,
        "name": customer.name,
        "language": customer.language,
        "phone": customer.phone,
    }


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
    with runtime.current().store.unit_of_work() as session:
        return identity.invoice_number_from_keypad(session, digits) or f"KEYPAD-{digits}"


def called_customer_facts(proof: ChannelProof) -> dict[str, str] | None:
    with runtime.current().store.unit_of_work() as session:
        customer = _called_customer(session, proof)
        return _customer_facts(customer) if customer is not None else None


# Locks that close on the asker rather than on an account: these may be spoken of.
OWN_SCOPES = ("conversation", "client_address")


@dataclass(frozen=True)
class ClaimOutcome:
    customer: dict[str, str] | None = None
    lock: lockout.Lock | None = None


def check_claim(
    tracker: Tracker, proof: ChannelProof, number: str | None, postal: str
) -> ClaimOutcome:
    """Check the claim unless a lock closes it; a miss is counted where it applies.

    A lock on the invoice or its owner is not announced: the check is refused and answered
    as a miss (counted against this conversation and client), so nobody learns from the
    answer which invoice numbers exist or whose they are. Only the asker's own locks (this
    conversation's, this client's) are spoken of, and they hand over to a person."""
    settle = runtime.current()
    with settle.store.unit_of_work() as session:
        called = _called_customer(session, proof)
        owner: Customer | None
        if called is not None:  # our call to the number on file: only the call itself counts
            owner, keys = called, _conversation_keys(tracker, proof, called=True)
        else:
            owner = identity.invoice_owner(session, number or "")
            keys = lockout.keys_for(
                _conversation_id(tracker, proof),
                identity.invoice_key(number or ""),
                owner.id if owner else None,
                proof.client,
            )
        lockout.serialize(session, keys)
        own = {scope: key for scope, key in keys.items() if scope in OWN_SCOPES}
        lock = lockout.active_lock(session, own) or lockout.active_lock(session, keys)
        if lock is not None and lock.scope in OWN_SCOPES:
            audit.record(
                session,
                actor(tracker),
                "identity.refused_locked",
                f"{lock.scope}:{lock.key}",
                channel=proof.kind,
            )
            return ClaimOutcome(lock=lock)
        if lock is None and owner is not None and identity.postal_code_matches(owner, postal):
            record_audit_in(
                session,
                tracker,
                "identity.verified",
                owner,
                method="postal_code" if called is not None else "invoice_postal",
            )
            return ClaimOutcome(customer=_customer_facts(owner))
        if lock is not None:
            audit.record(
                session,
                actor(tracker),
                "identity.refused_locked",
                f"{lock.scope}:{lock.key}",
                channel=proof.kind,
            )
            keys = own
        else:  # the claim is not logged verbatim: it may be someone else's real details
            audit.record(session, actor(tracker), "identity.failed", "", channel=proof.kind)
        locks = lockout.record_miss(session, settle.security.lockout, keys, actor(tracker))
        return ClaimOutcome(lock=_most_specific(locks))


def _conversation_id(tracker: Tracker, proof: ChannelProof) -> str:
    """What one conversation's guesses are counted by. A call counts by its call: the
    number it came from may be spoofed, and must not let a stranger lock its owner out."""
    if proof.kind == proofs.VOICE and proof.call_sid:
        return f"call:{proof.call_sid}"
    return tracker.sender_id


def _conversation_keys(tracker: Tracker, proof: ChannelProof, called: bool) -> dict[str, str]:
    """The keys a lock before the question is looked up by (the invoice is not known yet)."""
    client = None if called else proof.client
    return lockout.keys_for(_conversation_id(tracker, proof), None, None, client)


def _most_specific(locks: list[lockout.Lock]) -> lockout.Lock | None:
    """The lock to speak of: this conversation's, then this client's. A lock that just closed
    an invoice or a customer is not spoken of (that would tell which ones exist)."""
    for scope in OWN_SCOPES:
        for lock in locks:
            if lock.scope == scope:
                return lock
    return None
