"""Who the customer is, as a conversation checks it: the number the channel proved, or an
invoice number and postal code, against the locks that stop guessing (settle.access.lockout).

Each check is one unit of work that reads, counts misses and writes the audit trail; it
takes plain values (who is asking, what the channel proved) and returns plain values."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from settle.access import lockout
from settle.access import proof as proofs
from settle.access.proof import ChannelProof
from settle.billing import identity
from settle.core import audit
from settle.rules.security import Lockout
from settle.store.db import Store
from settle.store.models import Customer

# Locks that close on the asker rather than on an account: these may be spoken of.
OWN_SCOPES = ("conversation", "client_address")


@dataclass(frozen=True)
class Asker:
    """Who is asking: the audit actor, the conversation (its sender id) and its channel."""

    actor: str
    conversation: str
    channel: str | None


@dataclass(frozen=True)
class ClaimOutcome:
    customer: dict[str, str] | None = None
    lock: lockout.Lock | None = None


def customer_facts(customer: Customer) -> dict[str, str]:
    """What the conversation keeps of a verified customer."""
    return {
        "id": customer.id,
        "name": customer.name,
        "language": customer.language,
        "phone": customer.phone,
    }


def before_asking(
    store: Store, region: str, asker: Asker, proof: ChannelProof
) -> tuple[lockout.Lock | None, bool]:
    """(a lock on this conversation or client, whether we called a known customer)."""
    with store.unit_of_work() as session:
        called = _called_customer(session, region, proof) is not None
        lock = lockout.active_lock(session, _conversation_keys(asker, proof, called))
        return lock, called


def verify_caller_id(
    store: Store, region: str, asker: Asker, proof: ChannelProof
) -> dict[str, str] | None:
    """The customer whose number on file the channel proved, audited as verified."""
    with store.unit_of_work() as session:
        customer = identity.customer_by_phone(session, proof.phone, region)
        if customer is None:
            return None
        _audit_verified(session, asker, customer, method="caller_id", proof=proof.kind)
        return customer_facts(customer)


def invoice_from_keypad(store: Store, digits: str) -> str:
    """The invoice those digits name; digits that name none still count as a guess."""
    with store.unit_of_work() as session:
        return identity.invoice_number_from_keypad(session, digits) or f"KEYPAD-{digits}"


def called_customer_facts(store: Store, region: str, proof: ChannelProof) -> dict[str, str] | None:
    """On a call Settle placed, the customer whose number on file we dialled."""
    with store.unit_of_work() as session:
        customer = _called_customer(session, region, proof)
        return customer_facts(customer) if customer is not None else None


def check_claim(
    store: Store,
    rules: Lockout,
    region: str,
    asker: Asker,
    proof: ChannelProof,
    number: str | None,
    postal: str,
) -> ClaimOutcome:
    """Check the claim unless a lock closes it; a miss is counted where it applies.

    A lock on the invoice or its owner is not announced: the check is refused and answered
    as a miss (counted against this conversation and client), so nobody learns from the
    answer which invoice numbers exist or whose they are. Only the asker's own locks (this
    conversation's, this client's) are spoken of, and they hand over to a person."""
    with store.unit_of_work() as session:
        called = _called_customer(session, region, proof)
        owner: Customer | None
        if called is not None:  # our call to the number on file: only the call itself counts
            owner, keys = called, _conversation_keys(asker, proof, called=True)
        else:
            owner = identity.invoice_owner(session, number or "")
            keys = lockout.keys_for(
                _conversation_id(asker, proof),
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
                asker.actor,
                "identity.refused_locked",
                f"{lock.scope}:{lock.key}",
                channel=proof.kind,
            )
            return ClaimOutcome(lock=lock)
        if lock is None and owner is not None and identity.postal_code_matches(owner, postal):
            _audit_verified(
                session,
                asker,
                owner,
                method="postal_code" if called is not None else "invoice_postal",
            )
            return ClaimOutcome(customer=customer_facts(owner))
        if lock is not None:
            audit.record(
                session,
                asker.actor,
                "identity.refused_locked",
                f"{lock.scope}:{lock.key}",
                channel=proof.kind,
            )
            keys = own
        else:  # the claim is not logged verbatim: it may be someone else's real details
            audit.record(session, asker.actor, "identity.failed", "", channel=proof.kind)
        locks = lockout.record_miss(session, rules, keys, asker.actor)
        return ClaimOutcome(lock=_most_specific(locks))


def _audit_verified(session: Session, asker: Asker, customer: Customer, **detail) -> None:
    detail.setdefault("channel", asker.channel)
    audit.record(session, asker.actor, "identity.verified", f"customer:{customer.id}", **detail)


def _called_customer(session: Session, region: str, proof: ChannelProof) -> Customer | None:
    """On a call Settle placed, the customer whose number on file we dialled."""
    if proof.kind != proofs.VOICE or not proof.outbound:
        return None
    return identity.customer_by_phone(session, proof.phone, region)


def _conversation_id(asker: Asker, proof: ChannelProof) -> str:
    """What one conversation's guesses are counted by. A call counts by its call: the
    number it came from may be spoofed, and must not let a stranger lock its owner out."""
    if proof.kind == proofs.VOICE and proof.call_sid:
        return f"call:{proof.call_sid}"
    return asker.conversation


def _conversation_keys(asker: Asker, proof: ChannelProof, called: bool) -> dict[str, str]:
    """The keys a lock before the question is looked up by (the invoice is not known yet)."""
    client = None if called else proof.client
    return lockout.keys_for(_conversation_id(asker, proof), None, None, client)


def _most_specific(locks: list[lockout.Lock]) -> lockout.Lock | None:
    """The lock to speak of: this conversation's, then this client's. A lock that just closed
    an invoice or a customer is not spoken of (that would tell which ones exist)."""
    for scope in OWN_SCOPES:
        for lock in locks:
            if lock.scope == scope:
                return lock
    return None
