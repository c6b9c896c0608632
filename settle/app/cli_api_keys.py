"""`settle api-key …`: the billing-system API's keys (/api/v1). A new key is printed once;
Settle keeps only its hash. Whoever runs the command is audited as "cli:<user>"."""

from __future__ import annotations

import json
import sys

from settle.api import keys
from settle.app.cli_operators import cli_actor
from settle.store.db import Store


def add_api_key_parser(commands) -> None:
    """`settle api-key create [--name NAME] | list [--json] | revoke ID`."""
    p = commands.add_parser("api-key", help="keys of the billing-system API (/api/v1)")
    api_key = p.add_subparsers(dest="api_key_command", required=True)
    create = api_key.add_parser("create", help="a new key, printed once (only its hash is kept)")
    create.add_argument("--name", default="billing", help="audited as api:<name>")
    listing = api_key.add_parser("list", help="every key: id, name, created, revoked")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = api_key.add_parser("revoke", help="the key stops working at once")
    revoke.add_argument("key_id", type=int, metavar="ID")


def api_key_command(store: Store, args) -> int:
    try:
        with store.unit_of_work() as session:
            if args.api_key_command == "create":
                key_id, key = keys.create_key(session, args.name, cli_actor())
                print(f"API key {key_id} ({args.name.strip()}) created:")
                print(key)
                print(
                    "It is shown only now: give it to the billing system as "
                    "`Authorization: Bearer <key>`."
                )
            elif args.api_key_command == "revoke":
                view = keys.revoke_key(session, args.key_id, cli_actor())
                print(f"API key {view.id} ({view.name}) revoked.")
            else:
                _print_list(keys.list_keys(session), args.json)
    except keys.ApiKeyError as error:
        print(f"settle api-key: {error}", file=sys.stderr)
        return 1
    return 0


def _print_list(rows: list[keys.ApiKeyView], as_json: bool) -> None:
    if as_json:
        print(json.dumps([_as_dict(row) for row in rows], indent=2))
        return
    if not rows:
        print("No API keys yet: `settle api-key create --name NAME`.")
    for row in rows:
        state = f"revoked {row.revoked_at.isoformat()}" if row.revoked_at else "active"
        print(f"{row.id:<5} {row.name:<30} created {row.created_at.isoformat()}  {state}")


def _as_dict(row: keys.ApiKeyView) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }
