"""`settle` commands for personal data and access: identity-check locks, the card-number
scan, and erasing a customer's personal data (the books keep the amounts)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from settle.access.lockout import active_locks, clear_lock
from settle.config import PROJECT_ROOT, Settings, tracker_database_url
from settle.privacy.retention import UnknownCustomer, delete_conversations, erase_customer
from settle.privacy.scan import scan_all
from settle.review.labels import forget_turns
from settle.store.db import Store


def identity_locks(store: Store, clear: int | None, as_json: bool) -> int:
    """Identity checks locked after too many misses (settle.access.lockout), for staff."""
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


def scan_pans(settings: Settings, conversations: str | None, logs: list[Path]) -> int:
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


def erase_personal_data(store: Store, customer_id: str, who: str) -> int:
    try:
        with store.unit_of_work() as session:
            erasure = erase_customer(session, customer_id, f"operator:{who}")
    except UnknownCustomer as error:
        print(f"settle: {error}", file=sys.stderr)
        return 1
    labels = 0

    def forget_labels(event_ids: list[int]) -> None:
        # Committed before the events go: if this fails they stay, to be erased again.
        nonlocal labels
        with store.unit_of_work() as session:
            labels = forget_turns(session, event_ids)

    deleted = delete_conversations(tracker_database_url(), erasure.conversations, forget_labels)
    print(
        f"Erased customer {customer_id}: {erasure.messages} message(s), {erasure.disputes} "
        f"dispute reason(s), {erasure.audit_entries} audit entr(y/ies) cleaned, "
        f"{len(erasure.conversations)} conversation(s) ({deleted} events, {labels} turn "
        "label(s)) deleted. "
        "Invoices, payments, refunds and any opt-out are kept."
    )
    return 0
