"""`mailticket status` against a real Dovecot: a refused IMAP login is shown and alerts."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from helpers import write_config
from servers import ImapAccount, SmtpSink

from mailticket import config as config_module
from mailticket.app.cli import main
from mailticket.app.daemon import Daemon
from mailticket.desk.context import Desk

pytestmark = pytest.mark.integration


def daemon_turn(path: Path) -> None:
    """One turn of a new daemon (connect, jobs), stopped before it would wait."""
    daemon = Daemon(Desk.open(config_module.load(path, environ={})), send=lambda batch: {})
    daemon.stopping.set()
    daemon.step()
    daemon._drop_mailbox()


def test_status_shows_a_refused_imap_login_until_it_is_fixed(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(tmp_path, imap_account, smtp_sink)
    assert main(["--config", str(path), "status"]) == 1  # no store yet: the daemon never ran
    assert "no store yet" in capsys.readouterr().out

    (tmp_path / "imap-password").write_text("wrong", encoding="utf-8")
    daemon_turn(path)
    assert main(["--config", str(path), "status", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["imap_error"]["login"] is True
    assert report["problems"] == [report["imap_error"]["error"]]
    assert f"IMAP login failed for {imap_account.username}" in report["problems"][0]
    assert report["store"] == f"sqlite:///{tmp_path / 'store' / 'mailticket.db'}"

    (tmp_path / "imap-password").write_text(imap_account.password, encoding="utf-8")
    daemon_turn(path)
    assert main(["--config", str(path), "status"]) == 0
    out = capsys.readouterr().out
    assert "needs a person / 需要处理           none / 无" in out
    leader = next(line for line in out.splitlines() if line.startswith("intake leader / 收件"))
    assert f" {socket.gethostname()} pid {os.getpid()}, epoch 2, since 20" in leader
    assert f"{imap_account.username}@{imap_account.host}/INBOX uidvalidity" in out
