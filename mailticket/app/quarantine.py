"""`mailticket quarantine list | show ID | release ID`: mail that could not be ticketed, why,
and taking it in again once the cause is fixed (exactly once; `intake.release`)."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from mailticket.app.views import emit_table
from mailticket.desk.context import Desk
from mailticket.errors import MailticketError, NotFoundError
from mailticket.intake.release import release
from mailticket.mail.headers import clean_line, decode_header_value
from mailticket.model import QuarantineRecord, to_record
from mailticket.outbound.outbox import Sender, drain_outbox

HEADINGS = {
    "id": "ID 编号",
    "created": "QUARANTINED 隔离时间",
    "from_addr": "FROM 发件人",
    "subject": "SUBJECT 主题",
    "reason": "REASON 原因",
    "state": "STATE 状态",
}
LABELS = {  # `show`, in this order
    "id": "id 编号",
    "state": "state 状态",
    "reason": "reason 原因",
    "source": "source 来源",
    "created": "quarantined 隔离时间",
    "from_addr": "from 发件人",
    "subject": "subject 主题",
    "message_id": "message-id",
    "size": "size 大小",
    "sha256": "sha256",
}


def add_parser(commands: Any) -> None:
    quarantine = commands.add_parser("quarantine", help="mail that could not be ticketed / 隔离区")
    actions = quarantine.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="quarantined mail with reasons")
    listing.add_argument("--json", action="store_true", help="JSON array for scripts")
    show = actions.add_parser("show", help="one quarantined mail: why, its headers, its size")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="JSON object for scripts")
    show.add_argument("--raw", action="store_true", help="print the raw mail as received")
    again = actions.add_parser(
        "release", help="take the mail in again once its cause is fixed (once) / 放行"
    )
    again.add_argument("id")
    again.add_argument("--json", action="store_true", help="JSON object for scripts")


def run(desk: Desk, args: argparse.Namespace, send: Sender) -> int:
    if args.action == "list":
        rows = [_row(r) for r in desk.store.quarantine()]
        emit_table(rows, args.json, list(HEADINGS), HEADINGS)
        return 0
    if args.action == "show":
        return _show(desk, args.id, as_json=args.json, raw=args.raw)
    return _release(desk, args.id, args.json, send)


def _row(record: QuarantineRecord) -> dict[str, Any]:
    row = to_record(record)
    row["state"] = _state(record)
    return row


def _state(record: QuarantineRecord) -> str:
    if record.released_at is None:
        return "held 隔离中"
    return f"released 已放行 -> {record.released_as}"


def _show(desk: Desk, record_id: str, *, as_json: bool, raw: bool) -> int:
    record = desk.store.quarantined(record_id)
    try:
        mail: bytes | None = desk.store.get_blob(record.raw_sha256)
    except NotFoundError:
        mail = None
    if raw:
        if mail is None:
            raise NotFoundError(
                f"{record_id}: the raw mail {record.raw_sha256} is not in the store"
            )
        sys.stdout.buffer.write(mail)
        sys.stdout.buffer.flush()
        return 0
    detail = _row(record)
    detail["size"] = len(mail) if mail is not None else None
    detail["sha256"] = hashlib.sha256(mail).hexdigest() if mail is not None else None
    detail["headers"] = _headers(mail) if mail is not None else []
    if as_json:
        print(json.dumps(detail, ensure_ascii=False, indent=2))
        return 0
    width = max(len(label) + 1 for label in LABELS.values())
    for key, label in LABELS.items():
        value = detail.get(key)
        if key == "size":
            value = f"{value} bytes 字节" if value is not None else "missing 缺失"
        print(f"{label:{width}} {value if value not in (None, '') else '-'}")
    print("headers 邮件头:")
    for name, value in detail["headers"]:
        print(f"  {name}: {value}")
    return 0


def _headers(raw: bytes) -> list[tuple[str, str]]:
    """The mail's header block, each value decoded to one line of visible text."""
    parsed = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return [(clean_line(name), decode_header_value(str(value))) for name, value in parsed.items()]


def _release(desk: Desk, record_id: str, as_json: bool, send: Sender) -> int:
    result = release(desk, record_id)
    if as_json:
        print(json.dumps({"id": record_id, **to_record(result)}, ensure_ascii=False, indent=2))
    elif result.outcome == "quarantined":
        print(
            f"{record_id}: failed again, back in quarantine as {result.quarantine_id} "
            f"/ 再次失败，重新隔离: {result.reason}"
        )
    else:
        print(f"{record_id}: released 已放行: {result.outcome} {result.ticket_id}".rstrip())
    try:  # best effort, as for `ingest`: the acknowledgement is queued either way
        drain_outbox(desk, send)
    except MailticketError as exc:
        logging.getLogger("mailticket").warning("reply left in the outbox: %s", exc)
    return 1 if result.outcome == "quarantined" else 0
