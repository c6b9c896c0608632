"""The `settle` command. Every subcommand first brings the database schema up to date."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import func, select

from settle.access.rasa_api import ensure_private_key, rasa_arguments
from settle.adapters.calls import CallRefused, place_call
from settle.app.supervisor import Supervisor
from settle.billing.disputes import disputes_document
from settle.billing.importer import ImportFailed, import_billing_data
from settle.config import PROJECT_ROOT, ConfigError, Settings, tracker_database_url
from settle.core.money import format_money
from settle.plans import plan_document
from settle.policy import load_policy
from settle.privacy.logs import scrub_all_logs
from settle.privacy.retention import UnknownCustomer, delete_conversations, erase_customer
from settle.privacy.scan import scan_all
from settle.refunds import refunds_document
from settle.store.db import Store
from settle.store.models import Customer, Invoice, Message, PaymentLink

DEMO = Path(__file__).resolve().parent.parent / "demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="settle", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="create or upgrade the billing database schema")

    p = commands.add_parser("import", help="load or update customers and invoices from CSV")
    p.add_argument("--customers", type=Path, help="customers.csv")
    p.add_argument("--invoices", type=Path, help="invoices.csv")

    p = commands.add_parser("demo", help="load the demo data set (4 customers, 13 invoices)")
    p.add_argument("--if-empty", action="store_true", help="only when there are no customers yet")

    p = commands.add_parser("invoice", help="look at invoices")
    invoice = p.add_subparsers(dest="invoice_command", required=True)
    show = invoice.add_parser("show", help="an invoice with its payments and links")
    show.add_argument("invoice_id")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    p = commands.add_parser("policy", help="the business's rules for plans and refunds")
    policy = p.add_subparsers(dest="policy_command", required=True)
    explain = policy.add_parser(
        "explain", help="which plans and refunds a customer would get, and why"
    )
    explain.add_argument("customer_id")
    explain.add_argument("--invoice", help="only this invoice (else every open one)")
    explain.add_argument("--json", action="store_true", help="machine-readable output")

    p = commands.add_parser("plans", help="payment plans")
    plans_commands = p.add_subparsers(dest="plans_command", required=True)
    plans_commands.add_parser(
        "run",
        help="send installment reminders and charge the "
        "installments due now (the service does this too)",
    )

    p = commands.add_parser("outbox", help="the most recent messages (sent or kept locally)")
    p.add_argument("--limit", type=int, default=20)

    p = commands.add_parser("call", help="call a customer (into the voice flow) through Twilio")
    p.add_argument("customer_id")
    p.add_argument("--reason", default="reminder")
    p.add_argument("--invoice", help="the invoice the call is about")

    p = commands.add_parser("reminders", help="reminder sequences (settle.yml `reminders:`)")
    reminders_cmd = p.add_subparsers(dest="reminders_command", required=True)
    run = reminders_cmd.add_parser("run", help="send the reminders that are due now (for cron)")
    run.add_argument("--json", action="store_true", help="machine-readable summary")
    preview = reminders_cmd.add_parser("preview", help="what would go out on a date, and why not")
    preview.add_argument("--date", required=True, help="YYYY-MM-DD")
    preview.add_argument(
        "--at",
        default=None,
        help="UTC time of day to look at (HH:MM; default now for today, else "
        "18:00, inside US contact hours)",
    )
    preview.add_argument("--json", action="store_true", help="machine-readable output")

    p = commands.add_parser("locks", help="identity checks locked after too many misses")
    p.add_argument(
        "--clear",
        type=int,
        metavar="ID",
        help="lift this lock (the customer proved who they are to a person)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = commands.add_parser(
        "scan-pans",
        help="look for card numbers in the billing database, the conversation store and log files",
    )
    p.add_argument(
        "--log",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a log file or a directory of them (repeatable; default: var/log)",
    )
    p.add_argument(
        "--conversations",
        metavar="URL",
        help="the conversation store (default: as Rasa finds it, TRACKER_DATABASE_URL)",
    )

    p = commands.add_parser("customer", help="a customer's personal data")
    customer_commands = p.add_subparsers(dest="customer_command", required=True)
    erase = customer_commands.add_parser(
        "erase",
        help="remove a customer's personal data and conversations; the books keep the amounts",
    )
    erase.add_argument("customer_id")
    erase.add_argument(
        "--by",
        default=os.environ.get("USER") or "operator",
        help="who asked for it (written to the audit log)",
    )

    p = commands.add_parser(
        "rasa-key",
        help="the `rasa run` flags for Rasa's API with tokens "
        "the service signs (RASA_JWT_KEY_FILE; made when "
        "missing)",
    )

    p = commands.add_parser("serve", help="run the Settle service (actions + webhooks)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5055)

    p = commands.add_parser("run", help="database + demo data, then the Settle service and Rasa")
    p.add_argument("--host", default="127.0.0.1")

    p = commands.add_parser("chat", help="talk to the running assistant over its REST channel")
    p.add_argument("--url", default="http://localhost:5005/webhooks/rest/webhook")
    p.add_argument("--sender", default=f"chat-{os.getpid()}")

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    scrub_all_logs()
    try:
        settings = Settings.from_env()
        load_policy()  # the policy: section too, so a mistake stops every command up front
    except ConfigError as error:
        print(f"settle: configuration error: {error}", file=sys.stderr)
        return 2
    if args.command == "chat":
        return _chat(args.url, args.sender)
    store = Store.connect(settings.database_url)  # migrates to head
    handler = {
        "migrate": lambda: 0,
        "import": lambda: _import(store, settings, args.customers, args.invoices),
        "demo": lambda: _demo(store, settings, args.if_empty),
        "invoice": lambda: _show_invoice(store, args.invoice_id, args.json),
        "outbox": lambda: _outbox(store, args.limit),
        "policy": lambda: _policy_explain(store, args.customer_id, args.invoice, args.json),
        "plans": lambda: _plans_run(store, settings),
        "call": lambda: _call(store, settings, args.customer_id, args.reason, args.invoice),
        "reminders": lambda: _reminders(store, settings, args),
        "locks": lambda: _locks(store, args.clear, args.json),
        "scan-pans": lambda: _scan_pans(settings, args.conversations, args.log),
        "customer": lambda: _erase(store, args.customer_id, args.by),
        "rasa-key": lambda: _rasa_key(settings),
        "serve": lambda: _serve(args.host, args.port),
        "run": lambda: _run(store, settings, args.host),
    }[args.command]
    return handler()


def _import(store: Store, settings: Settings, customers: Path | None, invoices: Path | None) -> int:
    if not customers and not invoices:
        print("settle import: give --customers and/or --invoices", file=sys.stderr)
        return 2
    try:
        with store.unit_of_work() as session:
            result = import_billing_data(
                session, customers, invoices, settings.business.default_region
            )
    except ImportFailed as failure:
        print(
            f"settle import: nothing imported, {len(failure.errors)} problem(s):", file=sys.stderr
        )
        for error in failure.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print(
        f"customers: {result.customers_created} created, {result.customers_updated} updated; "
        f"invoices: {result.invoices_created} created, {result.invoices_updated} updated"
    )
    return 0


def _demo(store: Store, settings: Settings, if_empty: bool) -> int:
    if if_empty:
        with store.unit_of_work() as session:
            if session.scalar(select(func.count(Customer.id))):
                return 0
    return _import(store, settings, DEMO / "customers.csv", DEMO / "invoices.csv")


def invoice_document(session, invoice: Invoice) -> dict:
    links = session.scalars(
        select(PaymentLink).where(PaymentLink.invoice_id == invoice.id).order_by(PaymentLink.id)
    ).all()
    return {
        "invoice_id": invoice.id,
        "customer_id": invoice.customer_id,
        "status": invoice.status,
        "currency": invoice.currency,
        "amount": invoice.amount_minor,
        "amount_paid": invoice.amount_paid_minor,
        "amount_due": invoice.balance_minor,
        "overpaid": invoice.overpaid_minor,
        "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "description": invoice.description,
        "payments": [
            {
                "id": p.id,
                "amount": p.amount_minor,
                "currency": p.currency,
                "provider": p.provider,
                "provider_ref": p.provider_ref,
                "flag": p.flag,
                "created_at": p.created_at.isoformat(),
            }
            for p in invoice.payments
        ],
        "payment_links": [
            {
                "id": link.id,
                "provider": link.provider,
                "session_id": link.session_id,
                "url": link.url,
                "amount": link.amount_minor,
                "status": link.status,
                "expires_at": link.expires_at.isoformat(),
            }
            for link in links
        ],
        "refunds": refunds_document(session, invoice.id),
        "plan": plan_document(session, invoice.id),
        "disputes": disputes_document(session, invoice.id),
    }


def _show_invoice(store: Store, invoice_id: str, as_json: bool) -> int:
    with store.unit_of_work() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            print(f"settle: no invoice {invoice_id!r}", file=sys.stderr)
            return 1
        document = invoice_document(session, invoice)
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        print(
            f"{document['invoice_id']} ({document['status']}) for {document['customer_id']}: "
            f"{format_money(document['amount_due'], document['currency'])} due "
            f"{document['due_on']} of {format_money(document['amount'], document['currency'])}"
        )
        for payment in document["payments"]:
            print(
                f"  paid {format_money(payment['amount'], payment['currency'])} "
                f"on {payment['created_at']} ({payment['provider_ref']})"
            )
        for refund in document["refunds"]:
            print(
                f"  refund {format_money(refund['amount'], refund['currency'])} of payment "
                f"#{refund['payment_id']}: {refund['status']} ({refund['reason']})"
            )
        plan = document["plan"]
        if plan:
            print(
                f"  plan #{plan['id']} ({plan['status']}), {plan['installment_count']} "
                f"{plan['interval']} installments:"
            )
            for i in plan["installments"]:
                print(
                    f"    {i['seq']}. {format_money(i['amount'], plan['currency'])} "
                    f"due {i['due_on']}: {i['status']}"
                )
        for dispute in document["disputes"]:
            print(f"  dispute #{dispute['id']} ({dispute['status']}): {dispute['reason']}")
    return 0


def _policy_explain(store: Store, customer_id: str, invoice_id: str | None, as_json: bool) -> int:
    from settle.policy import explain

    try:
        policy = load_policy()
        with store.unit_of_work() as session:
            report = explain(session, policy, customer_id, invoice_id)
    except (ConfigError, LookupError) as error:
        print(f"settle policy explain: {error}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Customer {customer_id}, {report['today']}:")
    if not report["invoices"]:
        print("  no open invoices")
    for invoice in report["invoices"]:
        due = format_money(invoice["balance_minor"], invoice["currency"])
        if not invoice["plans_eligible"]:
            print(
                f"  {invoice['invoice_id']} ({due} due): no plan — "
                f"{_WHY_NO_PLAN.get(invoice['reason'], invoice['reason'])}"
            )
            continue
        print(f"  {invoice['invoice_id']} ({due} due): plans offered")
        for option in invoice["options"]:
            amounts = [i["amount_minor"] for i in option["installments"]]
            default = " (offered first)" if option["count"] == invoice["default_count"] else ""
            print(
                f"    {option['count']} {option['interval']} payments of "
                f"{format_money(amounts[-1], invoice['currency'])}"
                + (
                    f" (the first {format_money(amounts[0], invoice['currency'])})"
                    if amounts[0] != amounts[-1]
                    else ""
                )
                + f", {option['first_due_on']} to {option['last_due_on']}{default}"
            )
    if not report["payments"]:
        print("  no payments to refund")
    for payment in report["payments"]:
        amount = format_money(payment["amount_minor"], payment["currency"])
        verdict = {
            "approve": "refund would be approved",
            "refuse": f"refund would be refused ({payment['rule']})",
            "person": f"refund goes to a person ({payment['rule']}, "
            f"{payment['handoff_phone'] or 'no hand-off number'})",
        }[payment["refund"]]
        print(
            f"  payment #{payment['payment_id']} {amount} on {payment['paid_at'][:10]} "
            f"for {payment['invoice_id']}: {verdict}"
        )
    return 0


_WHY_NO_PLAN = {
    "plans_disabled": "plans are turned off (policy.skills.plans)",
    "not_open": "the invoice is not open or has nothing to pay",
    "disputed": "the invoice is disputed",
    "already_on_plan": "the invoice already has a plan",
    "below_minimum": "the balance is below policy.plans.min_balance",
    "no_fitting_plan": "no allowed count keeps installments above min_installment within max_days",
}


def _plans_run(store: Store, settings: Settings) -> int:
    from settle.app.runtime import Settle
    from settle.plans import charge_due_installments

    app = Settle.from_settings(settings)
    summary = charge_due_installments(store, app.gateway, settings, app.policy)
    app.deliver_messages()
    print(
        f"installments: {summary.charged} charged, {summary.failed} failed, "
        f"{summary.processing} processing, {summary.unanswered} unanswered; "
        f"{summary.reminded} reminders, {summary.notified} decline texts"
    )
    return 0


def _outbox(store: Store, limit: int) -> int:
    with store.unit_of_work() as session:
        for m in session.scalars(select(Message).order_by(Message.id.desc()).limit(limit)):
            print(f"#{m.id} {m.created_at:%Y-%m-%d %H:%M} {m.status:8} to {m.to}: {m.body}")
    return 0


def _call(
    store: Store, settings: Settings, customer_id: str, reason: str, invoice_id: str | None
) -> int:
    try:
        call = place_call(store, settings, customer_id, reason, invoice_id)
    except (CallRefused, ConfigError) as error:
        print(f"settle call: {error}", file=sys.stderr)
        return 1
    print(f"calling {call.to} (call {call.sid})")
    return 0


def _reminders(store: Store, settings: Settings, args) -> int:
    from settle import reminders
    from settle.app.runtime import Settle
    from settle.store.models import utcnow

    try:
        cadence = reminders.load_cadence()
    except ConfigError as error:
        print(f"settle reminders: configuration error: {error}", file=sys.stderr)
        return 2
    if args.reminders_command == "run":
        app = Settle.from_settings(settings)
        app.cadence = cadence
        summary = reminders.run_due_reminders(store, app, utcnow(), f"cli-{os.getpid()}")
        if args.json:
            print(json.dumps(summary.as_dict(), indent=2))
        else:
            print(
                f"reminders: {summary.sent} sent ({summary.messages} texts, {summary.emails} "
                f"e-mails, {summary.calls} calls), {summary.skipped} skipped, {summary.held} "
                f"held, {summary.requested} asked-for; {summary.planned} invoices looked at"
            )
        return 0
    try:
        day = dt.date.fromisoformat(args.date)
        at = dt.time.fromisoformat(args.at) if args.at else None
    except ValueError:
        print("settle reminders preview: --date must be YYYY-MM-DD and --at HH:MM", file=sys.stderr)
        return 2
    now = utcnow()
    if at is not None or day != now.date():
        now = dt.datetime.combine(day, at or dt.time(18, 0), tzinfo=dt.timezone.utc)
    decisions = reminders.preview(store, cadence, now)
    if args.json:
        print(
            json.dumps(
                {"at": now.isoformat(), "decisions": [d.as_dict() for d in decisions]}, indent=2
            )
        )
        return 0
    print(
        f"Reminders at {now:%Y-%m-%d %H:%M} UTC: "
        f"{sum(d.action == 'send' for d in decisions)} to send, "
        f"{sum(d.action == 'hold' for d in decisions)} held, "
        f"{sum(d.action == 'skip' for d in decisions)} to skip"
    )
    for d in sorted(
        decisions, key=lambda d: ("send", "hold", "skip", "claimed", "done").index(d.action)
    ):
        print(
            f"  {d.action:7} {d.invoice_id:12} step {d.step:>5} {'+'.join(d.channels):9} "
            f"{d.customer_id}: {d.reason}"
        )
    return 0


def _serve(host: str, port: int) -> int:
    from settle.app.service import serve

    try:
        serve(host, port)
    except ConfigError as error:
        print(f"settle: configuration error: {error}", file=sys.stderr)
        return 2
    return 0


def _locks(store: Store, clear: int | None, as_json: bool) -> int:
    """Identity checks locked after too many misses (settle.access.lockout), for staff."""
    from settle.access.lockout import active_locks, clear_lock

    with store.unit_of_work() as session:
        if clear is not None:
            if not clear_lock(session, clear, f"operator:{os.environ.get('USER') or 'cli'}"):
                print(f"settle: no lock {clear} in force", file=sys.stderr)
                return 1
            print(f"Lock {clear} cleared.")
            return 0
        rows = [
            {
                "id": lock.id,
                "scope": lock.scope,
                "key": lock.key,
                "misses": lock.misses,
                "locked_at": lock.locked_at.isoformat(),
                "until": lock.until.isoformat(),
            }
            for lock in active_locks(session)
        ]
    if as_json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("No identity check is locked.")
    for row in [] if as_json else rows:
        print(
            f"{row['id']:>5}  {row['scope']:<15} {row['key']:<34} {row['misses']} misses, "
            f"locked until {row['until']}"
        )
    return 0


def _scan_pans(settings: Settings, conversations: str | None, logs: list[Path]) -> int:
    """Exit 1 and say where, when any card number is found (printed masked)."""
    logs = logs or [PROJECT_ROOT / "var" / "log"]
    found = 0
    for finding in scan_all(
        settings.database_url,
        conversations or tracker_database_url(),
        logs,
        progress=lambda step: print(f"scanned {step}", file=sys.stderr),
    ):
        found += 1
        print(finding)
    if found:
        print(f"settle scan-pans: {found} card number(s) found", file=sys.stderr)
        return 1
    print("settle scan-pans: no card numbers found", file=sys.stderr)
    return 0


def _erase(store: Store, customer_id: str, who: str) -> int:
    try:
        with store.unit_of_work() as session:
            erasure = erase_customer(session, customer_id, f"operator:{who}")
    except UnknownCustomer as error:
        print(f"settle: {error}", file=sys.stderr)
        return 1
    deleted = delete_conversations(tracker_database_url(), erasure.conversations)
    print(
        f"Erased customer {customer_id}: {erasure.messages} message(s), {erasure.disputes} "
        f"dispute reason(s), {erasure.audit_entries} audit entr(y/ies) cleaned, "
        f"{len(erasure.conversations)} conversation(s) ({deleted} events) deleted. "
        "Invoices, payments, refunds and any opt-out are kept."
    )
    return 0


def _rasa_key(settings: Settings) -> int:
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


def _run(store: Store, settings: Settings, host: str) -> int:
    """`make run`: demo data when the database is empty, then both servers, kept running
    (a child that dies is started again, with the reason printed) until Ctrl-C."""
    _demo(store, settings, if_empty=True)
    bin_dir = Path(sys.executable).parent
    # Rasa's HTTP API is on (the service uses it to tell web chats about payments), for
    # tokens signed with a key only the service has: Rasa gets the public half. The action
    # endpoint answers only the Rasa server, which sends the action secret. Both are kept
    # in var/, readable by you only, and passed by file or environment, never as arguments.
    key = settings.rasa_jwt_key_file or LOCAL_RASA_KEY
    ensure_private_key(key)
    env = {
        **os.environ,
        "RASA_JWT_KEY_FILE": str(key),
        "SETTLE_ACTION_SECRET": settings.action_secret or _local_action_secret(),
    }
    # Development mode: this machine may skip signatures (curl a Twilio webhook, read the
    # outbox). SETTLE_DEV_MODE=0 turns it off.
    env.setdefault("SETTLE_DEV_MODE", "1")
    dev_mode = env["SETTLE_DEV_MODE"] not in ("0", "false", "no", "off")
    origins = os.environ.get("SETTLE_ALLOWED_ORIGINS", "*")
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
    supervisor.start()
    try:
        if not (
            _wait_for(f"http://{host}:5055/health", 60, supervisor.process("Settle service"))
            and _wait_for(f"http://{host}:5005/", 300, supervisor.process("Rasa server"))
        ):
            print("settle run: a server did not start; see the log above", file=sys.stderr)
            return 1
        print(
            f"""
Settle is running ({"Stripe" if settings.uses_stripe else "sandbox payments"}, \
{"Twilio" if settings.uses_twilio else "messages to the outbox"}).

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


def _chat(url: str, sender: str) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
