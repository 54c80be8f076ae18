"""Issue 17 item 7: everything the daemon writes to disk is its user's alone (folders 0700,
files 0600) whatever the umask it was started with, and an existing store left readable by
others is repaired at start, with a log line. On a real run: Dovecot, SMTP, `poll --once`."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PROJECT, complaint, run_cli, write_config
from servers import ImapAccount, SmtpSink

from mailticket.private import make_private

pytestmark = pytest.mark.integration

SCREENSHOT = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048


def modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]
    }


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_what_the_daemon_writes_is_private_whatever_the_umask_and_is_repaired_at_start(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, umask: int
) -> None:
    config = write_config(tmp_path, imap_account, smtp_sink)
    store = tmp_path / "store"
    append = imap_account.dovecot.append
    user, password = imap_account.username, imap_account.password
    append(user, password, complaint(attachments=(("截图.png", SCREENSHOT),)))

    done = run_cli(config, "poll", "--once", umask=umask)
    assert done.returncode == 0, done.stderr
    export = tmp_path / "report.csv"
    exported = run_cli(config, "report", "--csv", str(export), umask=umask)
    assert exported.returncode == 0, exported.stderr
    saved = tmp_path / "backups" / "mailticket-backup.db"
    saved.parent.mkdir()
    backed_up = run_cli(config, "db", "backup", str(saved), umask=umask)
    assert backed_up.returncode == 0, backed_up.stderr
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    created = modes(store)
    assert "mailticket.db" in created  # its -wal and -shm are gone once the run ends
    assert {m for p, m in created.items() if (store / p).is_dir()} == {0o700}
    assert {m for p, m in created.items() if (store / p).is_file()} == {0o600}
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert b"made private" not in done.stderr + exported.stderr

    # An older version, a restore or an admin's `cp -r` left the store readable by everyone.
    store.chmod(0o755)
    for path in store.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (store / "backup").mkdir(mode=0o755)
    (store / "backup" / "mailticket.db.bak").write_bytes((store / "mailticket.db").read_bytes())
    (store / "backup" / "mailticket.db.bak").chmod(0o644)
    append(user, password, complaint("提现失败", sender="li@qq.example", message_id="<c2@q>"))
    again = run_cli(config, "poll", "--once", umask=umask)
    assert again.returncode == 0, again.stderr
    assert b"created 1" in again.stdout
    assert b"store was readable by others: modes repaired on" in again.stderr
    repaired = modes(store)
    assert {m for p, m in repaired.items() if (store / p).is_dir()} == {0o700}
    assert {m for p, m in repaired.items() if (store / p).is_file()} == {0o600}
    assert "backup/mailticket.db.bak" in repaired

    quiet = run_cli(config, "poll", "--once", umask=umask)  # nothing left to repair
    assert quiet.returncode == 0 and b"repaired" not in quiet.stderr


def test_the_running_daemons_database_and_its_wal_are_private_under_umask_000(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = write_config(tmp_path, imap_account, smtp_sink)
    imap_account.dovecot.append(
        imap_account.username,
        imap_account.password,
        complaint(attachments=(("截图.png", SCREENSHOT),)),
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailticket", "--config", str(config), "run"],
        cwd=PROJECT,
        umask=0o000,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        smtp_sink.wait_for(1, timeout=60)  # the acknowledgement: the mail is stored
        running = modes(tmp_path / "store")
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, errors = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, errors
    assert {"mailticket.db", "mailticket.db-wal", "mailticket.db-shm"} <= running.keys()
    assert set(running.values()) == {0o700, 0o600}
    assert running["."] == 0o700


def test_repair_takes_access_away_and_never_follows_a_link_out_of_the_store(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours to change")
    outside.chmod(0o644)
    store = tmp_path / "store"
    (store / "old").mkdir(parents=True)
    store.chmod(0o755)
    (store / "old").chmod(0o750)
    (store / "old" / "raw.eml").write_bytes(b"x")
    (store / "old" / "raw.eml").chmod(0o640)
    (store / "private").write_bytes(b"y")
    (store / "private").chmod(0o600)
    (store / "link").symlink_to(outside)
    changed = make_private(store)
    assert sorted(str(p.relative_to(tmp_path)) for p, _, _ in changed) == [
        "store",
        "store/old",
        "store/old/raw.eml",
    ]
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert modes(store)["old/raw.eml"] == 0o600 and modes(store)["."] == 0o700
    assert make_private(store) == []
