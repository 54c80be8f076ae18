"""`mailticket status` against a real Dovecot: a refused IMAP login is shown and alerts."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import complaint, write_config
from servers import ImapAccount, SmtpSink, make_certificate

from mailticket import config as config_module
from mailticket.app import health, status
from mailticket.app.cli import main
from mailticket.app.daemon import Daemon
from mailticket.desk.context import Desk
from mailticket.intake.record import take_in
from mailticket.model import Ticket, TicketStatus
from mailticket.outbound.outbox import smtp_sender, smtp_settings
from mailticket.outbound.smtp import try_login
from mailticket.store import Store, migrate

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


def test_status_counts_overdue_tickets_and_flags_a_stale_or_stopped_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mailticket.toml"
    path.write_text('[desk]\naddress = "d@okwallet.example"\n[storage]\npath = "s"\n', "utf-8")
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    desk = Desk.open(config_module.load(path, environ={}), clock=lambda: now)
    shanghai = timezone(timedelta(hours=8))
    for number, (state, due) in enumerate(
        [
            (TicketStatus.OPEN, now - timedelta(minutes=1)),  # overdue
            (TicketStatus.PENDING, (now - timedelta(days=2)).astimezone(shanghai)),  # overdue
            (TicketStatus.OPEN, (now + timedelta(minutes=30)).astimezone(shanghai)),  # in time
            (TicketStatus.RESOLVED, now - timedelta(days=3)),  # done: not overdue
            (TicketStatus.OPEN, None),
        ],
        start=1,
    ):
        desk.store.add_ticket(
            Ticket(id=f"TKT-2026-{number:06}", status=state, customer="c@x.example",
                   customer_name="", subject="s", language="zh", created=now, updated=now,
                   due=due)
        )  # fmt: skip
    daemon = Daemon(desk, send=lambda batch, hooks: {})
    daemon.beat()
    report = status.gather(desk.config, lambda: now + timedelta(seconds=40))
    assert report["sla_overdue"] == 2
    assert (report["heartbeat"]["age_seconds"], report["heartbeat"]["stale"]) == (40, False)
    head = migrate.head()
    assert report["schema"] == {"revision": head, "head": head, "newer": False}
    assert report["problems"] == []

    late = status.gather(desk.config, lambda: now + timedelta(seconds=health.STALE_SECONDS + 1))
    [problem] = late["problems"]
    assert (
        f"heartbeat is {health.STALE_SECONDS + 1} s old" in problem and "stuck or gone" in problem
    )
    assert status.run(desk.config, False, lambda: now + timedelta(hours=1)) == 1
    table = capsys.readouterr().out
    assert "SLA overdue / 超期工单" in table and "3600 s ago (STALE / 已过期)" in table

    daemon.beat("stopped")
    assert status.gather(desk.config, lambda: now)["problems"] == [
        f"the daemon stopped at {now.isoformat()} / 守护进程已停止"
    ]
    desk.store.close()


def test_status_reports_a_newer_schema_instead_of_failing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import text

    path = tmp_path / "mailticket.toml"
    path.write_text('[desk]\naddress = "d@okwallet.example"\n[storage]\npath = "s"\n', "utf-8")
    store = Store(tmp_path / "s")
    with store.transaction():
        store._c.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    store.close()
    assert main(["--config", str(path), "status", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    head = migrate.head()
    assert report["schema"] == {"revision": "9999_future", "head": head, "newer": True}
    assert report["problems"] == [
        f"the store has schema 9999_future, newer than this mailticket's {head}: upgrade "
        "mailticket / 数据库版本比本程序新"
    ]


def test_the_smtp_login_tried_at_start_shows_until_mail_goes_out(tmp_path: Path) -> None:
    """A refused login at start is a problem in `status` at once, not first when a reply is
    due; the first mail that goes out clears it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_certificate(cert, key)
    with SmtpSink(
        security="starttls", credentials=("desk", "right"), certificate=(cert, key)
    ) as sink:
        path = tmp_path / "mailticket.toml"
        path.write_text(
            '[desk]\naddress = "complaints@okwallet.example"\n[storage]\npath = "s"\n'
            f'[smtp]\nhost = "{sink.host}"\nport = {sink.port}\nusername = "desk"\n'
            f'password_file = "pw"\ntls_ca_file = "{cert}"\n[rules]\npath = ""\n',
            "utf-8",
        )
        (tmp_path / "pw").write_text("wrong", encoding="utf-8")
        config = config_module.load(path, environ={})
        desk = Desk.open(config)
        assert status.gather(config)["smtp_error"] == {}  # never tried
        daemon = Daemon(
            desk, send=smtp_sender(config), smtp_check=lambda: try_login(smtp_settings(config))
        )
        daemon.check_smtp()
        report = status.gather(config)
        assert report["smtp_error"]["login"] is True
        assert (
            "SMTP login failed for desk" in report["problems"][0] and "535" in report["problems"][0]
        )

        take_in(desk, complaint(), source="test")  # an acknowledgement is owed
        (tmp_path / "pw").write_text("right", encoding="utf-8")
        daemon.send = smtp_sender(config_module.load(path, environ={}))
        daemon.drain()
        assert len(sink.wait_for(1)) == 1
        report = status.gather(config)
        assert (report["smtp_error"]["error"], report["problems"]) == ("", [])
        assert health.text("smtp_error", report["smtp_error"]).startswith("ok at ")
        desk.store.close()
