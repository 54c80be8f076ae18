"""The report as one self-contained HTML page: styles inline, charts as inline SVG drawn by
matplotlib (see `app.report_view` for why matplotlib). Everything that came from mail is escaped;
the page shows ticket ids, categories and assignees, never subjects or bodies.

Chart text stays ASCII (matplotlib's bundled font has no CJK glyphs); the headings around the
charts carry the Chinese. `svg.fonttype = none` keeps the text as text, so it is searchable.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("svg")

import matplotlib.pyplot as plt

from mailticket.app.report_labels import LABELS, cell, escape, percent

STYLE = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;
margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}h1{font-size:1.4em}.charts{display:flex;
flex-wrap:wrap;gap:1em}.charts figure{margin:0}"""


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "mailticket"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def weekly_chart(weeks: list[dict[str, Any]]) -> str:
    """Complaints per week by category, stacked."""
    figure, axes = plt.subplots(figsize=(6, 3))
    labels = [w["week"] for w in weeks]
    categories = sorted({c for w in weeks for c in w["by_category"]})
    bottom = [0] * len(weeks)
    for category in categories:
        heights = [w["by_category"].get(category, 0) for w in weeks]
        axes.bar(labels, heights, bottom=bottom, label=category.encode("ascii", "replace").decode())
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.set_ylabel("complaints")
    if categories:
        axes.legend(fontsize="small")
    return _svg(figure)


def compliance_chart(weeks: list[dict[str, Any]], target: float) -> str:
    """SLA compliance per week against the target."""
    figure, axes = plt.subplots(figsize=(6, 3))
    labels = [w["week"] for w in weeks]
    values = [
        w["sla_compliance"] if w["sla_compliance"] is not None else float("nan") for w in weeks
    ]
    axes.plot(labels, values, marker="o", label="compliance")
    axes.axhline(target, color="red", linestyle="--", label=f"target {target:.0%}")
    axes.set_ylim(0, 1.05)
    axes.legend(fontsize="small")
    return _svg(figure)


def resolution_chart(rows: list[dict[str, Any]]) -> str:
    """How long resolutions took, in working hours."""
    figure, axes = plt.subplots(figsize=(6, 3))
    hours = [r["resolution_hours"] for r in rows if r["resolution_hours"] is not None]
    if hours:
        axes.hist(hours, bins=10)
    else:  # an empty histogram, not a bar at zero that looks like data
        axes.text(0.5, 0.5, "no resolutions in the period", ha="center", transform=axes.transAxes)
    axes.set_xlabel("working hours to resolve")
    return _svg(figure)


def backlog_chart(by_age: dict[str, int]) -> str:
    figure, axes = plt.subplots(figsize=(6, 3))
    axes.bar(list(by_age), list(by_age.values()), color="#c66")
    axes.set_xlabel("age in working days")
    return _svg(figure)


def _totals_table(totals: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td>{escape(label)}</td><td data-key="{key}">'
        f"{escape(percent(totals[key]) if key == 'sla_compliance' else totals[key])}</td></tr>"
        for key, label in LABELS.items()
    )
    return f"<table><tr><th>指标 / Figure</th><th>值 / Value</th></tr>{rows}</table>"


def _groups_table(report: dict[str, Any]) -> str:
    head = (
        "<tr><th>组 / Group</th><th>收到 / Received</th><th>解决中位 / Median h</th>"
        "<th>P90 h</th><th>达标率 / SLA</th><th>超期 / Breached</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{escape(g['name'])}</td><td>{g['received']}</td>"
        f"<td>{escape(cell(g['resolution_hours']['median']))}</td>"
        f"<td>{escape(cell(g['resolution_hours']['p90']))}</td>"
        f"<td>{escape(percent(g['sla_compliance']))}</td><td>{g['breached']}</td></tr>"
        for g in report["groups"]
    )
    return f"<table>{head}{rows}</table>"


def _backlog_table(backlog: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(t['id'])}</td><td>{t['age_days']}</td>"
        f"<td>{'超期 / overdue' if t['overdue'] else ''}</td><td>{escape(t['assignee'])}</td>"
        f"<td>{escape(t['category'])}</td></tr>"
        for t in backlog["tickets"]
    )
    head = (
        "<tr><th>工单 / Ticket</th><th>工作日 / Age</th><th>状态 / State</th>"
        "<th>处理人 / Assignee</th><th>类别 / Category</th></tr>"
    )
    return f"<table>{head}{rows}</table>"


def page(report: dict[str, Any], target: float = 0.95) -> str:
    period = report["period"]
    charts = [
        ("每周投诉（按类别）/ Complaints per week by category", weekly_chart(report["weeks"])),
        ("每周时限达标率 / SLA compliance per week", compliance_chart(report["weeks"], target)),
        ("解决用时分布 / Resolution time", resolution_chart(report["tickets"])),
        ("积压账龄 / Backlog by age", backlog_chart(report["backlog"]["by_age"])),
    ]
    figures_html = "".join(
        f"<figure><figcaption>{escape(title)}</figcaption>{svg}</figure>" for title, svg in charts
    )
    backlog = report["backlog"]
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">'
        f"<title>投诉统计 / Complaint report</title><style>{STYLE}</style></head><body>"
        f"<h1>投诉统计 / Complaint report {escape(period['from'])} – {escape(period['to'])}</h1>"
        f"<h2>总计 / Totals</h2>{_totals_table(report['totals'])}"
        f"<h2>分组 / By {escape(report['by'])}</h2>{_groups_table(report)}"
        f'<h2>图表 / Charts</h2><div class="charts">{figures_html}</div>'
        f'<h2>积压 / Backlog now: <span data-key="backlog">{backlog["total"]}</span>'
        f" (超期 / overdue {backlog['overdue']})</h2>{_backlog_table(backlog)}"
        "</body></html>"
    )
