"""`settle operator …`: the console's accounts from the command line. Whoever runs the
command is audited as "cli:<user>"; a one-time password is printed once and must be
changed at the first sign-in."""

from __future__ import annotations

import json
import os
import sys

from settle.console import accounts
from settle.store.db import Store


def cli_actor() -> str:
    """Whoever runs a `settle` command, as the audit log names them."""
    return f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown'}"


def operator_command(store: Store, args) -> int:
    try:
        with store.unit_of_work() as session:
            if args.operator_command == "add":
                password = accounts.add_operator(session, args.email, args.role, cli_actor())
                email = accounts.normalized_email(args.email)
                print(f"Operator {email} ({args.role}) added.")
                _print_one_time(password)
            elif args.operator_command == "reset":
                password = accounts.reset_password(session, args.email, cli_actor())
                print(f"New one-time password for {accounts.normalized_email(args.email)}.")
                _print_one_time(password)
            elif args.operator_command == "deactivate":
                account = accounts.deactivate(session, args.email, cli_actor())
                print(f"Operator {account.email} deactivated; their sessions are ended.")
            else:
                _print_list(accounts.list_operators(session), args.json)
    except accounts.AccountError as error:
        print(f"settle operator: {error}", file=sys.stderr)
        return 1
    return 0


def _print_one_time(password: str) -> None:
    print(f"One-time password: {password}")
    print("It is shown only now; it must be changed at the first sign-in at /console/sign-in.")


def _print_list(rows: list[accounts.OperatorView], as_json: bool) -> None:
    if as_json:
        print(json.dumps([_as_dict(row) for row in rows], indent=2))
        return
    if not rows:
        print("No operators yet: `settle operator add EMAIL --role admin`.")
    for row in rows:
        state = "active" if row.active else "deactivated"
        if row.active and row.must_change_password:
            state += ", one-time password"
        seen = row.last_sign_in_at.isoformat() if row.last_sign_in_at else "never"
        print(f"{row.email:<40} {row.role:<6} {state:<30} last sign-in {seen}")


def _as_dict(row: accounts.OperatorView) -> dict:
    return {
        "email": row.email,
        "role": row.role,
        "active": row.active,
        "must_change_password": row.must_change_password,
        "created_at": row.created_at.isoformat(),
        "last_sign_in_at": row.last_sign_in_at.isoformat() if row.last_sign_in_at else None,
        "locked_until": row.locked_until.isoformat() if row.locked_until else None,
    }
