"""Starts the real Settle service and Rasa server on free loopback ports, for tests and
benchmarks."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from twilio.request_validator import RequestValidator

from settle.access.rasa_api import ensure_private_key, rasa_arguments

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "settle.tar.gz"

STRIPE_KEY = "sk_test_settle"
WEBHOOK_SECRET = "whsec_settle_test"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-test-token"
TWILIO_FROM = "+14155550199"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@dataclass
class Servers:
    """Both servers, with the environment they were started with."""

    workdir: Path
    env: dict[str, str]
    service_port: int
    rasa_port: int
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def say(self, sender: str, text: str) -> list[str]:
        status, body = http(
            "POST",
            f"{self.rasa_url}/webhooks/rest/webhook",
            json.dumps({"sender": sender, "message": text}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200, body
        return [m["text"] for m in json.loads(body) if m.get("text")]

    def sms(self, sender: str, text: str, token: str | None = None) -> tuple:
        """A Twilio-shaped SMS webhook, signed with token (the real one by default)."""
        params = {
            "From": sender,
            "To": TWILIO_FROM,
            "Body": text,
            "MessageSid": "SM" + hashlib.md5(f"{sender}{text}{time.time()}".encode()).hexdigest(),
            "AccountSid": TWILIO_SID,
        }
        return self.twilio_post("/webhooks/twilio/webhook", params, token)

    def twilio_post(self, path: str, params: dict[str, str], token: str | None = None) -> tuple:
        """POST a Twilio-signed form to the Rasa server (path may carry a query), signed for
        its public URL (RASA_PUBLIC_URL, which a load balancer may share among servers)."""
        public = self.env.get("RASA_PUBLIC_URL") or self.rasa_url
        signature = RequestValidator(token or TWILIO_TOKEN).compute_signature(
            f"{public}{path}", params
        )
        return http(
            "POST",
            f"{self.rasa_url}{path}",
            urllib.parse.urlencode(params).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )

    def call(
        self,
        call_sid: str,
        caller: str,
        path: str = "/webhooks/twilio_voice/webhook",
        token: str | None = None,
        follow_redirects: bool = True,
        **fields: str,
    ):
        """One voice webhook as Twilio sends it; returns (status, TwiML root or body).

        Like Twilio, <Redirect> is followed with the same parameters.
        """
        outbound = fields.get("Direction", "inbound").startswith("outbound")
        params = {
            "CallSid": call_sid,
            "AccountSid": TWILIO_SID,
            "CallStatus": "in-progress",
            "From": TWILIO_FROM if outbound else caller,
            "To": caller if outbound else TWILIO_FROM,
            "Direction": "inbound",
            **fields,
        }
        if not outbound:  # carriers vouch for most callers; the security tests say otherwise
            params.setdefault("StirVerstat", "TN-Validation-Passed-A")
        params = {k: v for k, v in params.items() if v is not None}
        status, body = self.twilio_post(path, params, token)
        if status != 200:
            return status, body
        root = ET.fromstring(body)
        redirect = root.find("Redirect")
        if follow_redirects and redirect is not None:
            return self.call(call_sid, caller, redirect.text, token, follow_redirects, **fields)
        return status, root

    def answer(self, call_sid: str, caller: str, twiml, **fields: str):
        """Reply to the <Gather> in twiml (SpeechResult=..., Digits=..., or nothing: silence)."""
        gather = twiml.find("Gather")
        assert gather is not None, ET.tostring(twiml).decode()
        return self.call(call_sid, caller, gather.get("action"), **fields)

    def stripe_event(
        self, event: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
    ) -> tuple:
        payload = json.dumps(event)
        t = int(time.time()) if timestamp is None else timestamp
        signature = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
        return http(
            "POST",
            f"{self.service_url}/webhooks/stripe",
            payload.encode(),
            {"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={signature}"},
        )

    def settle(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "settle"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start_service(self) -> None:
        log = open(self.workdir / "service.log", "ab")
        self.processes.append(
            subprocess.Popen(
                [str(BIN / "settle"), "serve", "--port", str(self.service_port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_until_up(
            f"{self.service_url}/health", 60, self.processes[-1], self.workdir / "service.log"
        )

    def start_rasa(self, launcher: list[str] | None = None) -> None:
        """`rasa run` on the trained model; launcher replaces the `rasa` command (a profiler)."""
        log = open(self.workdir / "rasa.log", "ab")
        self.processes.append(
            subprocess.Popen(
                [
                    *(launcher or [str(BIN / "rasa")]),
                    "run",
                    "--model",
                    str(MODEL),
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(self.rasa_port),
                    "--credentials",
                    str(ROOT / "credentials.yml"),
                    "--endpoints",
                    str(self.workdir / "endpoints.yml"),
                    "--cors",
                    "*",
                    *rasa_arguments(Path(self.env["RASA_JWT_KEY_FILE"])),
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_until_up(f"{self.rasa_url}/", 240, self.processes[-1], self.workdir / "rasa.log")

    def stop(self, process: subprocess.Popen | None = None) -> None:
        for p in [process] if process else list(self.processes):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
            self.processes.remove(p)


def wait_until_up(url: str, seconds: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{url}: server exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            status, _ = http("GET", url, timeout=2)
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not up after {seconds}s:\n{log.read_text()[-3000:]}")


def _settings_file(workdir: Path, overrides: dict[str, dict] | None) -> Path:
    """settle.yml with `overrides` merged into its sections."""
    sections = yaml.safe_load((ROOT / "settle.yml").read_text())
    overrides = (
        overrides if overrides is not None else {"security": {"web_messages_per_minute": 100_000}}
    )
    for name, values in overrides.items():
        sections[name] = {**(sections.get(name) or {}), **values}
    path = workdir / "settle.yml"
    path.write_text(yaml.safe_dump(sections, sort_keys=False))
    return path


def start_servers(
    workdir: Path,
    stripe_base: str | None = None,
    twilio_base: str | None = None,
    extra_env: dict[str, str] | None = None,
    extra_data: list[tuple] | None = None,
    settings: dict[str, dict] | None = None,
    rasa: bool = True,
) -> Servers:
    """Demo data in a fresh SQLite database, then the Settle service and Rasa (trained model).

    `settings` overrides sections of settle.yml (merged key by key) in a copy the servers
    read; by default every test client shares 127.0.0.1, so the per-address message limit
    is lifted (the security tests keep it, and tell clients apart by X-Forwarded-For).
    """
    if rasa and not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `make train` first")
    workdir.mkdir(parents=True, exist_ok=True)
    service_port, rasa_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "TWILIO_", "DATABASE_URL", "TRACKER_DATABASE_URL"))
    }
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "DATABASE_URL": f"sqlite:///{workdir / 'settle.db'}",
            "TRACKER_DATABASE_URL": f"sqlite:///{workdir / 'conversations.db'}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{service_port}",
            "RASA_URL": f"http://127.0.0.1:{rasa_port}",
            "RASA_JWT_KEY_FILE": str(workdir / "rasa-jwt.pem"),
            # This checkout's code, not the editable install's (which may be another worktree).
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    if stripe_base:
        env.update(
            {
                "STRIPE_API_KEY": STRIPE_KEY,
                "STRIPE_API_BASE": stripe_base,
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            }
        )
    if twilio_base:
        env.update(
            {
                "TWILIO_ACCOUNT_SID": TWILIO_SID,
                "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                "TWILIO_FROM_NUMBER": TWILIO_FROM,
                "TWILIO_API_BASE": twilio_base,
            }
        )
    env["SETTLE_SETTINGS"] = str(_settings_file(workdir, settings))
    # The secret only the Rasa server sends to the action server (endpoints.yml headers).
    env["SETTLE_ACTION_SECRET"] = secrets.token_urlsafe(24)
    env.update(extra_env or {})
    # Tests decide when reminders go out (`settle reminders run`): no pass a minute of its own.
    env.setdefault("SETTLE_REMINDER_INTERVAL_SECONDS", "0")
    # Many services run at once in the tests: none takes the default metrics port.
    env.setdefault("SETTLE_METRICS_PORT", "0")
    env.setdefault(
        "TWILIO_VOICE_URL", f"http://127.0.0.1:{rasa_port}/webhooks/twilio_voice/webhook"
    )
    # The project's endpoints.yml, as `make run` uses it, with this run's action server.
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{service_port}/webhook"
    (workdir / "endpoints.yml").write_text(yaml.safe_dump(endpoints, sort_keys=False))
    ensure_private_key(Path(env["RASA_JWT_KEY_FILE"]))
    servers = Servers(workdir, env, service_port, rasa_port)
    seeded = servers.settle("demo")
    if seeded.returncode != 0:
        raise RuntimeError(f"settle demo failed: {seeded.stderr}")
    for customers, invoices in extra_data or []:
        imported = servers.settle(
            "import", "--customers", str(customers), "--invoices", str(invoices)
        )
        if imported.returncode != 0:
            raise RuntimeError(f"settle import failed: {imported.stderr}")
    try:
        servers.start_service()
        if rasa:
            servers.start_rasa()
    except BaseException:
        servers.stop()
        raise
    return servers
