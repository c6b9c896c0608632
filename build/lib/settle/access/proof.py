"""A channel's proof of who is on the line, sealed by the connector that checked it.

A signed Twilio connector knows things no client can claim: the texter's number (Twilio
signed the request), a caller's number when the carrier attested it (STIR/SHAKEN), the
call it belongs to. It seals them into the message metadata with an HMAC under
SETTLE_ACTION_SECRET, bound to the conversation id; the actions believe a proof only when
the seal is intact. A REST or socket.io client can write any metadata it likes but cannot
seal it, so a message without a valid seal proves nothing (it is a web message).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

METADATA_KEY = "settle_proof"

WEB, SMS, VOICE = "web", "sms", "voice"


@dataclass(frozen=True)
class ChannelProof:
    """What the connector verified about one message."""

    kind: str = WEB
    # The number the message came from (SMS, voice) or the number we called (outbound).
    phone: str | None = None
    # Twilio signed it and, for calls, the carrier attested the caller's number.
    phone_proven: bool = False
    call_sid: str | None = None
    # A call Settle placed to the number on file: whoever answers is not yet proven.
    outbound: bool = False
    # The client's address as far as trusted proxies tell (web channels).
    client: str | None = None

    @property
    def on_phone(self) -> bool:
        return self.kind in (SMS, VOICE)


UNPROVEN = ChannelProof()


def seal(proof: ChannelProof, conversation_id: str, secret: str) -> dict[str, Any]:
    """The metadata entry that carries `proof` for this conversation."""
    claims = asdict(proof)
    return {"claims": claims, "seal": _mac(claims, conversation_id, secret)}


def unseal(
    metadata: Mapping[str, Any] | None, conversation_id: str, secret: str | None
) -> ChannelProof:
    """The proof in a message's metadata; UNPROVEN when absent, forged or for another
    conversation (or when no secret is configured, nothing can be proven)."""
    entry = (metadata or {}).get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    if not secret or not isinstance(entry, Mapping):
        return UNPROVEN
    claims, mac = entry.get("claims"), entry.get("seal")
    if not isinstance(claims, dict) or not isinstance(mac, str):
        return UNPROVEN
    if set(claims) != {f.name for f in fields(ChannelProof)}:
        return UNPROVEN
    if not hmac.compare_digest(mac, _mac(claims, conversation_id, secret)):
        return UNPROVEN
    return ChannelProof(**claims)


def without_proof(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A client's metadata with any proof it tried to bring removed."""
    if not isinstance(metadata, Mapping):
        return {}
    return {k: v for k, v in metadata.items() if k != METADATA_KEY}


def _mac(claims: Mapping[str, Any], conversation_id: str, secret: str) -> str:
    message = json.dumps([conversation_id, claims], sort_keys=True, separators=(",", ":"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def binding(proof: ChannelProof, by_phone: bool) -> str:
    """What a verification stays tied to, so that a later message keeps it only when it
    comes the same proven way: the number (caller ID, or a signed text from it), the call
    (details given on an unproven call), or the web conversation."""
    if by_phone or (proof.kind == SMS and proof.phone_proven):
        return f"phone:{proof.phone}"
    if proof.kind == VOICE:
        return f"call:{proof.call_sid}"
    return WEB


def holds(bound_to: str | None, proof: ChannelProof) -> bool:
    """Whether a verification tied to `bound_to` covers a message with this proof."""
    if not bound_to:
        return False
    if bound_to.startswith("phone:"):
        return proof.phone_proven and bound_to == f"phone:{proof.phone}"
    if bound_to.startswith("call:"):
        return proof.kind == VOICE and bool(proof.call_sid) and bound_to == f"call:{proof.call_sid}"
    return bound_to == WEB and proof.kind == WEB
