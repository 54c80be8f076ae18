"""`mailticket tickets list|show`: one page of tickets, filtered and paged in SQL, and one ticket
with its messages. Newest first; a table by default, `--json` for scripts."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, time
from typing import Any

from mailticket.app.views import emit_table, ticket_detail, ticket_summary
from mailticket.desk.context import Desk
from mailticket.errors import UsageError
from mailticket.model import TicketStatus
from mailticket.store import TicketFilter

LIST_COLUMNS = ["id", "status", "created", "category", "assignee", "customer", "subject"]
MAX_LIMIT = 10_000


def add_parser(commands: Any) -> None:
    tickets = commands.add_parser("tickets", help="list or show tickets / 查看工单")
    actions = tickets.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="tickets, newest first, one page / 工单列表")
    listing.add_argument("--status", choices=[s.value for s in TicketStatus])
    listing.add_argument("--category", help="only this category id (e.g. recharge)")
    listing.add_argument("--assignee", help="only this agent's tickets; - for unassigned")
    listing.add_argument(
        "--since", metavar="DATE", help="received on or after (YYYY-MM-DD in the desk's zone)"
    )
    listing.add_argument("--limit", type=int, default=50, help="tickets per page (default 50)")
    listing.add_argument("--offset", type=int, default=0, help="skip this many first")
    listing.add_argument(
        "--before", metavar="ID", help="only tickets older than this one: the next page's cursor"
    )
    listing.add_argument("--json", action="store_true", help="JSON array for scripts")
    show = actions.add_parser("show", help="one ticket with its messages / 工单详情")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="JSON object for scripts")


def wanted(args: argparse.Namespace, desk: Desk) -> TicketFilter:
    """The filter the options ask for; a bad value is a one-line usage error."""
    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be 1..{MAX_LIMIT} / 每页数量应为 1..{MAX_LIMIT}")
    if args.offset < 0:
        raise UsageError("--offset must be 0 or more / 偏移量不能为负")
    assignee = args.assignee
    return TicketFilter(
        status=args.status or "",
        category=args.category or "",
        assignee="" if assignee == "-" else (assignee.lower() if assignee else None),
        since=_since(args.since, desk) if args.since else None,
        limit=args.limit,
        offset=args.offset,
        before=args.before or "",
    )


def _since(text: str, desk: Desk) -> datetime:
    """A day starts at midnight in the desk's zone; a time without a zone is the desk's too."""
    try:
        moment = (
            datetime.combine(date.fromisoformat(text), time(0))
            if len(text) == 10
            else datetime.fromisoformat(text)
        )
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected YYYY-MM-DD / 日期格式应为 YYYY-MM-DD"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=desk.config.zone)


def run(desk: Desk, args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(desk, args)
    detail = ticket_detail(desk, args.id)
    if args.json:
        print(json.dumps(detail, ensure_ascii=False, indent=2))
    else:
        print(render_detail(detail))
    return 0


def _list(desk: Desk, args: argparse.Namespace) -> int:
    page = wanted(args, desk)
    rows = [ticket_summary(t) for t in desk.store.list_tickets(page)]
    emit_table(rows, args.json, LIST_COLUMNS)
    if not args.json and len(rows) == page.limit:
        print(f"(more / 更多: --before {rows[-1]['id']})")
    return 0


def render_detail(detail: dict[str, Any]) -> str:
    """`tickets show` as text: the ticket's facts, then each message, oldest first."""
    lines = [f"{key:9} {detail[key]}" for key in
             ("id", "status", "customer", "subject", "created", "due", "language")]  # fmt: skip
    lines.append(f"{'assignee':9} {detail['assignee'] or '(unassigned)'}")
    lines.append(f"{'priority':9} {detail['priority']}")
    labels = {
        "first_response_at": "answered",
        "resolved_at": "resolved",
        "closed_at": "closed",
        "previous_ticket": "continues",
        "continued_by": "continued",
    }
    lines += [f"{label:9} {detail[key]}" for key, label in labels.items() if detail[key]]
    if detail["category"]:
        state = "complete" if detail["complete"] else "missing " + ", ".join(detail["missing"])
        lines.append(f"{'category':9} {detail['category']} ({detail['category_confidence']:.2f})")
        lines.append(f"{'score':9} {detail['score']}/100, {state}")
        lines += [f"  {field_id}: {value}" for field_id, value in detail["fields"].items()]
    lines += [f"{'flag':9} {flag}" for flag in detail["flags"]]
    for message in detail["messages"]:
        lines += _message_lines(message)
    return "\n".join(lines)


def _message_lines(message: dict[str, Any]) -> list[str]:
    arrow = "<-" if message["direction"] == "in" else "->"
    state = f" [{message['delivery']['state']}]" if "delivery" in message else ""
    kind = "INTERNAL NOTE (never sent)" if message["internal"] else message["kind"]
    who = message["from"] if arrow == "<-" else "to " + ", ".join(message["to"])
    lines = ["", f"{arrow} {message['date']}  {kind}{state}  {who}", f"   {message['subject']}"]
    lines += [f"   note: {note}" for note in message["notes"]]
    for attachment in message["attachments"]:
        sniffed = attachment.get("sniffed_type") or attachment["content_type"]
        lines.append(
            f"   attachment: {attachment['filename']} ({sniffed}, {attachment['size']} bytes)"
        )
    lines += [f"   | {line}" for line in message["text"].splitlines()[:12]]
    if message["quoted"]:
        count = len(message["quoted"].splitlines())
        lines.append(f"   (+ {count} lines of quoted history and signature: see --json)")
    return lines
