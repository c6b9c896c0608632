"""The service's passes that run forever beside the routes: message delivery, events for
the billing system, the plan engine, the reminder scheduler and pruning. Each pass is safe
beside the same pass from the CLI, cron or another replica, and a failed pass is logged and
tried again later."""

from __future__ import annotations

import asyncio
import logging
import os

from settle.access.replay import prune
from settle.api.idempotency import forget_old
from settle.app import runtime
from settle.config import tracker_database_url
from settle.plans import charge_due_installments
from settle.privacy.retention import prune_conversations
from settle.reminders import run_due_reminders
from settle.store.db import Store
from settle.store.models import utcnow
from settle.sync.delivery import deliver_due
from settle.sync.outbox import KEPT_DAYS, prune_delivered

log = logging.getLogger(__name__)

DELIVERY_INTERVAL_SECONDS = 5.0
PRUNE_INTERVAL_SECONDS = 3600.0


async def deliver_forever() -> None:
    """Messages queued but not yet sent (a crash, a provider outage) go out on the next pass."""
    while True:
        try:
            await asyncio.to_thread(runtime.current().deliver_messages)
        except Exception:
            log.exception("Message delivery pass failed")
        await asyncio.sleep(DELIVERY_INTERVAL_SECONDS)


async def sync_forever() -> None:
    """Events for the billing system (SETTLE_SYNC_URL) go out on a pass every few seconds,
    never inside a request: a slow or failing endpoint holds up no conversation or webhook."""
    while True:
        try:
            settle = runtime.current()
            if settle.settings.sync.enabled:
                await asyncio.to_thread(deliver_due, settle.store, settle.settings.sync)
        except Exception:
            log.exception("Sync delivery pass failed")
        await asyncio.sleep(DELIVERY_INTERVAL_SECONDS)


async def charge_plans_forever(interval_seconds: float) -> None:
    """The plan engine: reminders before installments and the charges due, every few
    minutes. Safe beside `settle plans run` or another replica (each charge is claimed)."""

    while True:
        try:
            settle = runtime.current()
            summary = await asyncio.to_thread(
                charge_due_installments,
                settle.store,
                settle.gateway,
                settle.settings,
                settle.policy,
            )
            if summary.charged or summary.failed or summary.reminded or summary.notified:
                log.info("Plan pass: %s", summary)
                await asyncio.to_thread(settle.deliver_messages)
        except Exception:
            log.exception("Plan pass failed")
        await asyncio.sleep(interval_seconds)


async def remind_forever(interval_seconds: float) -> None:
    """The reminder scheduler: a pass a minute. Passes are safe to overlap with `settle
    reminders run` from cron or another replica (each step is claimed once)."""
    while True:
        try:
            settle = runtime.current()
            if settle.cadence.enabled:
                await asyncio.to_thread(
                    run_due_reminders, settle.store, settle, utcnow(), f"service-{os.getpid()}"
                )
        except Exception:
            log.exception("Reminder pass failed")
        await asyncio.sleep(interval_seconds)


def prune_once(store: Store, tracker_url: str, retention_days: int) -> None:
    """Webhook receipts, call tokens, API answers and delivered sync events too old to matter
    are forgotten, and conversations idle past retention_days are deleted."""
    with store.unit_of_work() as session:
        prune(session)
        forget_old(session)
        events = prune_delivered(session)
    if events:
        log.info("Sync: %d delivered event(s) older than %d days forgotten", events, KEPT_DAYS)
    removed = prune_conversations(tracker_url, retention_days)
    if removed:
        log.info(
            "Retention: %d conversation(s) idle for more than %d days deleted",
            removed,
            retention_days,
        )


async def prune_forever() -> None:
    """prune_once, hourly."""

    def prune_now() -> None:
        settle = runtime.current()
        prune_once(
            settle.store, tracker_database_url(), settle.security.conversation_retention_days
        )

    while True:
        try:
            await asyncio.to_thread(prune_now)
        except Exception:
            log.exception("Pruning failed")
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)
