"""Who may call our webhooks: Twilio's signature (or this machine, for local use)."""
from __future__ import annotations

import ipaddress
from typing import Dict, Optional
from urllib.parse import parse_qsl

from sanic.request import Request
from twilio.request_validator import RequestValidator


def is_loopback(request: Request) -> bool:
    try:
        return ipaddress.ip_address(request.ip).is_loopback
    except ValueError:
        return False


def public_url(request: Request) -> str:
    """The URL as Twilio addressed it, also behind a proxy that terminates TLS."""
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    query = f"?{request.query_string}" if request.query_string else ""
    return f"{proto}://{host}{request.path}{query}"


def is_trusted_twilio_request(request: Request, auth_token: Optional[str]) -> bool:
    """Signed by Twilio with our token; without a token (local use) from loopback only."""
    if not auth_token:
        return is_loopback(request)
    signature = request.headers.get("X-Twilio-Signature", "")
    return RequestValidator(auth_token).validate(public_url(request), form_params(request), signature)


def form_params(request: Request) -> Dict[str, str]:
    """The posted form as Twilio signed it: blank values included (Sanic's form drops them)."""
    return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
