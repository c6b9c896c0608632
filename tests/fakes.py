"""Local Stripe- and Twilio-compatible HTTP servers that record every request they get.

They answer the few endpoints Settle uses, in the shape the official SDKs expect, so the
real SDK code paths run against loopback (STRIPE_API_BASE, TWILIO_API_BASE).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeServer:
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    fail_next: int = 0  # answer this many requests with HTTP 500 first
    delay: float = 0.0  # seconds to wait before answering (a slow provider)
    throttle_next: int = 0  # answer this many requests with HTTP 429 and Retry-After: 1 first

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                record = Recorded(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    dict(parse_qsl(raw, keep_blank_values=True)),
                )
                fake.requests.append(record)
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.fail_next > 0:
                    fake.fail_next -= 1
                    return self._reply(500, {"error": {"message": "injected failure"}})
                if fake.throttle_next > 0:
                    fake.throttle_next -= 1
                    return self._reply(
                        429,
                        {"code": 20429, "message": "Too Many Requests", "status": 429},
                        {"Retry-After": "1"},
                    )
                status, body = fake.answer(record)
                self._reply(status, body)

            def do_GET(self):
                record = Recorded(
                    "GET", self.path, {k.lower(): v for k, v in self.headers.items()}, {}
                )
                fake.requests.append(record)
                status, body = fake.answer(record)
                self._reply(status, body)

            def _reply(self, status: int, body: dict, headers: dict | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def answer(self, record: Recorded):  # pragma: no cover - overridden
        return 404, {}

    def posts(self, path_pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and re.search(path_pattern, r.path)]


class FakeStripe(FakeServer):
    """POST /v1/checkout/sessions (payment and setup mode), /v1/customers,
    /v1/payment_intents, /v1/refunds and GET /v1/setup_intents/{id}, replaying the first
    answer for a repeated Idempotency-Key like Stripe."""

    def __init__(self):
        super().__init__()
        self._by_key: dict[str, dict] = {}  # idempotency key -> the first answer's body
        self._status_by_key: dict[str, int] = {}
        # Off-session charges with these payment methods are declined (card_declined).
        self.declined_payment_methods: set = set()
        self.refund_status = "pending"  # Stripe's usual first answer for a card refund
        self._numbers: dict[str, int] = {}
        self._lock = threading.Lock()  # the server answers concurrent requests

    def answer(self, record: Recorded):
        with self._lock:
            return self._answer(record)

    def _answer(self, record: Recorded):
        key = record.headers.get("idempotency-key")
        if record.method == "POST" and key in self._by_key:
            return self._status_by_key[key], self._by_key[key]
        if record.method == "GET":
            match = re.fullmatch(r"/v1/setup_intents/(\w+)", record.path)
            if not match:
                return 404, {"error": {"message": f"unknown path {record.path}"}}
            return 200, {
                "id": match.group(1),
                "object": "setup_intent",
                "status": "succeeded",
                "payment_method": f"pm_card_{match.group(1)[-4:]}",
            }
        handler = {
            "/v1/customers": self._customer,
            "/v1/payment_intents": self._payment_intent,
            "/v1/refunds": self._refund,
        }.get(record.path)
        if handler is None and record.path != "/v1/checkout/sessions":
            return 404, {"error": {"message": f"unknown path {record.path}"}}
        status, body = handler(record) if handler else self._session(record)
        if key:
            self._by_key[key], self._status_by_key[key] = body, status
        return status, body

    def _count(self, path: str) -> int:
        """1, 2, 3… per endpoint: the number of the object being created."""
        self._numbers[path] = self._numbers.get(path, 0) + 1
        return self._numbers[path]

    def _customer(self, record: Recorded):
        return 200, {
            "id": f"cus_test_{self._count('/v1/customers'):04d}",
            "object": "customer",
            "name": record.form.get("name"),
            "phone": record.form.get("phone"),
        }

    def _payment_intent(self, record: Recorded):
        form = record.form
        intent = {
            "id": f"pi_test_{self._count('/v1/payment_intents'):04d}",
            "object": "payment_intent",
            "amount": int(form.get("amount") or 0),
            "currency": form.get("currency"),
            "customer": form.get("customer"),
            "payment_method": form.get("payment_method"),
            "status": "succeeded",
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
        }
        if form.get("payment_method") in self.declined_payment_methods:
            intent["status"] = "requires_payment_method"
            return 402, {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                    "payment_intent": intent,
                }
            }
        intent["amount_received"] = intent["amount"]
        return 200, intent

    def _refund(self, record: Recorded):
        form = record.form
        return 200, {
            "id": f"re_test_{self._count('/v1/refunds'):04d}",
            "object": "refund",
            "amount": int(form.get("amount") or 0),
            "payment_intent": form.get("payment_intent"),
            "reason": form.get("reason"),
            "status": self.refund_status,
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
        }

    def _session(self, record: Recorded):
        number = self._count("/v1/checkout/sessions")
        form = record.form
        session = {
            "id": f"cs_test_{number:04d}",
            "object": "checkout.session",
            "mode": form.get("mode"),
            "url": f"https://checkout.stripe.test/c/pay/cs_test_{number:04d}",
            "expires_at": int(form.get("expires_at") or time.time() + 86400),
            "amount_total": int(form.get("line_items[0][price_data][unit_amount]") or 0),
            "currency": form.get("line_items[0][price_data][currency]"),
            "client_reference_id": form.get("client_reference_id"),
            "payment_status": "unpaid",
            "status": "open",
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "customer": form.get("customer"),
        }
        return 200, session


class FakeTwilio(FakeServer):
    """POST /2010-04-01/Accounts/{sid}/Messages.json and Calls.json; GET Messages.json?To=…
    lists the messages it accepted (for the look-up before a re-send)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.accepted: list[dict] = []

    def answer(self, record: Recorded):
        call = re.fullmatch(r"/2010-04-01/Accounts/(\w+)/Calls\.json", record.path)
        if call:
            return 201, {
                "sid": f"CA{len(self.posts('Calls')):032d}",
                "account_sid": call.group(1),
                "status": "queued",
                "to": record.form.get("To"),
                "from": record.form.get("From"),
                "direction": "outbound-api",
                "uri": record.path,
            }
        listing = re.fullmatch(r"/2010-04-01/Accounts/(\w+)/Messages\.json\?(.*)", record.path)
        if listing and record.method == "GET":  # messages.list(to=…): what Twilio already took
            to = dict(parse_qsl(listing.group(2))).get("To")
            return 200, {
                "messages": [m for m in self.accepted if m["to"] == to],
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "uri": record.path,
                "first_page_uri": record.path,
            }
        match = re.fullmatch(r"/2010-04-01/Accounts/(\w+)/Messages\.json", record.path)
        if not match:
            return 404, {"message": f"unknown path {record.path}"}
        number = len(self.posts("Messages"))
        message = {
            "sid": f"SM{number:032d}",
            "account_sid": match.group(1),
            "status": "queued",
            "to": record.form.get("To"),
            "from": record.form.get("From"),
            "body": record.form.get("Body"),
            "num_segments": "1",
            "direction": "outbound-api",
            "date_created": None,
            "date_updated": None,
            "date_sent": None,
            "uri": record.path,
        }
        self.accepted.append(message)
        return 201, message


class FakeSmtp:
    """A local SMTP server (plain, no TLS) that keeps every message it accepts, parsed."""

    def __init__(self):
        self.messages: list = []
        self.server = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"smtp://{host}:{port}"

    def start(self) -> FakeSmtp:
        import email
        import email.policy
        import socketserver

        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str):
                self.wfile.write((line + "\r\n").encode())

            def handle(self):
                self.reply("220 fake-smtp ready")
                sender, recipients = None, []
                while True:
                    line = self.rfile.readline().decode(errors="replace").rstrip("\r\n")
                    if not line:
                        return
                    verb = line.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 fake-smtp")
                    elif verb == "MAIL":
                        sender, recipients = line.split(":", 1)[1].strip(" <>"), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(line.split(":", 1)[1].strip(" <>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        lines = []
                        while True:
                            data = self.rfile.readline()
                            if data in (b".\r\n", b".\n", b""):
                                break
                            lines.append(data[1:] if data.startswith(b"..") else data)
                        parsed = email.message_from_bytes(
                            b"".join(lines), policy=email.policy.default
                        )
                        fake.messages.append({"from": sender, "to": recipients, "message": parsed})
                        self.reply("250 OK queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:  # RSET, NOOP and the rest
                        self.reply("250 OK")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
