"""`settle` commands that run the servers: the Settle service, `settle run` (the service and
Rasa, kept running by the supervisor), the flags for Rasa's API, and a terminal chat."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from settle.access.rasa_api import ensure_private_key, rasa_arguments
from settle.app.cli_billing import load_demo
from settle.app.supervisor import Supervisor
from settle.config import PROJECT_ROOT, ConfigError, Settings, allowed_origins, log_level, redis_url
from settle.store.db import Store


def run_service(host: str, port: int) -> int:
    # Late: the service loads Sanic and rasa-sdk, which no other command needs.
    from settle.app.service import serve

    try:
        serve(host, port)
    except ConfigError as error:
        print(f"settle: configuration error: {error}", file=sys.stderr)
        return 2
    return 0


def rasa_key(settings: Settings) -> int:
    """The `rasa run` flags that let the Settle service (RASA_JWT_KEY_FILE) use Rasa's API."""
    print(" ".join(rasa_arguments(settings.rasa_jwt_key_file or LOCAL_RASA_KEY)))
    return 0


def _wait_for(url: str, seconds: float, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


LOCAL_RASA_KEY = PROJECT_ROOT / "var" / "rasa-jwt.pem"


def run_service_and_rasa(store: Store, settings: Settings, host: str) -> int:
    """`make run`: demo data when the database is empty, then both servers, kept running
    (a child that dies is started again, with the reason printed) until Ctrl-C."""
    load_demo(store, settings, if_empty=True)
    bin_dir = Path(sys.executable).parent
    # Rasa's HTTP API is on (the service uses it to tell web chats about payments), for
    # tokens signed with a key only the service has: Rasa gets the public half. The action
    # endpoint answers only the Rasa server, which sends the action secret. Both are kept
    # in var/, readable by you only, and passed by file or environment, never as arguments.
    key = settings.rasa_jwt_key_file or LOCAL_RASA_KEY
    ensure_private_key(key)
    workers = rasa_workers(os.environ)
    env = {
        **os.environ,
        "RASA_JWT_KEY_FILE": str(key),
        "SETTLE_ACTION_SECRET": settings.action_secret or _local_action_secret(),
        "SANIC_WORKERS": str(workers),
        # Rasa reads LOG_LEVEL too, but only in capitals.
        "LOG_LEVEL": logging.getLevelName(log_level()),
    }
    env.setdefault("ACTION_SERVER_URL", "http://localhost:5055/webhook")
    # Development mode: this machine may skip signatures (curl a Twilio webhook, read the
    # outbox). SETTLE_DEV_MODE=0 turns it off.
    env.setdefault("SETTLE_DEV_MODE", "1")
    dev_mode = env["SETTLE_DEV_MODE"] not in ("0", "false", "no", "off")
    origins = allowed_origins()
    supervisor = Supervisor.of(
        {
            "Settle service": lambda: subprocess.Popen(
                [str(bin_dir / "settle"), "serve", "--host", host], cwd=PROJECT_ROOT, env=env
            ),
            "Rasa server": lambda: subprocess.Popen(
                [
                    str(bin_dir / "rasa"),
                    "run",
                    "--interface",
                    host,
                    "--port",
                    "5005",
                    "--cors",
                    origins,
                    "--model",
                    "models",
                    "--credentials",
                    "credentials.yml",
                    "--endpoints",
                    "endpoints.yml",
                    *rasa_arguments(key),
                ],
                cwd=PROJECT_ROOT,
                env=env,
            ),
        }
    )
    try:
        supervisor.start()
        if not (
            _wait_for(f"http://{host}:5055/health", 60, supervisor.process("Settle service"))
            and _wait_for(f"http://{host}:5005/", 300, supervisor.process("Rasa server"))
        ):
            print("settle run: a server did not start; see the log above", file=sys.stderr)
            return 1
        print(
            f"""
Settle is running ({"Stripe" if settings.uses_stripe else "sandbox payments"}, \
{"Twilio" if settings.uses_twilio else "messages to the outbox"}, \
{_plural(workers, "Rasa worker")}, {"locks in Redis" if redis_url() else "locks in memory"}).

  Chat in a browser:   http://{host}:5055/chat
  Chat in a terminal:  .venv/bin/settle chat
  REST channel:        curl -s http://{host}:5005/webhooks/rest/webhook \\
                         -d '{{"sender": "me", "message": "I want to pay my bill"}}'
  Demo identity:       invoice INV-1001 with ZIP 94110 (one invoice), INV-2001 / 10001
                       (three), INV-3001 / 60614 (eight), INV-4001 / 02139 (nothing open)
  Texts sent:          .venv/bin/settle outbox   or  http://{host}:5055/outbox
  Invoice state:       .venv/bin/settle invoice show INV-1001 --json

{_DEV_MODE_NOTE if dev_mode else ""}Ctrl-C stops both servers.
""",
            flush=True,
        )
        while True:
            supervisor.check()
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        supervisor.stop()


def rasa_workers(env: Mapping[str, str]) -> int:
    """RASA_WORKERS: Rasa's Sanic workers; more than one only with a shared lock store."""
    raw = (env.get("RASA_WORKERS") or "1").strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"RASA_WORKERS must be a whole number of workers, 1 or more, got {raw!r}")
    if int(raw) > 1 and not (env.get("REDIS_URL") or "").strip():
        raise ConfigError(
            f"RASA_WORKERS={raw} needs REDIS_URL: the workers share their conversation "
            "locks there (one turn of a conversation at a time)"
        )
    return int(raw)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


_DEV_MODE_NOTE = """\
Development mode is on: requests from this machine are trusted without signatures
(Twilio and Stripe webhooks, /outbox). Never expose it; SETTLE_DEV_MODE=0 turns it off.

"""


def _local_action_secret() -> str:
    """The action secret of this checkout (var/action-secret, made once, readable by you
    only): `SETTLE_ACTION_SECRET=$(cat var/action-secret) rasa shell` talks to `make run`."""
    path = PROJECT_ROOT / "var" / "action-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def chat(url: str, sender: str) -> int:
    print(f"Talking to {url} as {sender!r}. Ctrl-D to leave.")
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not text:
            continue
        request = urllib.request.Request(
            url,
            data=json.dumps({"sender": sender, "message": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                for message in json.load(reply):
                    print(f"bot> {message.get('text', '')}")
        except OSError as error:
            print(
                f"settle chat: cannot reach the assistant at {url} ({error}). "
                "Is `make run` running?",
                file=sys.stderr,
            )
            return 1
