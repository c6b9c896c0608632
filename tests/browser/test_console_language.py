"""The console in the operator's language in headless Chromium: a browser set to French
gets French pages and French chart labels (drawn under the report's strict CSP); the
language selector switches to German and the choice sticks. Screenshots go to
results/browser/."""

from __future__ import annotations

from settle.console.words import page_text
from tests.browser.test_console_report import first_sign_in, service  # noqa: F401
from tests.browser.test_webchat import browser, shot  # noqa: F401 (a fixture)

MARCH = "/console/report?since=2024-03-01&until=2024-03-30"


def test_a_french_browser_gets_french_pages_and_charts_and_can_switch(browser, service):  # noqa: F811
    url, password = service
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="fr-FR")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{url}/console")
    assert page.get_attribute("html", "lang") == "fr"
    assert page.locator("h1").inner_text() == page_text("sign_in.title", "fr")
    first_sign_in(page, "ana@example.com", password)
    page.goto(f"{url}{MARCH}")
    assert page.locator("h1").inner_text() == "Rapport de recouvrement"
    labels = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('canvas[data-chart]')]
            .map(c => [c.dataset.chart, {labels: Chart.getChart(c).data.labels,
                legend: Chart.getChart(c).data.datasets.map(d => d.label)}]))"""
    )
    assert labels["aging"]["labels"][0] == "Pas encore échu"
    assert labels["funnel"]["legend"] == ["conversations"]
    assert "liens envoyés" in labels["funnel"]["labels"]
    assert labels["containment"]["legend"] == ["taux d’autonomie"]
    assert "aucun" in labels["collected-USD"]["legend"]
    shot(page, "console-05-report-fr")

    page.select_option("footer select[name=lang]", "de")
    page.click("footer button[type=submit]")
    page.wait_for_url(f"**{MARCH}")
    assert page.get_attribute("html", "lang") == "de"
    assert page.locator("h1").inner_text() == "Inkassobericht"
    page.goto(f"{url}/console")
    assert page.get_attribute("html", "lang") == "de"  # the cookie beats fr-FR
    assert problems == []
