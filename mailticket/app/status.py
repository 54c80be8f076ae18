"""`mailticket status [--json]`: what an admin or a monitoring check needs to know at a glance.

It reads the store the daemon writes (through the Store's public methods only): the outbox by
state, the oldest mail still waiting, the last send error, the quarantine, where intake stands in
the IMAP folder, and the daemon's last IMAP connection error. A refused login (SMTP 535 or an
IMAP login refusal) is retried for ever by the daemon but only a person can fix it, so it makes
the exit status 1: a monitoring check that calls `status` alerts on it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mailticket.app.views import _width as display_width
from mailticket.config import Config
from mailticket.errors import SMTP_LOGIN_FAILED
from mailticket.intake.cycle import IMAP_ERROR_MARK, position_key
from mailticket.model import Clock, OutboxState, OutgoingMail, system_clock
from mailticket.store import Store, open_store
from mailticket.store.leader import leader_name

# Bilingual labels of the human table, in the order shown.
LABELS = {
    "store": "store / 存储位置",
    "outbox": "outbox / 发件箱",
    "oldest_queued": "oldest queued / 最早待发",
    "last_send_error": "last send error / 最近发送错误",
    "smtp_login_refused": "SMTP login refused / SMTP 登录被拒",
    "quarantine": "quarantined / 隔离邮件",
    "imap_position": "IMAP position / IMAP 进度",
    "imap_error": "IMAP error / IMAP 错误",
    "intake_leader": "intake leader / 收件主进程",
    "problems": "needs a person / 需要处理",
}


def add_parser(commands: Any) -> None:
    status = commands.add_parser(
        "status", help="outbox, errors, quarantine, IMAP position; exit 1 when logins fail"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")


def run(config: Config, as_json: bool, clock: Clock = system_clock) -> int:
    report = gather(config, clock)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(render(report))
    return 1 if report["problems"] else 0


def gather(config: Config, clock: Clock = system_clock) -> dict[str, Any]:
    """The status as plain data; a missing store is reported, never created."""
    if not config.storage.url and not (config.storage_path / "mailticket.db").exists():
        return {
            "store": str(config.storage_path.resolve()),
            "problems": ["no store yet: the daemon has not run / 存储尚未创建"],
        }
    store = open_store(config)
    try:
        return _gather(config, store, clock)
    finally:
        store.close()


def _gather(config: Config, store: Store, clock: Clock) -> dict[str, Any]:
    waiting = store.outbox(OutboxState.QUEUED) + store.outbox(OutboxState.SENDING)
    counts = store.outbox_counts()  # counted in SQL, not loaded: sent mail is the history
    errors = sorted((m for m in waiting if m.last_error), key=_last_tried)
    refused = [m for m in errors if m.last_error.startswith(SMTP_LOGIN_FAILED)]
    oldest = min((m.created for m in waiting), default=None)
    position = store.imap_position(position_key(config)) if config.imap.host else {}
    imap_error = json.loads(store.mark(IMAP_ERROR_MARK) or "{}")
    problems = []
    if refused:
        problems.append(f"{len(refused)} mail(s) held: {refused[-1].last_error}")
    if imap_error.get("login"):
        problems.append(imap_error["error"])
    return {
        "store": store.where,
        "outbox": counts,
        "oldest_queued": _age(oldest, clock()) if oldest else None,
        "last_send_error": errors[-1].last_error if errors else "",
        "smtp_login_refused": len(refused),
        "quarantine": len(store.quarantine()),
        "imap_position": {
            "folder": position_key(config) if config.imap.host else "",
            "uidvalidity": position.get("uidvalidity"),
            "last_uid": position.get("last_uid"),
            "moves_owed": len(position.get("pending", {})),
        },
        "imap_error": imap_error,
        # several daemons: which one takes mail in (host, pid, epoch, since)
        "intake_leader": store.leader_of(leader_name(position_key(config)))
        if config.imap.host
        else {},
        "problems": problems,
    }


def render(report: dict[str, Any]) -> str:
    """Label and value per line; long errors are shown whole, they are what the admin needs."""
    width = max(display_width(label) for label in LABELS.values())
    lines = []
    for key, label in LABELS.items():
        if key in report:
            padding = " " * (width - display_width(label))
            lines.append(f"{label}{padding}  {_text(key, report[key])}")
    return "\n".join(lines)


def _text(key: str, value: Any) -> str:
    if key == "intake_leader":
        if not value:
            return "- (no daemon has taken mail in yet / 尚无)"
        return f"{value['host']} pid {value['pid']}, epoch {value['epoch']}, since {value['since']}"
    if key == "outbox":
        return ", ".join(f"{state} {count}" for state, count in value.items())
    if key == "oldest_queued":
        return f"{value['created']} ({value['hours']} h)" if value else "-"
    if key == "imap_position":
        if not value["folder"]:
            return "- (no [imap] host)"
        if value["uidvalidity"] is None:
            return f"{value['folder']}: not read yet / 尚未读取"
        return (
            f"{value['folder']} uidvalidity {value['uidvalidity']} last uid "
            f"{value['last_uid']}, {value['moves_owed']} move(s) owed"
        )
    if key == "imap_error":
        return f"{value['error']} (since {value['at']})" if value else "-"
    if key == "problems":
        return "; ".join(value) if value else "none / 无"
    return str(value) if value not in ("", None) else "-"


def _age(created: datetime, now: datetime) -> dict[str, Any]:
    return {
        "created": created.isoformat(),
        "hours": round((now - created).total_seconds() / 3600, 1),
    }


def _last_tried(mail: OutgoingMail) -> datetime:
    """Rows keep no attempt time; the next attempt follows the last one by the backoff."""
    return mail.next_attempt or mail.created
