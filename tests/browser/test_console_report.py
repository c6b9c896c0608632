"""The console's collections report in headless Chromium, against the Settle service's app
served in-process over the known month: sign in, see the charts Chart.js drew (under the
page's strict CSP), download the CSV. Screenshots go to results/browser/."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sanic import Sanic

from settle.adapters.payments import SandboxGateway
from settle.app import runtime
from settle.app.service import build_app
from settle.console import accounts
from settle.console.report_page import CHART_BUNDLE
from settle.reporting import csv_text
from tests.browser.test_webchat import browser, shot  # noqa: F401 (a fixture)
from tests.unit.report_data import LANGUAGES, build_books, build_conversations
from tests.unit.test_collections_report import EXPECTED
from tests.unit.test_readiness import serving
from tests.unit.trackers import RecordingSms

STRONG = "correct horse battery staple"


@pytest.fixture
def service(sqlite_store, settings, tmp_path, monkeypatch):
    """The service's app on loopback (plain http, as `make run`), over the known month."""
    if not CHART_BUNDLE.exists():
        pytest.skip("chart.js is not installed (make install)")
    build_books(sqlite_store)
    tracker_url = f"sqlite:///{tmp_path / 'conversations.db'}"
    with ThreadPoolExecutor(1) as thread:  # asyncio.run, away from Playwright's event loop
        thread.submit(build_conversations, sqlite_store, tracker_url, monkeypatch).result()
    business = dataclasses.replace(settings.business, languages=LANGUAGES)
    local = dataclasses.replace(settings, public_base_url="http://127.0.0.1", business=business)
    monkeypatch.setattr(Sanic, "test_mode", True)
    runtime.use(
        runtime.Settle(local, sqlite_store, SandboxGateway("http://127.0.0.1"), RecordingSms())
    )
    with sqlite_store.unit_of_work() as session:
        password = accounts.add_operator(session, "ana@example.com", "agent", "test")
    with serving(build_app()) as url:
        yield url, password
    runtime.use(None)


def first_sign_in(page, email: str, password: str) -> None:
    """On the sign-in page: sign in with a one-time password and change it, as the console
    asks the first time; ends on /console."""
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/password")
    page.fill("input[name=current]", password)
    page.fill("input[name=new]", STRONG)
    page.fill("input[name=confirm]", STRONG)
    page.click("form[action='/console/password'] button[type=submit]")
    page.wait_for_url("**/console")


def test_sign_in_see_the_charts_and_download_the_csv(browser, service):  # noqa: F811
    url, password = service
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{url}/console/report?since=2024-03-01&until=2024-03-30")
    assert page.url.endswith("/console/sign-in")
    first_sign_in(page, "ana@example.com", password)
    page.click("text=Collections report")
    page.fill("input[name=since]", "2024-03-01")
    page.fill("input[name=until]", "2024-03-30")
    page.click("text=Show")
    page.wait_for_url("**/console/report?since=2024-03-01&until=2024-03-30")

    charts = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('canvas[data-chart]')]
            .map(c => [c.dataset.chart, {
                width: c.width,
                sums: Chart.getChart(c).data.datasets.map(d => d.data.reduce((a, b) => a + b, 0)),
                data: Chart.getChart(c).data.datasets.map(d => d.data),
                y: [Chart.getChart(c).scales.y.min, Chart.getChart(c).scales.y.max]}]))"""
    )
    assert set(charts) == {"collected-EUR", "collected-USD", "aging", "funnel", "containment"}
    assert all(chart["width"] > 0 for chart in charts.values())
    assert round(sum(charts["collected-USD"]["sums"]), 2) == 143.00  # $143.00 collected
    assert round(sum(charts["collected-EUR"]["sums"]), 2) == 20.00
    assert charts["funnel"]["data"] == [list(EXPECTED["funnel"].values())]
    assert charts["aging"]["sums"] == [100.0, 30.0, 1518.0]  # EUR, GBP, USD owed
    assert charts["containment"]["data"] == [[1, 0.6, 1, None, None]]
    assert charts["containment"]["y"] == [0, 1]  # a rate on its whole scale
    shot(page, "console-01-report")
    page.locator("canvas[data-chart=funnel]").scroll_into_view_if_needed()
    shot(page, "console-02-funnel")

    with page.expect_download() as downloading:
        page.click("text=Download CSV")
    download = downloading.value
    assert download.suggested_filename == "settle-report-2024-03-01-2024-03-30.csv"
    assert Path(download.path()).read_text(encoding="utf-8") == csv_text(EXPECTED)
    assert problems == []  # no script refused by the CSP, no error
    context.close()
