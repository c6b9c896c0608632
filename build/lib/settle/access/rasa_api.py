"""How the Settle service calls Rasa's HTTP API without a secret on any command line.

Rasa's `--auth-token` must be given on the command line (where `ps` shows it) and is sent
in the query string (where proxies log it). Its JWT option takes file *paths* instead:
`rasa run --enable-api --jwt-method RS256 --jwt-secret KEY.pub --jwt-private-key KEY`
(`settle rasa-key` prints these flags). The Settle service signs a one-minute token with
the private key (RASA_JWT_KEY_FILE, a PEM file readable by its user only) for each call,
sent in the Authorization header. Rasa verifies with the public key; its JWT extension
insists on being given the private key too, though it signs nothing with it here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_SECONDS = 60


def ensure_private_key(path: Path) -> Path:
    """Make an RSA key at `path` (mode 0600) unless one is there, and its public half at
    `path`.pub; returns the public key's path."""
    public = public_key_path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
    if not public.exists():
        public.write_text(public_key_pem(path))
    return public


def public_key_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def rasa_arguments(path: Path) -> list:
    """`rasa run` flags for Rasa's API with tokens signed by this key (paths only)."""
    return [
        "--enable-api",
        "--jwt-method",
        "RS256",
        "--jwt-secret",
        str(ensure_private_key(path)),
        "--jwt-private-key",
        str(path),
    ]


def _private_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def public_key_pem(path: Path) -> str:
    """What `rasa run --jwt-secret` is given."""
    return (
        _private_key(path)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def authorization(path: Path, now: float | None = None) -> dict[str, str]:
    """The header for one call to Rasa's API, as an admin (Rasa's JWT payload format)."""
    issued = int(now if now is not None else time.time())
    token = jwt.encode(
        {
            "user": {"username": "settle-service", "role": "admin"},
            "iat": issued,
            "exp": issued + TOKEN_SECONDS,
        },
        _private_key(path),
        algorithm="RS256",
    )
    return {"Authorization": f"Bearer {token}"}
