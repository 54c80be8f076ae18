"""What commands show: ticket summaries and details as plain dicts, and width-aware tables."""

from __future__ import annotations

import functools
import json
import unicodedata
from datetime import datetime
from typing import Any

from mailticket.desk.context import Desk
from mailticket.mail.parse import detect_language
from mailticket.model import InboundMail, MessageKind, Ticket, to_record


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    record = to_record(ticket)
    return {
        "id": record["id"],
        "status": record["status"],
        "customer": record["customer"],
        "customer_name": record["customer_name"],
        "subject": record["subject"],
        "created": record["created"],
        "updated": record["updated"],
        "due": record["due"],
        "language": record["language"],
        "category": record["category"],
        "score": record["score"],
        "complete": record["complete"],
        "missing": record["missing"],
        "flags": record["flags"],
        "assignee": record["assignee"],
        "priority": record["priority"],
    }


def ticket_detail(desk: Desk, ticket_id: str) -> dict[str, Any]:
    ticket = desk.store.get_ticket(ticket_id)
    detail = ticket_summary(ticket)
    detail["category_confidence"] = ticket.category_confidence
    detail["fields"] = ticket.fields
    detail["field_history"] = to_record(ticket.field_history)
    for key in (
        "first_response_at",
        "resolved_at",
        "closed_at",
        "previous_ticket",
        "continued_by",
        "category_set_by",
    ):
        detail[key] = to_record(getattr(ticket, key))
    states = {m.message_id: m for m in desk.store.outbox_of(ticket_id)}
    messages = []
    for message in desk.store.messages(ticket_id):
        record = to_record(message)
        item: dict[str, Any] = {
            "direction": record["direction"],
            "kind": record["kind"],
            "message_id": record["message_id"],
            "from": record["from_addr"],
            "to": record["to"],
            "cc": record["cc"],
            "subject": record["subject"],
            "date": record["date"],
            "text": record["text"],
            "quoted": record["quoted"],
            "attachments": record["attachments"],
            "notes": record["notes"],
            "defects": record["defects"],
            "extracted": record["extracted"],
            "flags": record["flags"],
            "internal": message.kind == MessageKind.NOTE,  # an agent's note: never sent
        }
        if message.message_id in states:
            outgoing = states[message.message_id]
            item["delivery"] = {
                "outbox_id": outgoing.id,
                "state": outgoing.state.value,
                "attempts": outgoing.attempts,
                "last_error": outgoing.last_error,
            }
        messages.append(item)
    messages.sort(key=lambda m: datetime.fromisoformat(m["date"]))  # offsets differ
    detail["messages"] = messages
    return detail


@functools.cache
def _char_width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two (ASCII text, the common case, is its
    length: a list of 100,000 tickets spent most of its 13 s here)."""
    return len(text) if text.isascii() else sum(map(_char_width, text))


def _clip(text: str, limit: int) -> str:
    if text.isascii() and len(text) <= limit:
        return text
    used = 0
    for position, char in enumerate(text):
        used += _char_width(char)
        if used > limit:
            return text[:position] + "…"
    return text


def emit_table(
    rows: list[dict[str, Any]],
    as_json: bool,
    columns: list[str],
    headings: dict[str, str] | None = None,
) -> None:
    """Rows as JSON, or as a table sized to the text (Chinese counts double); `headings`
    names columns (bilingual, say) instead of their keys in capitals."""
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        print("(none)")
        return
    cells = [[_clip(str(row.get(c, "") or ""), 48) for c in columns] for row in rows]
    sized = [[(value, _width(value)) for value in row] for row in cells]
    titles = [(headings or {}).get(c, c.upper()) for c in columns]
    widths = [max(_width(t), *(r[i][1] for r in sized)) for i, t in enumerate(titles)]
    lines = [
        "  ".join(t + " " * (w - _width(t)) for t, w in zip(titles, widths, strict=True)).rstrip()
    ]
    for row in sized:
        lines.append(
            "  ".join(v + " " * (w - n) for (v, n), w in zip(row, widths, strict=True)).rstrip()
        )
    print("\n".join(lines))


def mail_report(mail: InboundMail, thread: str) -> dict[str, Any]:
    """What `check FILE` shows: the fields scoring, threading and agents work from."""
    return {
        "from": mail.from_addr,
        "from_name": mail.from_name,
        "from_valid": mail.from_valid,
        "subject": mail.subject,
        "date": mail.date.isoformat() if mail.date else None,
        "message_id": mail.message_id,
        "language": detect_language(mail.subject, mail.text),
        "text": mail.text,
        "quoted": mail.quoted,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "sniffed_type": a.sniffed_type,
                "size": a.size,
                "sha256": a.sha256,
                "content_id": a.content_id,
                "inline": a.inline,
                "too_large": a.too_large,
            }
            for a in mail.attachments
        ],
        "defects": list(mail.defects),
        "thread": thread,
    }
