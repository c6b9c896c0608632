"""The `settle` command. Every subcommand first brings the database schema up to date."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from settle.app.cli_api_keys import add_api_key_parser, api_key_command
from settle.app.cli_billing import explain_policy, import_files, load_demo, run_plans, show_invoice
from settle.app.cli_contact import call_customer, reminders_command, show_outbox
from settle.app.cli_operators import operator_command
from settle.app.cli_privacy import erase_personal_data, identity_locks, scan_pans
from settle.app.cli_report import date_argument, report_command
from settle.app.cli_review import NLU_DIR, review_command
from settle.app.cli_servers import chat, rasa_key, run_service, run_service_and_rasa
from settle.app.cli_sync import add_sync_parsers, export_command, sync_command
from settle.config import ConfigError, Settings, log_level
from settle.privacy.logs import log_json_lines
from settle.store.db import Store
from settle.sync.outbox import attach as attach_sync


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        log_json_lines(log_level())
        logging.getLogger("alembic").setLevel(logging.WARNING)
        settings = Settings.from_env()  # every section of settle.yml: a mistake stops it here
    except ConfigError as error:
        print(f"settle: configuration error: {error}", file=sys.stderr)
        return 2
    if args.command == "chat":
        return chat(args.url, args.sender)
    store = Store.connect(settings.database_url)  # migrates to head
    attach_sync(store, settings.sync)  # a command that changes money tells the billing system
    handler = {
        "migrate": lambda: 0,
        "import": lambda: import_files(store, settings, args.customers, args.invoices),
        "demo": lambda: load_demo(store, settings, args.if_empty),
        "invoice": lambda: show_invoice(store, args.invoice_id, args.json),
        "outbox": lambda: show_outbox(store, args.limit),
        "policy": lambda: explain_policy(
            store, settings, args.customer_id, args.invoice, args.json
        ),
        "plans": lambda: run_plans(store, settings),
        "report": lambda: report_command(store, settings, args.since, args.until, args.csv),
        "call": lambda: call_customer(store, settings, args.customer_id, args.reason, args.invoice),
        "reminders": lambda: reminders_command(store, settings, args),
        "locks": lambda: identity_locks(store, args.clear, args.json),
        "scan-pans": lambda: scan_pans(settings, args.conversations, args.log),
        "customer": lambda: erase_personal_data(store, args.customer_id, args.by),
        "operator": lambda: operator_command(store, args),
        "api-key": lambda: api_key_command(store, args),
        "sync": lambda: sync_command(store, settings, args),
        "export": lambda: export_command(store, settings, args),
        "review": lambda: review_command(store, args),
        "rasa-key": lambda: rasa_key(settings),
        "serve": lambda: run_service(args.host, args.port),
        "run": lambda: run_service_and_rasa(store, settings, args.host),
    }[args.command]
    try:
        return handler()
    except ConfigError as error:  # a setting only this command reads (RASA_WORKERS, …)
        print(f"settle: configuration error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """The command line: each subcommand, its arguments and its help."""
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

    p = commands.add_parser(
        "report",
        help="the collections report: money collected and owed, aging, DSO, the "
        "conversations' funnel (README: settle report)",
    )
    p.add_argument(
        "--since", type=date_argument, help="first day, YYYY-MM-DD (default: 30 days to --until)"
    )
    p.add_argument(
        "--until", type=date_argument, help="last day, YYYY-MM-DD (default: today, business zone)"
    )
    output = p.add_mutually_exclusive_group(required=True)
    output.add_argument("--json", action="store_true", help="one JSON document")
    output.add_argument("--csv", action="store_true", help="metric,currency_or_key,value rows")

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

    p = commands.add_parser("operator", help="operator accounts for the console (/console)")
    operator = p.add_subparsers(dest="operator_command", required=True)
    add = operator.add_parser("add", help="a new account; prints its one-time password")
    add.add_argument("email")
    add.add_argument("--role", choices=("admin", "agent"), default="agent")
    reset = operator.add_parser("reset", help="a new one-time password; ends their sessions")
    reset.add_argument("email")
    deactivate = operator.add_parser(
        "deactivate", help="no more sign-ins; their sessions end at once"
    )
    deactivate.add_argument("email")
    listing = operator.add_parser("list", help="every account, its role and state")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    add_api_key_parser(commands)
    add_sync_parsers(commands)

    p = commands.add_parser("review", help="conversation review: the console's intent labels")
    review = p.add_subparsers(dest="review_command", required=True)
    export = review.add_parser("export", help="labelled messages to data/nlu/<lang>/review.yml")
    export.add_argument("--nlu-dir", default=str(NLU_DIR), help="where the NLU data lives")

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
    return parser


if __name__ == "__main__":
    sys.exit(main())
