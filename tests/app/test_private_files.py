"""Issue 17 item 7: everything the daemon writes to disk is its user's alone (folders 0700,
files 0600) whatever the umask it was started with, and an existing store left readable by
others is repaired at start, with a log line. On a real run: Dovecot, SMTP, `poll --once`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from helpers import complaint, run_cli, write_config
from servers import ImapAccount, SmtpSink

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
    assert b"readable by others: modes repaired on" in again.stderr
    repaired = modes(store)
    assert {m for p, m in repaired.items() if (store / p).is_dir()} == {0o700}
    assert {m for p, m in repaired.items() if (store / p).is_file()} == {0o600}
    assert "backup/mailticket.db.bak" in repaired

    quiet = run_cli(config, "poll", "--once", umask=umask)  # nothing left to repair
    assert quiet.returncode == 0 and b"repaired" not in quiet.stderr
