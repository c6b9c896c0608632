"""The collections report in the console over real HTTP (the Settle service's app served
in-process): nothing of it without a session, and, signed in, every figure of `settle
report` on the known month, its CSV byte for byte, and the chart script from node_modules."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest

from settle.app.cli import main
from settle.config import tracker_database_url
from settle.console.report_page import CHART_BUNDLE
from settle.console.report_templates import SCRIPT_HASH
from settle.reporting import collections_report, csv_rows
from tests.security.test_console import console  # noqa: F401 (a fixture)
from tests.unit.report_data import LANGUAGES, build_books, build_conversations
from tests.unit.report_data import MARCH as MARCH_PERIOD
from tests.unit.test_collections_report import EXPECTED

MARCH = "?since=2024-03-01&until=2024-03-30"
PAGES = (
    "/console/report",
    f"/console/report{MARCH}",
    "/console/report.csv",
    "/console/static/chart.js",
)


@pytest.fixture
def settings(settings):
    """The business of settle.yml, which `settle report` reads too: its six languages."""
    return dataclasses.replace(
        settings, business=dataclasses.replace(settings.business, languages=LANGUAGES)
    )


@pytest.fixture
def march(console, sqlite_store, tmp_path, monkeypatch):  # noqa: F811
    """The console over the known month (the business is in New York)."""
    build_books(sqlite_store)
    build_conversations(sqlite_store, f"sqlite:///{tmp_path / 'conversations.db'}", monkeypatch)
    return console


def figures(body: str) -> dict[str, str]:
    """The page's figures, named as the CSV names them (metric.key)."""
    return {
        name: html.unescape(value)
        for name, value in re.findall(r"data-figure='([^']+)' data-value='([^']*)'", body)
    }


def test_no_report_chart_or_csv_without_a_session(march):
    browser = march.browser()
    for path in PAGES:
        reply = browser.get(path)
        assert (reply.status, reply.location) == (303, "/console/sign-in"), path
        assert "143.00" not in reply.body and "Chart" not in reply.body
    forged = browser.get(f"/console/report.csv{MARCH}", Cookie="__Host-settle-console=made-up")
    assert (forged.status, forged.location) == (303, "/console/sign-in")


def test_the_page_shows_every_figure_of_the_report(march, sqlite_store):
    browser = march.signed_in("bo@example.com", "agent")
    reply = browser.get(f"/console/report{MARCH}")
    assert reply.status == 200, reply.body
    report = collections_report(
        sqlite_store, tracker_database_url(), MARCH_PERIOD, LANGUAGES, "USD"
    ).as_dict()
    assert report == EXPECTED
    expected = report
    rows = {
        f"{metric}.{key}" if key else metric: value for metric, key, value in csv_rows(expected)
    }
    assert figures(reply.body) == rows
    for shown in ("$143.00", "€20.00", "$1,518.00", "£30.00", "77.78%"):
        assert shown in reply.body, shown
    policy = reply.headers["Content-Security-Policy"]
    assert (
        f"script-src 'self' '{SCRIPT_HASH}'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1]
    )
    assert "<script src=/console/static/chart.js>" in reply.body
    assert "http://" not in reply.body and "https://" not in reply.body  # nothing from elsewhere
    assert "?since=2024-03-01&amp;until=2024-03-30" in reply.body  # the CSV link keeps the period


def test_the_csv_download_is_the_commands_csv(march, sqlite_store, monkeypatch, capsys):
    browser = march.signed_in("bo@example.com", "agent")
    reply = browser.get(f"/console/report.csv{MARCH}")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/csv")
    disposition = reply.headers["Content-Disposition"]
    assert disposition == 'attachment; filename="settle-report-2024-03-01-2024-03-30.csv"'
    monkeypatch.setenv("DATABASE_URL", str(sqlite_store.engine.url))
    monkeypatch.delenv("SETTLE_SETTINGS", raising=False)
    assert main(["report", "--since", "2024-03-01", "--until", "2024-03-30", "--csv"]) == 0
    assert reply.body == capsys.readouterr().out
    assert "collected_minor,USD,14300\n" in reply.body


def test_bad_periods_are_refused_saying_why(march):
    browser = march.signed_in("bo@example.com", "agent")
    for query, said in [
        ("?since=2024-02-30", "&#x27;2024-02-30&#x27; is not a date (YYYY-MM-DD)"),
        ("?since=yesterday&until=2024-03-30", "is not a date (YYYY-MM-DD)"),
        ("?since=2024-03-30&until=2024-03-01", "ends (2024-03-01) before it begins (2024-03-30)"),
        ("?since=2020-01-01&until=2024-03-30", "at most 366 days"),
    ]:
        reply = browser.get(f"/console/report{query}")
        assert reply.status == 400 and said in reply.body, (query, reply.body)
        assert "data-figure" not in reply.body
        csv = browser.get(f"/console/report.csv{query}")
        assert csv.status == 400 and html.unescape(said) in csv.body, query


def test_the_last_30_days_by_default_and_the_chart_script_from_node_modules(march):
    browser = march.signed_in("bo@example.com", "agent")
    reply = browser.get("/console/report")
    assert reply.status == 200 and figures(reply.body)["period.days"] == "30"
    assert "/console/report" in browser.get("/console").body  # linked from the landing page
    if not CHART_BUNDLE.exists():
        pytest.skip("chart.js is not installed (make install)")
    script = browser.get("/console/static/chart.js")
    assert script.status == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert script.body == CHART_BUNDLE.read_text(encoding="utf-8")
