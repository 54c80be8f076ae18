"""Several `mailticket run` daemons on one PostgreSQL and one mailbox, through the real servers.

Each test starts real daemon processes with a config pointing at the private PostgreSQL, a
private Dovecot mailbox and an SMTP sink, kills or freezes the one that leads intake, and
counts tickets and acknowledgements at the end (times are printed, never asserted).
"""

from __future__ import annotations

import contextlib
import email
import imaplib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import PROJECT, complaint, write_config
from postgres import Postgres
from servers import ImapAccount, SmtpSink

pytestmark = pytest.mark.integration


def ha_config(
    tmp_path: Path, account: ImapAccount, sink: SmtpSink, url: str, *, failover: int = 10
) -> Path:
    """One config for every daemon of a test: the shared PostgreSQL, mailbox and sink."""
    return write_config(
        tmp_path,
        account,
        sink,
        imap_extra="batch_size = 25",
        storage_extra=f'url = "{url}"\nfailover_seconds = {failover}',
    )


@contextlib.contextmanager
def imap(account: ImapAccount) -> Iterator[imaplib.IMAP4]:
    client = imaplib.IMAP4(account.host, account.port, timeout=30)
    try:
        client.login(account.username, account.password)
        yield client
        client.logout()
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


def fill_mailbox(account: ImapAccount, count: int) -> None:
    """`count` complaints from `count` customers, appended over one IMAP connection."""
    with imap(account) as client:
        for n in range(count):
            raw = complaint(
                subject=f"充值没到账 #{n}",
                sender=f"客户{n} <c{n}@qq.example>",
                message_id=f"<c{n}@qq.example>",
            )
            typ, data = client.append("INBOX", None, None, raw)
            assert typ == "OK", data


def inbox_count(account: ImapAccount) -> int:
    with imap(account) as client:
        _typ, data = client.select("INBOX", readonly=True)
        return int(data[0] or 0)


def sql(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return list(connection.execute(query).fetchall())  # type: ignore[arg-type]


def leader(url: str) -> dict[str, Any]:
    """Who leads intake now (pid, epoch), as the daemons record it; {} before anyone does."""
    try:
        rows = sql(url, "SELECT value FROM marks WHERE name LIKE 'leader:%'")
    except psycopg.errors.UndefinedTable:  # the first daemon is still making the schema
        return {}
    return dict(json.loads(rows[0][0])) if rows else {}


def acknowledgements(sink: SmtpSink) -> dict[str, list[str]]:
    """Each customer's Message-IDs as received by the sink, one entry per copy."""
    seen: dict[str, list[str]] = {}
    for mail in sink.messages:
        message_id = str(email.message_from_bytes(mail.data)["Message-ID"])
        seen.setdefault(mail.rcpt_tos[0], []).append(message_id)
    return seen


def until(probe: Callable[[], Any], deadline: float, what: str) -> Any:
    """Poll `probe` until it is truthy; a generous deadline, failing with what was awaited."""
    while not (found := probe()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)
    return found


@dataclass
class Daemons:
    """`mailticket run` processes of one test, each logging to its own file."""

    config: Path
    folder: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        log = self.folder / f"daemon{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "mailticket", "--config", str(self.config), "run"],
                cwd=PROJECT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def by_pid(self, pid: int) -> subprocess.Popen[bytes]:
        return next(p for p in self.started if p.pid == pid)

    def log(self, process: subprocess.Popen[bytes]) -> str:
        path = self.folder / f"daemon{self.started.index(process)}.log"
        return path.read_text(encoding="utf-8", errors="replace")

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[[Path], Daemons]]:
    made: list[Daemons] = []

    def make(config: Path) -> Daemons:
        made.append(Daemons(config, tmp_path))
        return made[-1]

    yield make
    for group in made:
        group.stop_all()


def check_counts(url: str, sink: SmtpSink, count: int, interruptions: int) -> Counter[int]:
    """Every customer has one ticket and one acknowledgement (one Message-ID, at most one more
    copy of it per interruption); returns customers by number of copies."""
    customers = sql(url, "SELECT doc::jsonb->>'customer' FROM tickets")
    assert len(customers) == count
    assert len({row[0] for row in customers}) == count  # no duplicate ticket
    seen = acknowledgements(sink)
    assert sorted(seen) == sorted(f"c{n}@qq.example" for n in range(count))
    assert all(len(set(ids)) == 1 for ids in seen.values())  # no second acknowledgement
    extra = sum(len(ids) - 1 for ids in seen.values())
    assert extra <= interruptions, f"{extra} extra copies for {interruptions} interruption(s)"
    return Counter(len(ids) for ids in seen.values())


def wait_done(url: str, account: ImapAccount, sink: SmtpSink, count: int, timeout: float) -> float:
    started = time.monotonic()
    deadline = started + timeout
    until(lambda: len(acknowledgements(sink)) >= count, deadline, f"{count} acknowledgements")
    until(lambda: inbox_count(account) == 0, deadline, "an empty inbox")
    return time.monotonic() - started


COMPLAINTS = 500


def test_two_daemons_500_complaints_the_leader_killed_midway(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    postgres: Postgres,
    daemons: Callable[[Path], Daemons],
) -> None:
    url = postgres.new_database()
    group = daemons(ha_config(tmp_path, imap_account, smtp_sink, url))
    fill_mailbox(imap_account, COMPLAINTS)
    first = group.start()
    deadline = time.monotonic() + 60
    until(lambda: leader(url), deadline, "a leader")  # the first one leads ...
    group.start()  # ... and the second stands by
    started = time.monotonic()
    until(lambda: len(smtp_sink.messages) >= COMPLAINTS // 3, started + 120, "a third answered")
    was = leader(url)
    assert was["pid"] == first.pid
    first.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert first.wait(timeout=30) == -signal.SIGKILL
    taken = until(
        lambda: (now := leader(url)).get("epoch", 0) > was["epoch"] and now,
        killed + 60,
        "a take-over",
    )
    take_over = time.monotonic() - killed
    rest = wait_done(url, imap_account, smtp_sink, COMPLAINTS, 240)
    copies = check_counts(url, smtp_sink, COMPLAINTS, interruptions=1)
    survivor = group.by_pid(taken["pid"])
    print(
        f"\n{COMPLAINTS} complaints, two daemons, leader SIGKILLed after "
        f"{killed - started:.1f}s: take-over {take_over:.2f}s (epoch {was['epoch']} -> "
        f"{taken['epoch']}), all answered {rest:.1f}s after the kill; "
        f"customers by copies {dict(copies)}"
    )
    assert survivor.poll() is None, group.log(survivor)
    assert "intake leader" in group.log(survivor)


def test_a_frozen_leader_is_replaced_and_cannot_commit_when_it_wakes(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    postgres: Postgres,
    daemons: Callable[[Path], Daemons],
) -> None:
    count = 150
    url = postgres.new_database()
    group = daemons(ha_config(tmp_path, imap_account, smtp_sink, url))
    fill_mailbox(imap_account, count)
    first = group.start()
    until(lambda: leader(url), time.monotonic() + 60, "a leader")
    group.start()
    until(lambda: len(smtp_sink.messages) >= 40, time.monotonic() + 120, "40 answered")
    was = leader(url)
    assert was["pid"] == first.pid
    first.send_signal(signal.SIGSTOP)
    frozen = time.monotonic()
    taken = until(
        lambda: (now := leader(url)).get("epoch", 0) > was["epoch"] and now,
        frozen + 60,
        "a take-over",
    )
    take_over = time.monotonic() - frozen
    wait_done(url, imap_account, smtp_sink, count, 180)
    tickets_before = sql(url, "SELECT count(*) FROM tickets")[0][0]
    first.send_signal(signal.SIGCONT)
    until(
        lambda: "standing by" in group.log(first),
        time.monotonic() + 60,
        "the woken leader to stand by",
    )
    woke = group.log(first)
    copies = check_counts(url, smtp_sink, count, interruptions=1)
    after = [line for line in woke.splitlines() if "WARNING" in line or "ERROR" in line]
    print(
        f"\nleader SIGSTOPped (failover_seconds = 10): take-over {take_over:.2f}s "
        f"(epoch {was['epoch']} -> {taken['epoch']}); customers by copies {dict(copies)}; "
        "the woken one said:\n  " + "\n  ".join(after)
    )
    assert sql(url, "SELECT count(*) FROM tickets")[0][0] == tickets_before == count
    assert leader(url)["pid"] == taken["pid"] != first.pid  # the woken one did not take back
    assert first.poll() is None, woke  # it lives on, standing by


def test_sigkill_of_the_daemon_during_200_acknowledgements_on_postgresql(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    postgres: Postgres,
    daemons: Callable[[Path], Daemons],
) -> None:
    count = 200
    url = postgres.new_database()
    group = daemons(ha_config(tmp_path, imap_account, smtp_sink, url))
    fill_mailbox(imap_account, count)
    first = group.start()
    until(lambda: len(smtp_sink.messages) >= 80, time.monotonic() + 120, "80 answered")
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    in_doubt = sql(url, "SELECT count(*) FROM outbox WHERE state = 'sending'")[0][0]
    restarted = time.monotonic()
    second = group.start()
    until(lambda: len(acknowledgements(smtp_sink)) >= count, restarted + 30, "everyone served")
    delay = time.monotonic() - restarted
    copies = check_counts(url, smtp_sink, count, interruptions=1)
    until(lambda: inbox_count(imap_account) == 0, time.monotonic() + 30, "an empty inbox")
    drains = [
        line.split("outbox: ", 1)[1]
        for line in group.log(second).splitlines()
        if "outbox: " in line
    ]
    print(
        f"\nSIGKILL of `mailticket run` after 80 of {count} acknowledgements "
        f"({in_doubt} left `sending`): restart to all served {delay:.2f}s; restarted "
        f"daemon's drains {drains}; customers by copies {dict(copies)}"
    )
    resent = sum(int(d.split(", ")[3].split()[0]) for d in drains)
    assert resent <= 1
