"""Several daemons on one store: who takes mail in, who is alive, and what happens once.

PostgreSQL: each process that sends or takes mail in keeps one connection of its own (a
*presence*), on which it holds a session advisory lock keyed from its lease token (so another
daemon can ask `pg_locks` whether the sender of a `sending` mail is still there) and, while it
leads intake, the mailbox's leader lock. A heartbeat thread keeps the session busy; the server
ends it when the process dies (the socket closes), freezes (`idle_session_timeout`) or its host
goes away (TCP keepalives), which frees both locks. Taking over bumps the leader *epoch* in
`counters` and ends the previous leader's other sessions (named by `application_name`), so a
transaction it left open is rolled back; every intake transaction re-reads the epoch
`FOR SHARE` and stops (`FencedError`) if it moved: a frozen leader that wakes cannot commit.
SQLite: one host, the leader lock is a file lock beside the database, same epoch and fence.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, create_engine, event, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from mailticket.errors import StoreError
from mailticket.store import schema
from mailticket.store.base import StoreBase

log = logging.getLogger("mailticket.store")

# The two-key advisory locks (int4, int4): namespaces, below 2**31 so pg_locks shows them as is.
HOLDER_SPACE = 0x6D74_0001  # a sending process, keyed from its lease token
LEADER_SPACE = 0x6D74_0002  # the intake of one mailbox


class FencedError(StoreError):
    """This process is no longer the intake leader: another took over (its epoch is newer)."""


@dataclass(frozen=True)
class Fence:
    """The leader epoch a write was allowed under: `name` in `counters`, `epoch` its value."""

    name: str
    epoch: int


def lock_key(text_key: str) -> int:
    """A stable 31-bit key for an advisory lock (Python's hash() changes per process)."""
    return int.from_bytes(hashlib.sha256(text_key.encode()).digest()[:4], "big") & 0x7FFF_FFFF


def leader_name(mailbox_key: str) -> str:
    """The name of a mailbox's epoch in `counters` and of its leader in `marks`."""
    return f"leader:{hashlib.sha256(mailbox_key.encode()).hexdigest()[:16]}"


def application_name(token: str) -> str:
    """How this process's sessions are named in `pg_stat_activity` (and found at take-over)."""
    return f"mailticket {token}"[:63]


class LeaderStore(StoreBase):
    """Epochs, fences, liveness of senders and once-only marks, in the store's transactions."""

    _presence: Presence | None = None

    def close(self) -> None:
        if self._presence is not None:
            self._presence.close()
            self._presence = None
        super().close()

    def check_fence(self, fence: Fence) -> None:
        """Inside a write transaction: go on only while `fence` is the current epoch. On
        PostgreSQL the row is read FOR SHARE, so a take-over (which updates it) waits for this
        transaction to end, or ends it; on SQLite BEGIN IMMEDIATE already serialises."""
        table = schema.counters
        query = select(table.c.value).where(table.c.name == fence.name)
        row = self._c.execute(query.with_for_update(read=True)).first()
        current = int(row[0]) if row else 0
        if current != fence.epoch:
            raise FencedError(
                f"no longer the intake leader (epoch {fence.epoch}, now {current}): "
                "another daemon took over"
            )

    def claim_mark(self, name: str, value: str) -> bool:
        """Set a mark to `value` unless it has that value already; True for the one caller
        (of several processes at once) that changed it. On PostgreSQL the update re-checks the
        row once a concurrent writer commits, and the insert-if-absent waits for the other
        insert: the second caller changes nothing and gets False."""
        with self.transaction():
            table = schema.marks
            other = table.c.value != value
            changed = self._c.execute(
                update(table).where(table.c.name == name, other).values(value=value)
            ).rowcount
            if changed:
                return True
            return self._inserted_if_absent(table, ["name"], name=name, value=value)

    def bump_epoch(self, name: str, leader: dict[str, Any]) -> int:
        """A new leader's epoch (one more than the last), with who holds it in `marks`."""
        with self.transaction():
            if self._c.dialect.name == "postgresql":  # never wait for ever behind a dead session
                self._c.execute(text("SET LOCAL lock_timeout = '15s'"))
            epoch = self._bump(name)
            self._upsert(schema.marks, "name", name, value=json.dumps({**leader, "epoch": epoch}))
        return epoch

    def leader_of(self, name: str) -> dict[str, Any]:
        """Who leads (or last led) intake: host, pid, token, epoch, since."""
        value = self.mark(name)
        return dict(json.loads(value)) if value else {}

    def presence(self, token: str, failover_seconds: float = 10.0) -> Presence | None:
        """This process's presence session on PostgreSQL (made once, remade when the server
        ended it); None on SQLite, where a dead sender is known by its pid."""
        if self.engine.dialect.name != "postgresql":
            return None
        if self._presence is None:
            self._presence = Presence(self.engine, token, failover_seconds)
        self._presence.ensure()
        return self._presence

    def holder_gone(self, token: str) -> bool:
        """Whether the process with this lease token has no session left (PostgreSQL)."""
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid::bigint = :space AND objid::bigint = :key AND objsubid = 2"
        )
        with self.transaction():
            held = self._c.execute(query, {"space": HOLDER_SPACE, "key": lock_key(token)})
            return int(held.scalar_one()) == 0

    def end_sessions_of(self, token: str) -> int:
        """End every session of the process with this token but ours (a leader it replaces),
        waiting up to 5 s for each, so nothing it left open can still commit."""
        query = text(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE application_name = :name AND datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        with self.transaction():
            return int(self._c.execute(query, {"name": application_name(token)}).scalar_one())


class Presence:
    """A connection of our own on PostgreSQL that holds this process's advisory locks.

    Autocommit, so the session is never idle *in a transaction*; `idle_session_timeout` and a
    heartbeat thread (a query every quarter of `failover_seconds`) make the server end it when
    the process stops running, and TCP keepalives when its host vanishes.
    """

    def __init__(self, engine: Engine, token: str, failover_seconds: float) -> None:
        self.token = token
        self.failover = max(2.0, float(failover_seconds))
        self._engine = self._dedicated(engine)
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leading: set[int] = set()
        _name_sessions(engine, token)

    def _dedicated(self, engine: Engine) -> Engine:
        """The store's URL without a pool: each session here is made and ended by us."""
        timeout_ms = int(self.failover * 1000)
        keepalive = max(1, int(self.failover / 4))
        options = (
            f"-c idle_session_timeout={timeout_ms} -c tcp_keepalives_idle={keepalive}"
            f" -c tcp_keepalives_interval={keepalive} -c tcp_keepalives_count=3"
            f" -c tcp_user_timeout={timeout_ms}"
        )
        return create_engine(
            engine.url,
            poolclass=NullPool,
            connect_args={
                "application_name": application_name(self.token),
                "options": options,
                "connect_timeout": max(1, int(self.failover)),
                "keepalives": 1,
                "keepalives_idle": keepalive,
                "keepalives_interval": keepalive,
                "keepalives_count": 3,
            },
        )

    def _connect(self) -> Connection:
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        held = conn.execute(
            text("SELECT pg_try_advisory_lock(:space, :key)"),
            {"space": HOLDER_SPACE, "key": lock_key(self.token)},
        ).scalar_one()
        if not held:  # another store opened in this process holds it: it speaks for us
            log.debug("presence lock of %s held by another session of this process", self.token)
        return conn

    def ensure(self) -> None:
        """Connect (again, after the server ended the session) and start the heartbeat."""
        with self._lock:
            if self._conn is not None and not self._lost.is_set():
                return
            self._drop()
            try:
                self._conn = self._connect()
            except SQLAlchemyError as exc:
                detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                raise StoreError(f"cannot open the presence session: {detail}") from None
            self._lost.clear()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._beat, name="presence", daemon=True)
            self._thread.start()

    def alive(self) -> bool:
        return self._conn is not None and not self._lost.is_set()

    def _beat(self) -> None:
        while not self._stop.wait(self.failover / 4):
            with self._lock:
                if self._conn is None or self._lost.is_set():
                    continue
                try:
                    self._conn.execute(text("SELECT 1"))
                except SQLAlchemyError:
                    log.warning("the presence session ended: this process leads nothing now")
                    self._lost.set()

    def try_lock(self, key: int) -> bool:
        """Take the leader lock `key` on this session; False when another session has it."""
        with self._lock:
            if self._conn is None or self._lost.is_set():
                return False
            try:
                got = self._conn.execute(
                    text("SELECT pg_try_advisory_lock(:space, :key)"),
                    {"space": LEADER_SPACE, "key": key},
                ).scalar_one()
            except SQLAlchemyError:
                self._lost.set()
                return False
            if got:
                self._leading.add(key)
            return bool(got)

    def unlock(self, key: int) -> None:
        with self._lock:
            if key in self._leading and self._conn is not None and not self._lost.is_set():
                with contextlib.suppress(SQLAlchemyError):
                    self._conn.execute(
                        text("SELECT pg_advisory_unlock(:space, :key)"),
                        {"space": LEADER_SPACE, "key": key},
                    )
            self._leading.discard(key)

    def holds(self, key: int) -> bool:
        return self.alive() and key in self._leading

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None
        self._leading.clear()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._drop()
        self._engine.dispose()


# A session of ours that stays inside a transaction this long without a word is ended by the
# server, freeing the rows it locked: a sender frozen mid-claim would otherwise hold its row
# from every other daemon. Far above any pause inside our transactions (one mail's parse and
# scoring, `[limits] mail_seconds`, 30 s by default).
IDLE_IN_TRANSACTION_SECONDS = 120


def _name_sessions(engine: Engine, token: str) -> None:
    """Name every later session of the store's engine after this process, so a daemon that
    takes over intake from it can end them; the pool is emptied so no unnamed one is reused."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        name = application_name(token)
        cursor.execute("SELECT set_config('application_name', %s, false)", (name,))
        cursor.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
            (f"{IDLE_IN_TRANSACTION_SECONDS}s",),
        )
        cursor.close()
        dbapi_connection.commit()

    engine.dispose()


class FileLock:
    """SQLite's leader lock: an exclusive `flock` on a file beside the database (one host).

    Held per process (flock conflicts between two descriptors of one process too): two desks
    opened in one process (tests, the demo) share it, and it goes when the last lets go.
    """

    _held: ClassVar[dict[Path, tuple[int, int]]] = {}  # path -> (fd, holders)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mine = False

    def try_lock(self) -> bool:
        if self._mine:
            return True
        fd, holders = self._held.get(self.path, (-1, 0))
        if not holders:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
        self._held[self.path] = (fd, holders + 1)
        self._mine = True
        return True

    def holds(self) -> bool:
        return self._mine

    def unlock(self) -> None:
        if not self._mine:
            return
        self._mine = False
        fd, holders = self._held.pop(self.path)
        if holders > 1:
            self._held[self.path] = (fd, holders - 1)
            return
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class Leadership:
    """Whether this process leads intake of one mailbox, and the fence its writes carry.

    `try_lead` takes the mailbox's lock (PostgreSQL: on the presence session; SQLite: a file
    lock), ends what is left of the previous leader's sessions and bumps the epoch; `leading`
    is False as soon as the lock's session is gone.
    """

    def __init__(
        self,
        store: LeaderStore,
        mailbox_key: str,
        *,
        host: str,
        pid: int,
        token: str,
        failover_seconds: float = 10.0,
    ) -> None:
        self.store = store
        self.name = leader_name(mailbox_key)
        digest = self.name.removeprefix("leader:")
        self.key = lock_key(f"mailticket:intake:{mailbox_key}")
        self.identity = {"host": host, "pid": pid, "token": token, "mailbox": mailbox_key}
        self.token = token
        self.failover = failover_seconds
        self.fence: Fence | None = None
        self._file: FileLock | None = None
        if store.engine.dialect.name == "sqlite":
            database = Path(store.engine.url.database or "mailticket.db")
            self._file = FileLock(database.with_name(f"{database.name}.{digest}.lock"))

    def leading(self) -> bool:
        if self.fence is None:
            return False
        if self._file is not None:
            return self._file.holds()
        presence = self.store._presence
        return presence is not None and presence.holds(self.key)

    def try_lead(self, since: str) -> Fence | None:
        """Become the leader if no one is; the new fence, or None (another leads)."""
        if self.leading():
            return self.fence
        self.fence = None
        if self._file is not None:
            if not self._file.try_lock():
                return None
        else:
            presence = self.store.presence(self.token, self.failover)
            if presence is None or not presence.try_lock(self.key):
                return None
        try:
            previous = self.store.leader_of(self.name)
            if self._file is None and previous.get("token") not in (None, self.token):
                ended = self.store.end_sessions_of(str(previous["token"]))
                if ended:
                    log.info("ended %d session(s) of the previous leader %s", ended, previous)
            epoch = self.store.bump_epoch(self.name, {**self.identity, "since": since})
        except StoreError:
            self.release()
            raise
        self.fence = Fence(self.name, epoch)
        return self.fence

    def release(self) -> None:
        self.fence = None
        if self._file is not None:
            self._file.unlock()
        elif self.store._presence is not None:
            self.store._presence.unlock(self.key)
