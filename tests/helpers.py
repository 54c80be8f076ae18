"""Helpers shared by the tests that drive the real servers: config, mails, one cycle."""

from __future__ import annotations

import mimetypes
import shutil
import subprocess
import sys
import textwrap
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import pytest
from imap_tools import MailBoxUnencrypted
from servers import ImapAccount, SmtpSink

from mailticket import config as config_module
from mailticket.config import Config
from mailticket.config_sections import BUILTIN_RULES
from mailticket.desk.context import Desk
from mailticket.intake.cycle import intake_cycle, open_mailbox
from mailticket.outbound.outbox import drain_outbox, smtp_sender

PROJECT = Path(__file__).resolve().parents[1]


# The store URL `write_config` writes when a test runs on PostgreSQL (set by the `engine`
# fixture of tests marked `both_engines`); "" is the default SQLite file under the folder.
STORE_URL = ""

# Runs a test once on SQLite and once on a fresh database of the session's PostgreSQL.
both_engines = pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)


def write_config(
    tmp_path: Path,
    account: ImapAccount,
    sink: SmtpSink,
    *,
    imap_extra: str = "",
    storage_extra: str = "",
    extra: str = "",
) -> Path:
    """A config for one test's mailbox and sink; `extra` is TOML appended as it is,
    `imap_extra` and `storage_extra` go into their tables (e.g. a PostgreSQL `url`)."""
    (tmp_path / "imap-password").write_text(account.password, encoding="utf-8")
    if STORE_URL and "url" not in storage_extra:
        storage_extra = f'url = "{STORE_URL}"\n{storage_extra}'
    path = tmp_path / "mailticket.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            [desk]
            address = "complaints@okwallet.example"
            name = "OK钱包客服"
            ticket_prefix = "OKW"

            [imap]
            host = "{account.host}"
            port = {account.port}
            security = "none"
            username = "{account.username}"
            password_file = "imap-password"
            poll_interval = 1
            {imap_extra}

            [smtp]
            host = "{sink.host}"
            port = {sink.port}
            security = "none"

            [storage]
            path = "store"
            {storage_extra}

            [outbox]
            retry_base_seconds = 60
            """
        )
        + textwrap.dedent(extra)
        # no rules unless a test asks for them (absent, [rules] path is the built-in rules)
        + ("" if "[rules]" in extra else '\n[rules]\npath = ""\n'),
        encoding="utf-8",
    )
    return path


def load(path: Path) -> Config:
    return config_module.load(path, environ={})


def complaint(
    subject: str = "充值500元一直没到账",
    body: str = "我在11月24日充值了500元，银行已扣款但余额没有变化。账号13812345678。",
    *,
    sender: str = "张伟 <zhang.wei@qq.example>",
    message_id: str = "<c1@qq.example>",
    in_reply_to: str | None = None,
    attachments: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    """A customer's mail as a mail client writes it; `attachments` are (file name, bytes)."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = sender
    message["To"] = "complaints@okwallet.example"
    message["Subject"] = subject
    message["Date"] = "Tue, 24 Nov 2026 15:42:10 +0800"
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body, charset="utf-8")
    for filename, data in attachments:
        known = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        maintype, _, subtype = known.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def cycle(config: Config, desk: Desk | None = None) -> Desk:
    """One `poll --once`, in process: intake, then send what is owed."""
    desk = desk or Desk.open(config)
    mailbox = open_mailbox(config)
    try:
        intake_cycle(desk, mailbox)
    finally:
        mailbox.close()
    drain_outbox(desk, smtp_sender(config))
    return desk


def folder_contents(account: ImapAccount, folder: str) -> list[tuple[str, tuple[str, ...]]]:
    with MailBoxUnencrypted(account.host, account.port).login(
        account.username, account.password, initial_folder=folder
    ) as box:
        return [
            (m.headers.get("message-id", ("",))[0], m.flags) for m in box.fetch(mark_seen=False)
        ]


def run_cli(
    config_path: Path, *args: str, stdin: bytes | None = None, umask: int = -1
) -> subprocess.CompletedProcess:
    """`mailticket --config CONFIG ARGS...` in a child process (with `umask`, if given)."""
    return subprocess.run(
        [sys.executable, "-m", "mailticket", "--config", str(config_path), *args],
        input=stdin,
        capture_output=True,
        check=False,
        cwd=PROJECT,
        timeout=60,
        umask=umask,
    )


EVIL_FIELD = """
[[fields]]
id = "evil"
kind = "pattern"
weight = 5
label = {{ zh = "测试", en = "Test" }}
hint = {{ zh = "测试", en = "Test" }}
patterns = [
    '{pattern}',
]
"""


def rules_with(folder: Path, pattern: str) -> Path:
    """The built-in rules with one more pattern field in every category."""
    shutil.copytree(BUILTIN_RULES, folder)
    for path in folder.glob("*.toml"):
        with path.open("a", encoding="utf-8") as out:
            out.write(EVIL_FIELD.format(pattern=pattern))
    return folder


def dsn_for(
    message_id: str,
    recipient: str,
    action: str = "failed",
    status: str = "5.1.1",
    *,
    subject: str = "Undelivered Mail Returned to Sender",
) -> bytes:
    """A delivery status notification the way Postfix writes one."""
    return (
        "From: MAILER-DAEMON@mx.qq.example (Mail Delivery System)\r\n"
        "To: complaints@okwallet.example\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <bounce-{status}-{recipient}@mx.qq.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.qq.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} mailbox does not exist\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "From: complaints@okwallet.example\r\n"
        f"To: {recipient}\r\nMessage-ID: {message_id}\r\nSubject: receipt\r\n"
        "--B--\r\n"
    ).encode()
