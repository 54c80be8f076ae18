"""`mailticket report`: gathers the period's data from the store, hands it to the pure
`desk.report`, and renders the figures as a bilingual table, JSON, CSV or one HTML page.

Charts are drawn by matplotlib's SVG backend and inlined: matplotlib is the best-kept Python
charting library (monthly releases, in Debian), draws without a browser or network, and its SVG
needs no script, so the page opens offline. pygal would also inline SVG but is barely maintained
(last release 2023) and is not in this machine's package index; plotly ships ~3 MB of JavaScript
per page.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from mailticket.app.views import _width
from mailticket.desk import report as figures
from mailticket.desk.calendar import BusinessCalendar
from mailticket.model import OutboxState, OutgoingMail, TicketStatus
from mailticket.store import Store

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

LABELS = {
    "received": "收到 / Received",
    "acknowledged": "已受理 / Acknowledged",
    "resolved": "已解决 / Resolved",
    "closed": "已关闭 / Closed",
    "still_open": "仍未结 / Still open",
    "within_deadline": "按时 / Within deadline",
    "breached": "超期 / Breached",
    "sla_compliance": "时限达标率 / SLA compliance",
    "escalated": "升级主管 / Escalated",
    "delay_notices": "延期通知 / Delay notices",
    "complete_at_intake": "首次即完整 / Complete at intake",
    "info_requests": "补充信息请求 / Information requests",
    "rounds_until_complete_median": "补充至完整轮数中位 / Median rounds until complete",
    "auto_closed": "超时自动关闭 / Auto-closed",
    "reopened": "重新打开 / Reopened",
    "successors": "后续工单 / Successor tickets",
    "bounces": "退信 / Bounced replies",
    "quarantined": "隔离邮件 / Quarantined mails",
    "outbox_failed": "发送失败 / Outbox failures",
}


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


def gather(
    store: Store,
    period: figures.Period,
    calendar: BusinessCalendar,
    now: datetime,
    category_names: dict[str, str] | None = None,
) -> figures.ReportInput:
    """The report's input, through the store's public reading methods only: the one place a
    SQL store will replace with range queries. Keeps only the period's tickets (and the
    backlog); messages are read without bodies."""
    tickets = []
    backlog = []
    failed: list[OutgoingMail] = []
    with store.transaction():  # one consistent read, and one catch-up for all the messages
        for ticket in store.tickets():
            if figures.still_open(ticket.status):
                backlog.append(ticket)
            touched = (ticket.created, ticket.resolved_at, ticket.closed_at)
            if any(period.contains(moment, calendar) for moment in touched):
                messages = tuple(store.messages(ticket.id, bodies=False))
                tickets.append(figures.TicketFacts(ticket, messages))
                # Per ticket: `outbox(FAILED)` would read every archived ticket's mail.
                failed += [m for m in store.outbox_of(ticket.id) if m.state == OutboxState.FAILED]
        quarantine = tuple(store.quarantine())
    return figures.ReportInput(
        period=period,
        now=now,
        tickets=tuple(tickets),
        backlog=tuple(backlog),
        quarantine=quarantine,
        outbox=tuple(failed),
        category_names=category_names,
    )


def cell(value: Any) -> str:
    """A figure for display: "-" when there is nothing to show."""
    return "-" if value is None else str(value)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


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
    from mailticket.app.report_html import page

    path.write_text(page(report), encoding="utf-8")


def category_names(rules: Any) -> dict[str, str]:
    """Category id -> "中文 / English" from the rule files in force."""
    if rules is None:
        return {}
    return {c.id: f"{c.name.zh} / {c.name.en}" for c in rules.current.categories}


def summary_line(report: dict[str, Any]) -> str:
    """The digest's one line about yesterday."""
    t = report["totals"]
    compliance = percent(t["sla_compliance"])
    return (
        f"昨日 / Yesterday: 收到 received {t['received']}, 解决 resolved {t['resolved']}, "
        f"超期 breached {t['breached']}, 达标率 SLA {compliance}, "
        f"积压 backlog {report['backlog']['total']}"
    )


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def status_open(status: str) -> bool:
    return figures.still_open(TicketStatus(status))


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


def yesterday_line(store: Store, calendar: BusinessCalendar, now: datetime) -> str:
    """The digest's summary of yesterday (a local calendar day in the desk's zone)."""
    yesterday = now.astimezone(calendar.zone).date() - timedelta(days=1)
    period = figures.Period(yesterday, yesterday)
    return summary_line(figures.compute(gather(store, period, calendar, now), calendar))
