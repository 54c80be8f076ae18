"""`mailticket demo`: the real pipeline on sample complaints, with no mail server of your own.

Mail is delivered into a local Maildir, taken in by the same code as IMAP intake, and the replies
go through the real outbox and aiosmtplib to an SMTP server (aiosmtpd) running in this process
on a loopback port. Then a customer answers the acknowledgement, and the answer joins the ticket.
"""

from __future__ import annotations

import email
import json
import logging
import shutil
import socket
import tempfile
import threading
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from importlib import resources
from pathlib import Path

from aiosmtpd.controller import Controller

from mailticket import config as config_module
from mailticket.app.views import emit_table, ticket_detail, ticket_summary
from mailticket.config_sections import BUILTIN_RULES
from mailticket.desk.context import Desk
from mailticket.intake.cycle import maildir_cycle
from mailticket.outbound.outbox import drain_outbox, smtp_sender

DEMO_CONFIG = """\
[desk]
address = "complaints@okwallet.example"
name = "OK钱包客服中心 OK Wallet Care"
ticket_prefix = "OKW"
timezone = "Asia/Shanghai"
sla_working_days = 7

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"

[storage]
path = "store"

[rules]
path = {rules}
"""


class _Collector:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self.lock:
            self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _deliver(maildir: Path, name: str, raw: bytes) -> None:
    (maildir / "new").mkdir(parents=True, exist_ok=True)
    (maildir / "new" / name).write_bytes(raw)


def _show_tickets(desk: Desk, only: list[str] | None = None) -> None:
    """Tickets with what the rules decided: category, score, and the details still missing."""
    rows = [
        {
            **ticket_summary(t),
            "complete": "yes" if t.complete else "no",
            "missing": ", ".join(t.missing) or "-",
        }
        for t in desk.store.tickets()
        if only is None or t.id in only
    ]
    columns = ["id", "language", "category", "score", "complete", "missing", "subject", "due"]
    emit_table(rows, False, columns)


def _indented(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return "\n".join(f"    {line}" for line in text.strip().splitlines()) + "\n"


def _customer_answer(acknowledgement: email.message.Message) -> EmailMessage:
    """The customer's reply to an acknowledgement, with the details it asked for."""
    answer = EmailMessage(policy=SMTP)
    answer["From"] = acknowledgement["To"]
    answer["To"] = acknowledgement["From"]
    answer["Subject"] = f"回复: {acknowledgement['Subject']}"
    answer["Message-ID"] = "<demo-followup@qq.example>"
    answer["In-Reply-To"] = acknowledgement["Message-ID"]
    answer["References"] = f"{acknowledgement['References']} {acknowledgement['Message-ID']}"
    answer.set_content("补充：我的账号是 138 0013 8000，收款银行卡尾号 6688。\n", charset="utf-8")
    return answer


def run_demo(directory: Path | None = None) -> int:
    temporary = directory is None
    root = Path(tempfile.mkdtemp(prefix="mailticket-demo-")) if directory is None else directory
    root.mkdir(parents=True, exist_ok=True)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd narrates every command
    collector = _Collector()
    port = _free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        rules = json.dumps(str(BUILTIN_RULES))
        (root / "mailticket.toml").write_text(
            DEMO_CONFIG.format(port=port, rules=rules), encoding="utf-8"
        )
        config = config_module.load(root / "mailticket.toml")
        desk = Desk.open(config)
        maildir = root / "Maildir"
        samples = sorted(
            (p for p in resources.files("mailticket.app").joinpath("samples").iterdir()),
            key=lambda p: p.name,
        )
        for sample in samples:
            _deliver(maildir, sample.name, sample.read_bytes())
        print(f"mailticket demo: store in {root}")
        print(
            f"SMTP server (aiosmtpd) on 127.0.0.1:{port}; {len(samples)} sample mails delivered\n"
        )

        counts = maildir_cycle(desk, maildir)
        print("intake:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        sent = drain_outbox(desk, smtp_sender(config))
        print(f"outbox: {len(sent.sent)} sent, {len(sent.deferred)} deferred\n")

        print("Tickets / 工单")
        _show_tickets(desk)
        print("\nQuarantine / 隔离")
        emit_table([{"id": q.id, "reason": q.reason} for q in desk.store.quarantine()], False,
              ["id", "reason"])  # fmt: skip

        replies = [email.message_from_bytes(m, policy=default_policy) for m in collector.messages]
        print("\nReplies received by the SMTP server / 已发送的回复")
        emit_table([{"to": r["To"], "subject": r["Subject"], "in_reply_to": r["In-Reply-To"]}
               for r in replies], False, ["to", "subject", "in_reply_to"])  # fmt: skip

        # A customer answers the acknowledgement that asked them for missing details.
        incomplete = {t.id for t in desk.store.tickets() if t.category and not t.complete}
        first = next((r for r in replies if r["X-Mailticket-Ticket"] in incomplete), replies[0])
        print(f"\nThe acknowledgement {first['X-Mailticket-Ticket']} received / 受理确认:")
        print(_indented(first))
        answer = _customer_answer(first)
        _deliver(maildir, "06_followup.eml", answer.as_bytes())
        maildir_cycle(desk, maildir)
        drain_outbox(desk, smtp_sender(config))
        ticket_id = str(first["X-Mailticket-Ticket"])
        detail = ticket_detail(desk, ticket_id)
        print(f"The customer answered; {ticket_id} now holds / 客户补充后的工单:")
        emit_table(detail["messages"], False, ["direction", "kind", "from", "subject"])
        print()
        _show_tickets(desk, [ticket_id])
        if len(collector.messages) > len(replies):
            answered = email.message_from_bytes(collector.messages[-1], policy=default_policy)
            print("\nOur answer to the follow-up / 对补充邮件的答复:")
            print(_indented(answered))
        print(
            f"\nTry: mailticket --config {root / 'mailticket.toml'} tickets show {ticket_id}"
            if not temporary
            else "\n(temporary store removed; use `mailticket demo --dir DIR` to keep it)"
        )
        return 0
    finally:
        controller.stop()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
