"""One intake leader per mailbox, fenced by an epoch; senders' liveness; once-only marks.

On the real engines: SQLite (a file lock) and the private PostgreSQL (advisory locks on a
presence session the server ends when its process dies or freezes).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from mailticket.errors import StoreError
from mailticket.store import Store
from mailticket.store.leader import FencedError, Leadership

MAILBOX = "desk@imap.example/INBOX"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("postgres").new_database() if request.param != "sqlite" else ""


@pytest.fixture
def stores(tmp_path: Path, url: str) -> Iterator[list[Store]]:
    """Two stores on one database, as two daemons would open it."""
    opened = [Store(tmp_path / "store", url=url, lock_timeout=10) for _ in range(2)]
    yield opened
    for store in opened:
        store.close()


def leadership(store: Store, token: str, failover: float = 10.0) -> Leadership:
    return Leadership(store, MAILBOX, host="h", pid=1, token=token, failover_seconds=failover)


def end_presence(store: Store) -> None:
    """What the server does to a frozen leader's presence session after `failover_seconds`
    (and the kernel to a killed one's): end it, which frees its locks."""
    presence = store._presence
    assert presence is not None and presence._conn is not None
    pid = presence._conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with psycopg.connect(str(store.engine.url).replace("+psycopg", ""), autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def test_one_leader_at_a_time_and_a_replaced_one_cannot_commit(postgres: object) -> None:
    url = postgres.new_database()  # type: ignore[attr-defined]
    first, second = Store(Path("/unused"), url=url), Store(Path("/unused"), url=url)
    try:
        a, b = leadership(first, "tokena"), leadership(second, "tokenb")
        fence_a = a.try_lead("t0")
        assert fence_a is not None and a.leading()
        assert b.try_lead("t0") is None  # a leads
        # a is inside an intake write when it stops (frozen, its transaction left open)
        writing = first.transaction()
        writing.__enter__()
        first.check_fence(fence_a)
        first.next_serial("intake-probe")
        end_presence(first)
        fence_b = _until(lambda: b.try_lead("t1"))
        assert fence_b.epoch == fence_a.epoch + 1
        assert second.leader_of(b.name)["token"] == "tokenb"
        # b ended a's sessions when it took over: a's open write cannot commit
        with pytest.raises(StoreError):
            writing.__exit__(None, None, None)
        assert first.next_serial("intake-probe") == 1  # the probe of a's write is gone
        assert _until(lambda: not a.leading() or None)
        with pytest.raises(FencedError, match="no longer the intake leader"), first.transaction():
            first.check_fence(fence_a)  # a woke up and tries again: refused
        with second.transaction():
            second.check_fence(fence_b)
    finally:
        first.close()
        second.close()


HOLD = """
import sys, time
from pathlib import Path
from mailticket.store import Store
from mailticket.store.leader import Leadership
store = Store(Path(sys.argv[1]))
fence = Leadership(store, sys.argv[2], host="h", pid=2, token="child").try_lead("t0")
print(fence.epoch if fence else "none", flush=True)
time.sleep(600)
"""


def test_on_sqlite_the_leader_is_the_process_holding_the_file_lock(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "store"), MAILBOX],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "1"
        mine = leadership(store, "parent")
        assert mine.try_lead("t1") is None  # the child leads
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    fence = mine.try_lead("t2")  # the lock went with the killed process
    assert fence is not None and fence.epoch == 2
    with pytest.raises(FencedError), store.transaction():
        store.check_fence(replace(fence, epoch=1))
    mine.release()
    store.close()


def test_the_server_ends_a_frozen_presence_and_frees_its_lock(postgres: object) -> None:
    url = postgres.new_database()  # type: ignore[attr-defined]
    frozen, watcher = Store(Path("/nonexistent"), url=url), Store(Path("/nonexistent"), url=url)
    try:
        presence = frozen.presence("frozen", failover_seconds=2)
        assert presence is not None
        with frozen.transaction():  # the store's own sessions are named and time-limited too
            shown = frozen._c.execute(
                text("SELECT current_setting('application_name'),"
                     " current_setting('idle_in_transaction_session_timeout')")
            ).one()  # fmt: skip
        assert tuple(shown) == ("mailticket frozen", "2min")
        assert not watcher.holder_gone("frozen")
        assert watcher.holder_gone("never-seen")
        presence._stop.set()  # the heartbeat stops as it would under SIGSTOP
        started = time.monotonic()
        assert _until(lambda: watcher.holder_gone("frozen") or None, 30)
        print(f"frozen presence ended by the server after {time.monotonic() - started:.1f}s")
        assert not presence.alive() or _session_is_gone(presence)
    finally:
        frozen.close()
        watcher.close()


def _session_is_gone(presence: object) -> bool:
    conn = presence._conn  # type: ignore[attr-defined]
    try:
        conn.execute(text("SELECT 1"))
    except Exception:
        return True
    return False


def test_a_mark_is_claimed_by_one_of_two_stores(stores: list[Store]) -> None:
    first, second = stores
    assert first.claim_mark("digest", "2026-12-04")
    assert not second.claim_mark("digest", "2026-12-04")
    assert not first.claim_mark("digest", "2026-12-04")
    assert second.claim_mark("digest", "2026-12-05")
    assert first.mark("digest") == "2026-12-05"


def _until(probe, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll `probe` until it returns something (not a timed assertion: a generous deadline)."""
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.1)
    return found
