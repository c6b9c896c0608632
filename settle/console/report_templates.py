"""The report page's HTML: each figure of the report in a table cell named after its CSV
row (data-figure="metric.key", data-value as the CSV has it), and the charts, each beside
a table of its numbers. Chart.js draws them from a JSON block read by SCRIPT, a constant
whose hash the page's CSP allows; no other script runs."""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any
from urllib.parse import urlencode

from babel.numbers import get_currency_precision

from settle.config import Settings
from settle.console.sessions import SignedIn
from settle.console.templates import page
from settle.core.money import format_money
from settle.reporting import CollectionsReport, Series
from settle.reporting.period import AGING_BUCKETS
from settle.reporting.series import COLLECTED_CHANNELS

SCRIPT = (
    "(function(){var specs=JSON.parse(document.getElementById('chart-data').textContent);"
    "document.querySelectorAll('canvas[data-chart]').forEach(function(canvas){"
    "var spec=specs[canvas.dataset.chart];var scales={};"
    "if(spec.stacked){scales={x:{stacked:true},y:{stacked:true}};}"
    "if(spec.y){scales.y=spec.y;}"
    "new Chart(canvas,{type:spec.type,data:{labels:spec.labels,datasets:spec.datasets},"
    "options:{animation:false,indexAxis:spec.indexAxis||'x',scales:scales}});});})();"
)
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CHART_STYLE = "<style>canvas{max-height:22rem;margin:1rem 0}details{margin:.5rem 0}</style>"
MONEY_ROWS = (
    ("collected_minor", "Collected"),
    ("refunded_minor", "Refunded"),
    ("invoiced_minor", "Invoiced"),
    ("outstanding_minor", "Outstanding at the end"),
)
AGING_NAMES = {
    "current": "Not yet due",
    "1_30": "1–30 days late",
    "31_60": "31–60 days late",
    "61_90": "61–90 days late",
    "over_90": "Over 90 days late",
}


def report(who: SignedIn, report: CollectionsReport, series: Series, settings: Settings) -> str:
    document, charted = report.as_dict(), series.as_dict()
    currencies = document["currencies"]
    period = document["period"]
    warning = ""
    if document["conversation_store"] != "read":
        warning = (
            f"<p class=error role=alert>The conversation store is "
            f"{escape(document['conversation_store'])} (TRACKER_DATABASE_URL): conversation "
            "figures are 0.</p>"
        )
    body = (
        _form(period["since"], period["until"])
        + warning
        + _period_table(document)
        + "<h2>Money</h2>"
        + _money_table(document, currencies)
        + "<h2>Collected per day, by channel</h2>"
        + _collected(charted, currencies, settings.business.currency)
        + "<h2>Aging of what is owed</h2><canvas data-chart=aging></canvas>"
        + _aging_table(document, currencies)
        + "<h2>Conversations</h2><canvas data-chart=funnel></canvas>"
        + _funnel_table(document)
        + "<h2>Containment per week</h2><canvas data-chart=containment></canvas>"
        + _weeks_table(charted)
        + _counts_table("Channels", "channels", document["channels"])
        + _counts_table("Languages", "languages", document["languages"])
        + _reminders_table(document)
    )
    data = json.dumps(_chart_specs(document, charted, currencies)).replace("<", "\\u003c")
    return page(
        "Collections report",
        CHART_STYLE + body + f"<script type=application/json id=chart-data>{data}</script>"
        "<script src=/console/static/chart.js></script>"
        f"<script>{SCRIPT}</script><p><a href=/console>Back</a></p>",
        who,
    )


def refused(who: SignedIn, since: str, until: str, message: str) -> str:
    return page(
        "Collections report",
        _form(since, until) + f"<p class=error role=alert>{escape(message)}</p>",
        who,
    )


def _form(since: str, until: str) -> str:
    query = "?" + urlencode({"since": since, "until": until}) if since and until else ""
    return (
        "<form method=get action=/console/report>"
        f"<label class=inline>From <input type=date name=since value='{escape(since)}'></label> "
        f"<label class=inline>to <input type=date name=until value='{escape(until)}'></label> "
        "<button type=submit>Show</button></form>"
        f"<p><a href='/console/report.csv{escape(query)}' download>Download CSV</a> (the same as "
        "<code>settle report --csv</code>)</p>"
    )


def _cell(figure: str, value: Any, shown: str | None = None) -> str:
    raw = "" if value is None else str(value)
    text = shown if shown is not None else (raw or "—")
    return f"<td data-figure='{escape(figure)}' data-value='{escape(raw)}'>{escape(text)}"


def _money(figure: str, minor: int, currency: str) -> str:
    return _cell(figure, minor, format_money(minor, currency))


def _header(first: str, names: list[str]) -> str:
    return f"<tr><th>{escape(first)}" + "".join(f"<th>{escape(n)}" for n in names) + "</tr>"


def _period_table(document: dict) -> str:
    rows = "".join(
        f"<tr><th>{name}{_cell(f'period.{name}', value)}</tr>"
        for name, value in document["period"].items()
    )
    store = document["conversation_store"]
    return f"<table>{rows}<tr><th>conversation store{_cell('conversation_store', store)}</table>"


def _money_table(document: dict, currencies: list[str]) -> str:
    rows = "".join(
        f"<tr><th>{label}"
        + "".join(_money(f"{key}.{c}", document[key][c], c) for c in currencies)
        + "</tr>"
        for key, label in MONEY_ROWS
    )
    dso = "".join(_cell(f"dso_days.{c}", document["dso_days"][c]) for c in currencies)
    return f"<table>{_header('', currencies)}{rows}<tr><th>Days sales outstanding{dso}</tr></table>"


def _collected(charted: dict, currencies: list[str], business: str) -> str:
    """A chart and a table per currency that had money in; the business's own otherwise."""
    shown = [c for c in currencies if any(map(sum, charted["collected_minor"][c].values()))]
    html = ""
    for currency in shown or [business]:
        by_channel = charted["collected_minor"].get(currency, {})
        rows = "".join(
            f"<tr><td>{day}"
            + "".join(
                f"<td>{escape(format_money(by_channel[ch][i], currency))}"
                for ch in COLLECTED_CHANNELS
            )
            + "</tr>"
            for i, day in enumerate(charted["days"])
        )
        html += (
            f"<h3>{escape(currency)}</h3><canvas data-chart='collected-{escape(currency)}'>"
            f"</canvas><details><summary>Per day ({escape(currency)})</summary>"
            f"<table>{_header('Day', list(COLLECTED_CHANNELS))}{rows}</table></details>"
        )
    return html + "<p>none: paid through a link not sent in a conversation.</p>"


def _aging_table(document: dict, currencies: list[str]) -> str:
    rows = "".join(
        f"<tr><th>{AGING_NAMES[bucket]}"
        + "".join(
            _money(f"aging_minor.{bucket}.{c}", document["aging_minor"][bucket][c], c)
            for c in currencies
        )
        + "</tr>"
        for bucket in AGING_BUCKETS
    )
    return f"<table>{_header('', currencies)}{rows}</table>"


def _funnel_table(document: dict) -> str:
    rows = "".join(
        f"<tr><th>{escape(stage)}{_cell(f'funnel.{stage}', count)}</tr>"
        for stage, count in document["funnel"].items()
    )
    rate = document["containment_rate"]
    shown = "—" if rate is None else f"{rate:.2%}"
    with_goal, contained = "conversations_with_goal", "conversations_contained"
    return (
        f"<table>{rows}"
        f"<tr><th>with a goal{_cell(with_goal, document[with_goal])}</tr>"
        f"<tr><th>contained{_cell(contained, document[contained])}</tr>"
        f"<tr><th>containment rate{_cell('containment_rate', rate, shown)}</tr></table>"
    )


def _weeks_table(charted: dict) -> str:
    rows = "".join(
        f"<tr><td>{w['since']} – {w['until']}<td>{w['conversations']}<td>{w['with_goal']}"
        f"<td>{w['contained']}<td>"
        + ("—" if w["containment_rate"] is None else f"{w['containment_rate']:.2%}")
        + "</tr>"
        for w in charted["weeks"]
    )
    return (
        "<table><tr><th>Week<th>Conversations<th>With a goal<th>Contained<th>Rate</tr>"
        f"{rows}</table>"
    )


def _counts_table(title: str, key: str, counts: dict[str, int]) -> str:
    rows = "".join(
        f"<tr><th>{escape(name)}{_cell(f'{key}.{name}', n)}</tr>" for name, n in counts.items()
    )
    return f"<h2>{title}</h2><table>{rows}</table>"


def _reminders_table(document: dict) -> str:
    reminders = document["reminders"]
    rows = "".join(
        f"<tr><th>{name.replace('_', ' ')}{_cell(f'reminders.{name}', reminders[name])}</tr>"
        for name in ("sent", "skipped", "held", "paid_within_7_days")
    )
    reasons = "".join(
        f"<tr><th>skipped: {escape(reason)}{_cell(f'reminders.skipped_reasons.{reason}', n)}</tr>"
        for reason, n in reminders["skipped_reasons"].items()
    )
    return (
        f"<h2>Reminders and opt-outs</h2><table>{rows}{reasons}"
        f"<tr><th>opt-outs{_cell('opt_outs', document['opt_outs'])}</tr></table>"
    )


def _major(minor: int, currency: str) -> float:
    return minor / 10 ** get_currency_precision(currency)


def _chart_specs(document: dict, charted: dict, currencies: list[str]) -> dict[str, Any]:
    specs: dict[str, Any] = {}
    for currency, by_channel in charted["collected_minor"].items():
        specs[f"collected-{currency}"] = {
            "type": "bar",
            "stacked": True,
            "labels": charted["days"],
            "datasets": [
                {"label": channel, "data": [_major(m, currency) for m in days]}
                for channel, days in by_channel.items()
            ],
        }
    specs["aging"] = {
        "type": "bar",
        "labels": [AGING_NAMES[b] for b in AGING_BUCKETS],
        "datasets": [
            {"label": c, "data": [_major(document["aging_minor"][b][c], c) for b in AGING_BUCKETS]}
            for c in currencies
        ],
    }
    specs["funnel"] = {
        "type": "bar",
        "indexAxis": "y",
        "labels": list(document["funnel"]),
        "datasets": [{"label": "conversations", "data": list(document["funnel"].values())}],
    }
    specs["containment"] = {
        "type": "line",
        "y": {"min": 0, "max": 1},  # a rate: 0 to 100 %, so a dip looks its size
        "labels": [w["since"] for w in charted["weeks"]],
        "datasets": [
            {"label": "containment rate", "data": [w["containment_rate"] for w in charted["weeks"]]}
        ],
    }
    return specs
