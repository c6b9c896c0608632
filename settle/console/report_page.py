"""The collections report in the console: GET /console/report (every figure of
`settle report` as tables, and charts of them), /console/report.csv (the command's CSV) and
/console/static/chart.js (Chart.js, from node_modules: nothing is loaded from elsewhere).

The console's guard (settle.console.pages) stands in front of all three; the page's own
script is allowed by its hash alone (REPORT_SCRIPT_SRC), so the CSP stays strict.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sanic import Sanic, response
from sanic.request import Request

from settle.config import Settings, tracker_database_url
from settle.console import report_templates
from settle.console.words import phrase, said
from settle.core.clock import customer_today
from settle.reporting import Period, csv_text, parse_date, period_between, report_and_series
from settle.store.db import Store

REPORT = "/console/report"
CHART_JS = "/console/static/chart.js"
CHART_BUNDLE = (
    Path(__file__).resolve().parents[2] / "node_modules" / "chart.js" / "dist" / "chart.umd.js"
)
# The page's charts are drawn day by day: a year at most.
MAX_DAYS = 366
REPORT_SCRIPT_SRC = f"'self' '{report_templates.SCRIPT_HASH}'"


class Wiring(Protocol):
    store: Store
    settings: Settings


def add_report_pages(app: Sanic, wiring: Callable[[], Wiring]) -> None:
    """GET /console/report, /console/report.csv and /console/static/chart.js."""

    @app.get(REPORT)
    async def report_page(request: Request):
        settle, lang = wiring(), request.ctx.lang
        since, until = request.args.get("since", ""), request.args.get("until", "")
        try:
            period = asked_period(since, until, settle.settings)
        except ValueError as error:
            message = said(error, lang)
            page = report_templates.refused(request.ctx.operator, since, until, message, lang)
            return response.html(page, status=400)
        report, series = await asyncio.to_thread(_report, settle, period)
        request.ctx.script_src = REPORT_SCRIPT_SRC
        return response.html(
            report_templates.report(request.ctx.operator, report, series, settle.settings, lang)
        )

    @app.get(f"{REPORT}.csv")
    async def report_csv(request: Request):
        settle = wiring()
        try:
            period = asked_period(
                request.args.get("since", ""), request.args.get("until", ""), settle.settings
            )
        except ValueError as error:
            return response.text(f"{error}\n", status=400)
        report, _ = await asyncio.to_thread(_report, settle, period)
        name = f"settle-report-{period.since.isoformat()}-{period.until.isoformat()}.csv"
        return response.text(
            csv_text(report.as_dict()),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get(CHART_JS)
    async def chart_script(request: Request):
        if not CHART_BUNDLE.exists():
            return response.text("chart.js is not installed: run `make install`", status=503)
        return response.raw(chart_bundle(), content_type="application/javascript")


def asked_period(since: str, until: str, settings: Settings) -> Period:
    """The period the query asks for (the last 30 days by default); ValueError saying
    what is wrong with it otherwise (a settle.console.words Phrase: English for the CSV)."""
    zone = settings.business.timezone
    try:
        first = parse_date(since) if since.strip() else None
        last = parse_date(until) if until.strip() else None
    except ValueError as error:
        raise ValueError(phrase("report.bad_dates", error=error)) from None
    try:
        period = period_between(first, last, customer_today(zone), zone)
    except ValueError as error:
        raise ValueError(phrase("report.bad_period", error=error)) from None
    if period.days > MAX_DAYS:
        raise ValueError(phrase("report.too_long", most=MAX_DAYS, days=period.days))
    return period


@functools.cache
def chart_bundle() -> bytes:
    return CHART_BUNDLE.read_bytes()


def _report(settle: Wiring, period: Period):
    business = settle.settings.business
    return report_and_series(
        settle.store, tracker_database_url(), period, business.languages, business.currency
    )
