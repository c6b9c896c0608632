"""The `Settle-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the
scheme Stripe signs its webhooks with, so a billing system can verify with code it has."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Settle-Signature"
# A receiver refuses a signature older than this (a replayed request).
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for body sent at timestamp (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """Whether header signs body with secret, at most `tolerance` seconds before now."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    # As bytes: compare_digest raises on non-ASCII text, and a forged header is just wrong.
    return hmac.compare_digest(expected.encode(), parts.get("v1", "").encode())
