"""The report page's HTML: each figure of the report in a table cell named after its CSV
row (data-figure="metric.key", data-value as the CSV has it), and the charts, each beside
a table of its numbers. Chart.js draws them from a JSON block read by SCRIPT, a constant
whose hash the page's CSP allows; no other script runs. The charts' labels and legends are
in that JSON block, in the operator's language: it is data, never run, so SCRIPT and its
hash stay the same whatever the language.

Names and figures are in the operator's language (settle.console.words); data-value keeps
the figure as the CSV has it."""

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
from settle.console.templates import page, t
from settle.console.words import data_name, money, number, page_text, percent
from settle.core.i18n import language_name
from settle.reporting import CollectionsReport, Series
from settle.reporting.period import AGING_BUCKETS
from settle.reporting.series import COLLECTED_CHANNELS, NOT_IN_A_CONVERSATION

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
MONEY_ROWS = ("collected_minor", "refunded_minor", "invoiced_minor", "outstanding_minor")


def report(
    who: SignedIn, report: CollectionsReport, series: Series, settings: Settings, lang: str
) -> str:
    document, charted = report.as_dict(), series.as_dict()
    currencies = document["currencies"]
    period = document["period"]
    warning = ""
    if document["conversation_store"] != "read":
        state = document["conversation_store"]
        warning = f"<p class=error role=alert>{t('report.store_warning', lang, state=state)}</p>"
    body = (
        _form(period["since"], period["until"], lang)
        + warning
        + _period_table(document, lang)
        + f"<h2>{t('report.money', lang)}</h2>"
        + _money_table(document, currencies, lang)
        + f"<h2>{t('report.collected_heading', lang)}</h2>"
        + _collected(charted, currencies, settings.business.currency, lang)
        + f"<h2>{t('report.aging_heading', lang)}</h2><canvas data-chart=aging></canvas>"
        + _aging_table(document, currencies, lang)
        + f"<h2>{t('report.conversations', lang)}</h2><canvas data-chart=funnel></canvas>"
        + _funnel_table(document, lang)
        + f"<h2>{t('report.containment_heading', lang)}</h2>"
        "<canvas data-chart=containment></canvas>"
        + _weeks_table(charted, lang)
        + _counts_table(t("report.channels", lang), "channels", document["channels"], lang)
        + _counts_table(t("report.languages", lang), "languages", document["languages"], lang)
        + _reminders_table(document, lang)
    )
    specs = _chart_specs(document, charted, currencies, lang)
    data = json.dumps(specs).replace("<", "\\u003c")
    return page(
        page_text("report.title", lang),
        CHART_STYLE + body + f"<script type=application/json id=chart-data>{data}</script>"
        "<script src=/console/static/chart.js></script>"
        f"<script>{SCRIPT}</script><p><a href=/console>{t('common.back', lang)}</a></p>",
        lang,
        who,
    )


def refused(who: SignedIn, since: str, until: str, message: str, lang: str) -> str:
    return page(
        page_text("report.title", lang),
        _form(since, until, lang) + f"<p class=error role=alert>{escape(message)}</p>",
        lang,
        who,
    )


def _form(since: str, until: str, lang: str) -> str:
    query = "?" + urlencode({"since": since, "until": until}) if since and until else ""
    return (
        "<form method=get action=/console/report>"
        f"<label class=inline>{t('report.from', lang)} "
        f"<input type=date name=since value='{escape(since)}'></label> "
        f"<label class=inline>{t('report.to', lang)} "
        f"<input type=date name=until value='{escape(until)}'></label> "
        f"<button type=submit>{t('common.show', lang)}</button></form>"
        f"<p><a href='/console/report.csv{escape(query)}' download>{t('report.download', lang)}"
        f"</a> ({t('report.csv_note', lang)} <code>settle report --csv</code>)</p>"
    )


def _cell(figure: str, value: Any, lang: str, shown: str | None = None) -> str:
    raw = "" if value is None else str(value)
    if shown is None and isinstance(value, (int, float)) and not isinstance(value, bool):
        shown = number(value, lang)
    text = shown if shown is not None else (raw or "—")
    return f"<td data-figure='{escape(figure)}' data-value='{escape(raw)}'>{escape(text)}"


def _money(figure: str, minor: int, currency: str, lang: str) -> str:
    return _cell(figure, minor, lang, money(minor, currency, lang))


def _rate(rate: float | None, lang: str) -> str:
    return "—" if rate is None else percent(rate, lang)


def _header(first: str, names: list[str]) -> str:
    return f"<tr><th>{escape(first)}" + "".join(f"<th>{escape(n)}" for n in names) + "</tr>"


def _period_table(document: dict, lang: str) -> str:
    rows = "".join(
        f"<tr><th>{t(f'report.{name}', lang)}{_cell(f'period.{name}', value, lang)}</tr>"
        for name, value in document["period"].items()
    )
    store = _cell("conversation_store", document["conversation_store"], lang)
    return f"<table>{rows}<tr><th>{t('report.conversation_store', lang)}{store}</table>"


def _money_table(document: dict, currencies: list[str], lang: str) -> str:
    rows = "".join(
        f"<tr><th>{t('report.' + key.removesuffix('_minor'), lang)}"
        + "".join(_money(f"{key}.{c}", document[key][c], c, lang) for c in currencies)
        + "</tr>"
        for key in MONEY_ROWS
    )
    dso = "".join(_cell(f"dso_days.{c}", document["dso_days"][c], lang) for c in currencies)
    return (
        f"<table>{_header('', currencies)}{rows}<tr><th>{t('report.dso', lang)}{dso}</tr></table>"
    )


def _collected(charted: dict, currencies: list[str], business: str, lang: str) -> str:
    """A chart and a table per currency that had money in; the business's own otherwise."""
    shown = [c for c in currencies if any(map(sum, charted["collected_minor"][c].values()))]
    channels = [data_name("channel", ch, lang) for ch in COLLECTED_CHANNELS]
    html = ""
    for currency in shown or [business]:
        by_channel = charted["collected_minor"].get(currency, {})
        rows = "".join(
            f"<tr><td>{day}"
            + "".join(
                f"<td>{escape(money(by_channel[ch][i], currency, lang))}"
                for ch in COLLECTED_CHANNELS
            )
            + "</tr>"
            for i, day in enumerate(charted["days"])
        )
        per_day = t("report.per_day", lang, currency=currency)
        html += (
            f"<h3>{escape(currency)}</h3><canvas data-chart='collected-{escape(currency)}'>"
            f"</canvas><details><summary>{per_day}</summary>"
            f"<table>{_header(page_text('report.day', lang), channels)}{rows}</table></details>"
        )
    none = data_name("channel", NOT_IN_A_CONVERSATION, lang)
    return html + f"<p>{t('report.none_note', lang, none=none)}</p>"


def _aging_table(document: dict, currencies: list[str], lang: str) -> str:
    rows = "".join(
        f"<tr><th>{t(f'aging.{bucket}', lang)}"
        + "".join(
            _money(f"aging_minor.{bucket}.{c}", document["aging_minor"][bucket][c], c, lang)
            for c in currencies
        )
        + "</tr>"
        for bucket in AGING_BUCKETS
    )
    return f"<table>{_header('', currencies)}{rows}</table>"


def _funnel_table(document: dict, lang: str) -> str:
    rows = "".join(
        f"<tr><th>{escape(data_name('funnel', stage, lang))}"
        f"{_cell(f'funnel.{stage}', count, lang)}</tr>"
        for stage, count in document["funnel"].items()
    )
    rate = document["containment_rate"]
    with_goal, contained = "conversations_with_goal", "conversations_contained"
    return (
        f"<table>{rows}"
        f"<tr><th>{t('report.with_goal', lang)}{_cell(with_goal, document[with_goal], lang)}"
        f"</tr><tr><th>{t('report.contained', lang)}"
        f"{_cell(contained, document[contained], lang)}</tr>"
        f"<tr><th>{t('report.containment_rate', lang)}"
        f"{_cell('containment_rate', rate, lang, _rate(rate, lang))}</tr></table>"
    )


def _weeks_table(charted: dict, lang: str) -> str:
    rows = "".join(
        f"<tr><td>{w['since']} – {w['until']}<td>{number(w['conversations'], lang)}"
        f"<td>{number(w['with_goal'], lang)}<td>{number(w['contained'], lang)}"
        f"<td>{_rate(w['containment_rate'], lang)}</tr>"
        for w in charted["weeks"]
    )
    names = ("report.week", "report.conversations", "report.with_goal", "report.contained")
    heads = "".join(f"<th>{t(name, lang)}" for name in (*names, "report.rate"))
    return f"<table><tr>{heads}</tr>{rows}</table>"


def _counts_table(title: str, key: str, counts: dict[str, int], lang: str) -> str:
    """`title` is escaped HTML; channels by their catalog names, languages by Babel's."""

    def shown(name: str) -> str:
        return data_name("channel", name, lang) if key == "channels" else language_name(name, lang)

    rows = "".join(
        f"<tr><th>{escape(shown(name))}{_cell(f'{key}.{name}', n, lang)}</tr>"
        for name, n in counts.items()
    )
    return f"<h2>{title}</h2><table>{rows}</table>"


def _reminders_table(document: dict, lang: str) -> str:
    reminders = document["reminders"]
    rows = "".join(
        f"<tr><th>{t(f'report.{name}', lang)}"
        f"{_cell(f'reminders.{name}', reminders[name], lang)}</tr>"
        for name in ("sent", "skipped", "held", "paid_within_7_days")
    )
    reasons = "".join(
        f"<tr><th>{t('report.skipped_reason', lang, reason=reason)}"
        f"{_cell(f'reminders.skipped_reasons.{reason}', n, lang)}</tr>"
        for reason, n in reminders["skipped_reasons"].items()
    )
    return (
        f"<h2>{t('report.reminders_heading', lang)}</h2><table>{rows}{reasons}"
        f"<tr><th>{t('report.opt_outs', lang)}{_cell('opt_outs', document['opt_outs'], lang)}"
        "</tr></table>"
    )


def _major(minor: int, currency: str) -> float:
    return minor / 10 ** get_currency_precision(currency)


def _chart_specs(document: dict, charted: dict, currencies: list[str], lang: str) -> dict:
    """What SCRIPT hands Chart.js: labels and legends already in the operator's language."""
    specs: dict[str, Any] = {}
    for currency, by_channel in charted["collected_minor"].items():
        specs[f"collected-{currency}"] = {
            "type": "bar",
            "stacked": True,
            "labels": charted["days"],
            "datasets": [
                {
                    "label": data_name("channel", channel, lang),
                    "data": [_major(m, currency) for m in days],
                }
                for channel, days in by_channel.items()
            ],
        }
    specs["aging"] = {
        "type": "bar",
        "labels": [page_text(f"aging.{b}", lang) for b in AGING_BUCKETS],
        "datasets": [
            {"label": c, "data": [_major(document["aging_minor"][b][c], c) for b in AGING_BUCKETS]}
            for c in currencies
        ],
    }
    specs["funnel"] = {
        "type": "bar",
        "indexAxis": "y",
        "labels": [data_name("funnel", stage, lang) for stage in document["funnel"]],
        "datasets": [
            {
                "label": page_text("funnel.conversations", lang),
                "data": list(document["funnel"].values()),
            }
        ],
    }
    specs["containment"] = {
        "type": "line",
        "y": {"min": 0, "max": 1},  # a rate: 0 to 100 %, so a dip looks its size
        "labels": [w["since"] for w in charted["weeks"]],
        "datasets": [
            {
                "label": page_text("report.containment_rate", lang),
                "data": [w["containment_rate"] for w in charted["weeks"]],
            }
        ],
    }
    return specs
