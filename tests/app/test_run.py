"""`mailticket run` as a real process: a configuration error ends it at start with exit 78
(systemd's unit does not restart on 78); a refused login keeps it running and is said loudly,
in the log and in `mailticket status`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import PROJECT, complaint, run_cli, write_config
from servers import ImapAccount, SmtpSink, make_certificate

pytestmark = pytest.mark.integration


def start(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailticket", "--config", str(config), *args, "run"],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def ends(daemon: subprocess.Popen[str]) -> tuple[int, str]:
    """The exit code and stderr of a daemon that must stop by itself (killed if it does not)."""
    try:
        _, err = daemon.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        _, err = daemon.communicate()
        raise AssertionError(f"`run` did not exit on its own:\n{err}") from None
    return daemon.returncode, err


def test_run_exits_78_at_start_on_an_unset_password_variable(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = write_config(tmp_path, imap_account, smtp_sink)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('password_file = "imap-password"', 'password_env = "T_UNSET_PASSWORD"'),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "T_UNSET_PASSWORD"}
    code, err = ends(start(config, env=env))
    assert code == 78, err
    assert err.strip().splitlines() == [
        "mailticket: error: environment: T_UNSET_PASSWORD (from imap.password_env): environment "
        "variable T_UNSET_PASSWORD is not set / 环境变量未设置"
    ]
    assert run_cli(config, "check").returncode == 78  # `check` finds the same
    assert not (tmp_path / "store").exists()  # nothing was started


def test_run_exits_78_at_start_on_broken_rules(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.toml").write_text('[category]\nid = "x"\nname = 5\n', encoding="utf-8")
    config = write_config(tmp_path, imap_account, smtp_sink, extra=f'\n[rules]\npath = "{rules}"\n')
    code, err = ends(start(config))
    assert code == 78, err
    assert len(err.strip().splitlines()) == 1 and "broken.toml" in err, err
    assert "Traceback" not in err


def test_an_unknown_mailticket_variable_stops_run(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = write_config(tmp_path, imap_account, smtp_sink)
    code, err = ends(start(config, env={**os.environ, "MAILTICKET_IMAP_POLL_INTERVALL": "5"}))
    assert code == 78
    assert err.startswith("mailticket: error: environment: MAILTICKET_IMAP_POLL_INTERVALL: unknown")
    assert "did you mean MAILTICKET_IMAP_POLL_INTERVAL?" in err


def test_refused_logins_at_start_are_errors_in_the_log_and_in_status(
    tmp_path: Path, imap_account: ImapAccount
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_certificate(cert, key)
    with SmtpSink(
        security="starttls", credentials=("desk", "right"), certificate=(cert, key)
    ) as sink:
        config = write_config(tmp_path, imap_account, sink)
        text = config.read_text(encoding="utf-8").replace(
            'security = "none"\n\n[storage]',
            'security = "starttls"\nusername = "desk"\npassword_file = "smtp-password"\n'
            "tls_verify = false\n\n[storage]",
        )
        config.write_text(text, encoding="utf-8")
        (tmp_path / "smtp-password").write_text("wrong", encoding="utf-8")
        (tmp_path / "imap-password").write_text("wrong", encoding="utf-8")
        daemon = start(config)
        try:
            code, report = wait_for_status(config, daemon, both_logins_refused)
            assert code == 1, report
            assert daemon.poll() is None  # still running: the login may be fixed any time
        finally:
            daemon.send_signal(signal.SIGTERM)
            code, err = ends(daemon)
    assert code == 0, err
    assert report["imap_error"]["login"] is True and report["smtp_error"]["login"] is True
    assert report["heartbeat"]["state"] == "running" and report["heartbeat"]["stale"] is False
    problems = " | ".join(report["problems"])
    assert f"IMAP login failed for {imap_account.username}" in problems
    assert "SMTP login failed for desk" in problems and "535" in problems
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert any("IMAP login failed" in e and "a person must fix the login" in e for e in errors)
    assert any("SMTP login failed" in e and "mail stays queued" in e for e in errors)
    # Stopped cleanly: the heartbeat says so, and a stopped desk needs a person too.
    stopped = run_cli(config, "status", "--json")
    assert stopped.returncode == 1
    assert json.loads(stopped.stdout)["heartbeat"]["state"] == "stopped"


def both_logins_refused(report: dict[str, Any]) -> bool:
    return all(report.get(key, {}).get("login") for key in ("imap_error", "smtp_error"))


def wait_for_status(
    config: Path, daemon: subprocess.Popen[str], ready: Callable[[dict[str, Any]], bool]
) -> tuple[int, dict[str, Any]]:
    """`status --json` (exit code, report) once it shows what the running daemon recorded."""
    deadline = time.monotonic() + 60
    while True:
        done = run_cli(config, "status", "--json")
        report: dict[str, Any] = json.loads(done.stdout) if done.stdout else {}
        if ready(report):
            return done.returncode, report
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            _, err = daemon.communicate()
            raise AssertionError(f"status never showed it: {report}\n{err}")
        time.sleep(0.2)


def test_json_log_lines_carry_the_ticket_id(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = write_config(tmp_path, imap_account, smtp_sink)
    daemon = start(config, "--log-format", "json")
    try:
        imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
        smtp_sink.wait_for(1, timeout=30)
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = ends(daemon)
    assert code == 0, err
    records = [json.loads(line) for line in err.splitlines()]  # every line is one object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert all(datetime.fromisoformat(r["time"]).utcoffset() == timedelta(0) for r in records)
    [created] = [r for r in records if r["message"].startswith("created ")]
    assert created["level"] == "INFO" and created["logger"] == "mailticket"
    assert created["message"].startswith(f"created {created['ticket_id']} from zhang.wei@")
    assert created["ticket_id"].startswith("OKW-")
    assert records[-1]["message"] == "mailticket stopped"


def test_the_human_log_format_is_the_default(tmp_path: Path) -> None:
    config = tmp_path / "mailticket.toml"
    config.write_text('[desk]\naddress = "d@okwallet.example"\n[storage]\npath = "s"\n', "utf-8")
    daemon = start(config)
    try:
        code, report = wait_for_status(config, daemon, lambda report: bool(report.get("heartbeat")))
        assert (code, report["problems"]) == (0, [])  # a healthy desk: nothing to alert on
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = ends(daemon)
    assert code == 0, err
    first, *_, last = err.splitlines()
    line = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO mailticket\.daemon: "
    assert re.fullmatch(line + "mailticket running for d@okwallet.example", first), first
    assert re.fullmatch(line + "mailticket stopped", last), last
