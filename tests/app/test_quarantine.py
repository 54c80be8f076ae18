"""`mailticket quarantine list | show | release` on a real store, mail taken in through a
real Dovecot and answered through a real SMTP server (issue 17 item 17): why a mail is held,
its headers and raw bytes, and taking it in again once its cause is fixed, exactly once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import complaint, load, run_cli, write_config
from servers import ImapAccount, SmtpSink

from mailticket.app.cli import main
from mailticket.desk.context import Desk

pytestmark = pytest.mark.integration


def limit(config_path: Path, max_bytes: int) -> None:
    """The admin changes `[limits] max_mail_bytes` (the cause of the quarantine)."""
    text = config_path.read_text(encoding="utf-8")
    head, _, _ = text.partition("[limits]")
    config_path.write_text(f"{head}[limits]\nmax_mail_bytes = {max_bytes}\n", encoding="utf-8")


def test_show_then_release_a_quarantined_mail_exactly_once(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)

    def cli(*args: str) -> tuple[int, str, str]:
        """The command in this process (a subprocess costs seconds here): code, out, err."""
        code = main(["--config", str(config_path), *args])
        out, err = capsys.readouterr()
        return code, out, err

    limit(config_path, 65536)
    big = complaint("截图太大的投诉", body="充值没到账。" * 4000, sender="王芳 <wang@qq.example>")
    assert len(big) > 65536
    append = imap_account.dovecot.append
    append(imap_account.username, imap_account.password, big)
    append(imap_account.username, imap_account.password, complaint(message_id="<ok@qq.example>"))
    code, out, err = cli("poll", "--once")
    assert code == 0, err
    assert "created 1" in out and "quarantined 1" in out
    smtp_sink.wait_for(1)

    table = cli("quarantine", "list")[1]
    assert table.splitlines()[0].split() == [
        "ID", "编号", "QUARANTINED", "隔离时间", "FROM", "发件人", "SUBJECT", "主题",
        "REASON", "原因", "STATE", "状态",
    ]  # fmt: skip
    assert "Q000001" in table and "held 隔离中" in table
    [held] = json.loads(cli("quarantine", "list", "--json")[1])
    assert held["id"] == "Q000001" and "over [limits] max_mail_bytes (65536)" in held["reason"]

    shown = json.loads(cli("quarantine", "show", "Q000001", "--json")[1])
    assert (shown["size"], shown["sha256"]) == (len(big), hashlib.sha256(big).hexdigest())
    assert ["Subject", "截图太大的投诉"] in shown["headers"]
    assert ["From", "王芳 <wang@qq.example>"] in shown["headers"]
    human = cli("quarantine", "show", "Q000001")[1]
    assert "size 大小" in human and f"{len(big)} bytes" in human
    assert "reason 原因" in human and "  Subject: 截图太大的投诉" in human
    raw = run_cli(config_path, "quarantine", "show", "Q000001", "--raw")  # the bytes, exactly
    assert raw.returncode == 0 and raw.stdout == big

    # Released while the cause is still there: back in quarantine with the reason, as Q000002.
    code, out, _ = cli("quarantine", "release", "Q000001")
    assert code == 1 and "back in quarantine as Q000002" in out
    states = {r["id"]: r["state"] for r in json.loads(cli("quarantine", "list", "--json")[1])}
    assert states == {"Q000001": "released 已放行 -> Q000002", "Q000002": "held 隔离中"}
    code, out, err = cli("quarantine", "release", "Q000001")
    assert (code, out, err.count("\n")) == (64, "", 1)
    assert "Q000001 was released already" in err

    limit(config_path, 1_000_000)  # the cause fixed
    code, out, err = cli("quarantine", "release", "Q000002", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "created"
    acknowledgement = smtp_sink.wait_for(2)[1]
    assert acknowledgement.rcpt_tos == ["wang@qq.example"]
    assert result["ticket_id"].encode() in acknowledgement.data

    code, _, err = cli("quarantine", "release", "Q000002")
    assert code == 64 and f"as {result['ticket_id']}" in err
    desk = Desk.open(load(config_path))
    assert sorted(t.customer for t in desk.store.tickets()) == [
        "wang@qq.example",
        "zhang.wei@qq.example",
    ]
    assert len(smtp_sink.messages) == 2  # one acknowledgement each, none twice
    code, _, err = cli("quarantine", "show", "Q000404")
    assert code != 0 and err.startswith("mailticket: error: no quarantined mail Q000404")
