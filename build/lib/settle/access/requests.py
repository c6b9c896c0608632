"""Which HTTP requests we believe, and from whom they came.

* A client's address is the TCP peer, unless the peer is a configured trusted proxy
  (SETTLE_TRUSTED_PROXIES): then it is the nearest address in X-Forwarded-For that is not
  one of our proxies. Forwarded headers from anyone else are ignored.
* A Twilio request is believed when its X-Twilio-Signature is valid for the URL we publish
  (RASA_PUBLIC_URL or PUBLIC_BASE_URL, never a Host or X-Forwarded-Host the request brings)
  and its form names each field once. Without TWILIO_AUTH_TOKEN nothing is believed,
  except from this machine in the explicit development mode (SETTLE_DEV_MODE=1).
* Operator pages need SETTLE_OPERATOR_TOKEN as a bearer token (or development mode and
  this machine).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import parse_qsl

from sanic.request import Request
from twilio.request_validator import RequestValidator

from settle.access.addresses import canonical


class MalformedForm(ValueError):
    """A form that names a field twice (or is not a form): signed or not, it is refused."""


@functools.lru_cache(maxsize=16)
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _is_proxy(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in _networks(proxies))


def client_address(request: Request, trusted_proxies: Iterable[str] = ()) -> str:
    """The address of whoever sent the request, as far as our own proxies tell."""
    proxies = tuple(trusted_proxies)
    return forwarded_client(request.ip, request.headers.getall("X-Forwarded-For", []), proxies)


def forwarded_client(peer: str, forwarded_for: Iterable[str], proxies: tuple[str, ...]) -> str:
    """The peer, or, when the peer is our proxy, the nearest untrusted X-Forwarded-For hop."""
    if not _is_proxy(peer, proxies):
        return canonical(peer)
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_proxy(hop, proxies):
            return canonical(hop)
    return canonical(peer)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def trusted_as_local(request: Request, settings) -> bool:
    """Development mode only: a request from this machine (not through a trusted proxy)."""
    return bool(settings.dev_mode) and is_loopback(
        client_address(request, settings.trusted_proxies)
    )


def form_params(request: Request) -> dict[str, str]:
    """The posted form as Twilio signed it (blank values kept); a repeated field is refused,
    so the signature check and the handler can never read different values."""
    pairs = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise MalformedForm("a form field is repeated")
    return dict(pairs)


def public_url(request: Request, public_base: str) -> str:
    """The URL Twilio was given: our configured base, the request's own path and query."""
    query = f"?{request.query_string}" if request.query_string else ""
    return f"{public_base.rstrip('/')}{request.path}{query}"


def twilio_refusal(request: Request, settings, public_base: str) -> str | None:
    """Why a request claiming to come from Twilio is refused; None when it is believed."""
    try:
        params = form_params(request)
    except MalformedForm as error:
        return str(error)
    token = settings.twilio_auth_token
    if not token:
        if trusted_as_local(request, settings):
            return None
        return (
            "TWILIO_AUTH_TOKEN is not set: Twilio requests can't be verified "
            "(development mode accepts unsigned ones from this machine only)"
        )
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(token).validate(public_url(request, public_base), params, signature):
        return "invalid signature"
    return None


def operator_allowed(request: Request, settings) -> bool:
    """The operator token as `Authorization: Bearer …`, or development mode on this machine."""
    token = settings.operator_token
    given = request.headers.get("Authorization", "")
    if (
        token
        and given.startswith("Bearer ")
        and hmac.compare_digest(given[7:].encode(), token.encode())
    ):
        return True
    return trusted_as_local(request, settings)


def action_caller_allowed(request: Request, secret: str | None) -> bool:
    """The action endpoint answers the Rasa server only: it sends the shared secret."""
    given = request.headers.get("X-Settle-Action-Secret", "")
    if not secret:
        return False
    return hmac.compare_digest(given.encode(), secret.encode())
