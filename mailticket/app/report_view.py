"""`mailticket report`: gathers the period's data from the store, hands it to the pure
`desk.report`, and renders the figures as a bilingual table, JSON, CSV or one HTML page.

Charts are drawn by matplotlib's SVG backend and inlined (see `report_html`): matplotlib 3.11
(2026-09) is the most widely used, best-kept Python plotting library, packaged by Debian, and
draws without a browser or network; its SVG needs no script, so the page (~40 KB for the demo)
opens offline. plotly, bokeh and altair draw in the browser with a JavaScript runtime of
several MB that would have to be inlined in every page; pygal (3.1.3, 2026-06) would also
give inline SVG but is not in this machine's package index and is far less used.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from mailticket.app.report_labels import LABELS, cell, percent
from mailticket.app.views import _width
from mailticket.desk import report as figures
from mailticket.desk.report_gather import gather

CSV_COLUMNS = [
    "id",
    "category",
    "received",
    "first_response",
    "resolved",
    "working_days",
    "within_deadline",
    "reopened",
    "escalated",
    "assignee",
    "channel",
]


def parse_period(
    *,
    first: str | None,
    last: str | None,
    month: str | None,
    quarter: str | None,
    days: int | None,
    today: date,
) -> figures.Period:
    """One period from the CLI's options; default: the last 30 days up to today."""
    if month:
        start = date.fromisoformat(f"{month}-01")
        following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        return figures.Period(start, following - timedelta(days=1))
    if quarter:
        found = re.fullmatch(r"(\d{4})Q([1-4])", quarter.upper())
        if not found:
            raise ValueError(f"--quarter wants a quarter like 2026Q4, got {quarter!r}")
        year, number = int(found[1]), int(found[2])
        start = date(year, 3 * number - 2, 1)
        following = date(year + number // 4, 3 * number % 12 + 1, 1)
        return figures.Period(start, following - timedelta(days=1))
    if first or last:
        start = date.fromisoformat(first) if first else today - timedelta(days=29)
        end = date.fromisoformat(last) if last else today
        if end < start:
            raise ValueError("--to is before --from")
        return figures.Period(start, end)
    return figures.Period(today - timedelta(days=(days or 30) - 1), today)


def _pad(text: str, width: int) -> str:
    """Left-aligned in terminal columns: a Chinese character takes two."""
    return text + " " * max(1, width - _width(text))


def table(report: dict[str, Any]) -> str:
    """The default: totals, times, groups and backlog, labelled in Chinese and English."""
    period = report["period"]
    lines = [f"投诉统计 / Complaint report  {period['from']} – {period['to']}", ""]
    totals = report["totals"]
    for key, label in LABELS.items():
        value = totals[key]
        lines.append(f"{_pad(label, 36)}{percent(value) if key == 'sla_compliance' else value}")
    for key, label in (
        ("first_response_hours", "首次响应 / First response"),
        ("resolution_hours", "解决用时 / Resolution"),
    ):
        spread = totals[key]
        lines.append(
            f"{_pad(label + ' (工作小时 / working h)', 50)}median {cell(spread['median'])}"
            f"  p90 {cell(spread['p90'])}  n={spread['count']}"
        )
    lines += ["", f"按 {report['by']} 分组 / By {report['by']}"]
    lines.append(_pad("", 30) + "收到/recv  解决中位/median h  达标/SLA  超期/late")
    for group in report["groups"]:
        lines.append(
            f"{_pad(group['name'][:28], 30)}{group['received']:>9} "
            f"{cell(group['resolution_hours']['median']):>18} "
            f"{percent(group['sla_compliance']):>9} {group['breached']:>10}"
        )
    backlog = report["backlog"]
    lines += ["", f"积压 / Backlog now: {backlog['total']} (超期 / overdue {backlog['overdue']})"]
    lines.append(
        "  按工作日账龄 / by age in working days: "
        + ", ".join(f"{k}: {v}" for k, v in backlog["by_age"].items())
    )
    lines.append(
        "  按处理人 / by assignee: "
        + ", ".join(f"{k}: {v}" for k, v in backlog["by_assignee"].items())
    )
    if report["quarantine_reasons"]:
        lines.append(
            "隔离原因 / Quarantine reasons: "
            + ", ".join(f"{k}: {v}" for k, v in report["quarantine_reasons"].items())
        )
    return "\n".join(lines)


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2)


def write_csv(report: dict[str, Any], path: Path) -> None:
    """One row per ticket received in the period; UTF-8 with BOM so Excel reads the Chinese."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in report["tickets"]:
        writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_COLUMNS})
    path.write_text(buffer.getvalue(), encoding="utf-8-sig")


def write_html(report: dict[str, Any], path: Path) -> None:
    from mailticket.app.report_html import page  # matplotlib: only when a page is wanted

    path.write_text(page(report), encoding="utf-8")


def category_names(rules: Any) -> dict[str, str]:
    """Category id -> "中文 / English" from the rule files in force."""
    if rules is None:
        return {}
    return {c.id: f"{c.name.zh} / {c.name.en}" for c in rules.current.categories}


def add_arguments(parser: Any) -> None:
    """`report`'s options (kept here so `cli` only wires the command)."""
    span = parser.add_mutually_exclusive_group()
    span.add_argument("--month", help="a calendar month, e.g. 2026-11")
    span.add_argument("--quarter", help="a quarter, e.g. 2026Q4")
    span.add_argument("--days", type=int, help="the last N days up to today (default 30)")
    span.add_argument("--from", dest="first", metavar="DATE", help="first day, e.g. 2026-11-01")
    parser.add_argument("--to", dest="last", metavar="DATE", help="last day (with --from)")
    parser.add_argument(
        "--by",
        default="category",
        choices=["category", "agent", "language", "channel", "day", "week"],
    )
    parser.add_argument("--now", help="as of this moment (ISO 8601), for tests and reruns")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", metavar="FILE", help="one row per ticket, UTF-8 with BOM")
    out.add_argument("--html", metavar="FILE", help="one self-contained page with charts")


def build(desk: Any, args: Any) -> dict[str, Any]:
    """The figures for the CLI's options on this desk."""
    now = datetime.fromisoformat(args.now) if args.now else desk.clock()
    if now.tzinfo is None:
        now = now.replace(tzinfo=desk.config.zone)
    calendar = desk.config.business_calendar
    period = parse_period(
        first=args.first,
        last=args.last,
        month=args.month,
        quarter=args.quarter,
        days=args.days,
        today=now.astimezone(calendar.zone).date(),
    )
    data = gather(desk.store, period, calendar, now, category_names(desk.rules))
    by = "assignee" if args.by == "agent" else args.by
    return figures.compute(data, calendar, by=by)


def run(desk: Any, args: Any) -> int:
    result = build(desk, args)
    if args.json:
        print(to_json(result))
    elif args.csv:
        write_csv(result, Path(args.csv))
    elif args.html:
        write_html(result, Path(args.html))
    else:
        print(table(result))
    return 0
