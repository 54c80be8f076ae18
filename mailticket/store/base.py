"""The store's connection and transactions, and its small tables (counters, marks, IMAP
position, blobs): what every part of the store builds on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from mailticket.errors import NotFoundError, StoreBusyError, StoreError
from mailticket.store import migrate, schema
from mailticket.store.engine import default_url, open_engine

Record = dict[str, Any]

# Insert-if-absent statements by (dialect, table, key columns, RETURNING): the dialect's own.
_IGNORING: dict[tuple[str, str, tuple[str, ...], bool], Executable] = {}
_COUNTING: dict[str, Executable] = {}  # the counters' upsert, by dialect


def utc_text(value: datetime | str | None) -> str | None:
    """A timestamp as fixed-width UTC text, so SQL compares it as a string on both engines."""
    if value is None or value == "":
        return None
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_sha256(sha256: str) -> None:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise StoreError(f"not a sha256 digest: {sha256[:80]!r}")


# Statements are built once, with bound parameters, and executed with values: building one per
# call cost ~40 us of SQLAlchemy's expression and cache-key work (measured: 57 us a SELECT
# built each time, 15 us prebuilt), and a mail runs about twenty.
_BLOB = select(schema.blobs.c.data).where(schema.blobs.c.sha256 == bindparam("b_sha"))


def _translate(exc: SQLAlchemyError, where: str) -> StoreError:
    """A database error as the one-line `StoreError` callers handle (retry later)."""
    detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else repr(exc)
    if isinstance(exc, OperationalError) and "locked" in detail:
        return StoreBusyError(f"the store {where} is locked by another process: {detail}")
    if isinstance(exc, IntegrityError):
        return StoreError(f"the store {where} refused a duplicate: {detail}")
    return StoreError(f"the store {where} failed: {detail}")


def _driver_sql(conn: Connection, statement: str) -> None:
    """A statement outside any transaction (SQLAlchemy would begin one for its own call)."""
    conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]


class StoreBase:
    """A connection per outermost transaction; nested ones join it, `savepoint()` nests."""

    def __init__(
        self,
        root: Path,
        *,
        lock_timeout: float = 30.0,
        url: str = "",
        password: str = "",
    ) -> None:
        self.root = root
        self.url = url or default_url(root)
        self.lock_timeout = lock_timeout
        self.engine: Engine = open_engine(self.url, password=password, lock_timeout=lock_timeout)
        self._conn: Connection | None = None
        self._prepare()

    @property
    def where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def _prepare(self) -> None:
        try:
            migrate.prepare(self.engine, self.where)
        except SQLAlchemyError as exc:
            raise _translate(exc, self.where) from None

    def close(self) -> None:
        self.engine.dispose()

    @property
    def _c(self) -> Connection:
        assert self._conn is not None, "store access happens inside a transaction"
        return self._conn

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Any]:
        """All writes inside commit together or not at all. Nested, it joins the outer
        transaction: a savepoint costs two statements, measured as 28 of a mail's 48, so only
        `savepoint()` makes one where a failure must undo just its own part.

        `durable=False` commits without waiting for the disk (SQLite `synchronous=NORMAL`,
        PostgreSQL `synchronous_commit=off`): the write survives the process being killed,
        but not the machine losing power before the next durable commit. The outbox marks
        each mail's lease this way, twice a mail; a lost mark only re-sends that mail with its
        own Message-ID."""
        if self._conn is not None:
            yield self
            return
        try:
            conn = self.engine.connect()
        except SQLAlchemyError as exc:
            raise _translate(exc, self.where) from None
        self._conn = conn
        sqlite_file = conn.dialect.name == "sqlite"
        try:
            if not durable and sqlite_file:
                _driver_sql(conn, "PRAGMA synchronous = NORMAL")
            with conn.begin():
                if not durable and not sqlite_file:
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                yield self
        except (SQLAlchemyError, DBAPIError) as exc:
            raise _translate(exc, self.where) from None
        finally:
            self._conn = None
            try:
                if not durable and sqlite_file:
                    _driver_sql(conn, "PRAGMA synchronous = FULL")
            finally:
                conn.close()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[Any]:
        """A transaction whose failure, nested in another, undoes only its own writes and
        leaves the outer one going (one mail of an intake batch)."""
        if self._conn is None:
            with self.transaction():
                yield self
            return
        try:
            with self._conn.begin_nested():
                yield self
        except SQLAlchemyError as exc:
            raise _translate(exc, self.where) from None

    def _insert_ignore(self, table: Table, keys: list[str], **values: Any) -> None:
        """Insert unless a row with these key values exists (the first writer wins)."""
        self._c.execute(self._ignoring(table, tuple(keys)), values)

    def _inserted_if_absent(self, table: Table, keys: list[str], **values: Any) -> bool:
        """`_insert_ignore` that says whether this call inserted the row (RETURNING, not
        rowcount: psycopg's rowcount counts a skipped row as one)."""
        return self._c.execute(self._ignoring(table, tuple(keys), True), values).first() is not None

    def _ignoring(self, table: Table, keys: tuple[str, ...], returning: bool = False) -> Executable:
        name = self._c.dialect.name
        statement = _IGNORING.get((name, table.name, keys, returning))
        if statement is None:
            dialect = sqlite if name == "sqlite" else postgresql
            ignoring = dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys))
            statement = ignoring.returning(*(table.c[k] for k in keys)) if returning else ignoring
            _IGNORING[(name, table.name, keys, returning)] = statement
        return statement

    # --- counters ---------------------------------------------------------------------------

    def _bump(self, name: str) -> int:
        """The counter's next value, in one upsert: two daemons making the year's first ticket
        at once on PostgreSQL both found no row to update, and one failed on the insert."""
        name_of_dialect = self._c.dialect.name
        statement = _COUNTING.get(name_of_dialect)
        if statement is None:
            table = schema.counters
            dialect = sqlite if name_of_dialect == "sqlite" else postgresql
            statement = (
                dialect.insert(table)
                .on_conflict_do_update(index_elements=["name"], set_={"value": table.c.value + 1})
                .returning(table.c.value)
            )
            _COUNTING[name_of_dialect] = statement
        return int(self._c.execute(statement, {"name": name, "value": 1}).scalar_one())

    def next_ticket_id(self, prefix: str, year: int) -> str:
        """`OKW-2026-000123`: readable on the phone, numbered per year, never reused."""
        with self.transaction():
            number = self._bump(f"ticket:{year}")
        return f"{prefix}-{year}-{number:06d}"

    def next_serial(self, name: str) -> int:
        with self.transaction():
            return self._bump(f"serial:{name}")

    # --- blobs ------------------------------------------------------------------------------

    def put_blob(self, sha256: str, data: bytes) -> str:
        """Keep bytes by their hash in the database; returns the place to pass to `get_blob`
        (the hash itself: a row is found by its key)."""
        check_sha256(sha256)
        with self.transaction():
            self._insert_ignore(schema.blobs, ["sha256"], sha256=sha256, data=data)
        return sha256

    def get_blob(self, sha256: str, place: str = "") -> bytes:
        check_sha256(sha256)
        with self.transaction():
            row = self._c.execute(_BLOB, {"b_sha": sha256}).first()
        if row is None:
            raise NotFoundError(f"no blob {sha256}")
        return bytes(row[0])

    # --- marks: small facts that must survive restarts (e.g. the day a digest went out) ----

    def mark(self, name: str) -> str:
        with self.transaction():
            row = self._c.execute(
                select(schema.marks.c.value).where(schema.marks.c.name == name)
            ).first()
        return str(row[0]) if row else ""

    def set_mark(self, name: str, value: str) -> None:
        with self.transaction():
            self._upsert(schema.marks, "name", name, value=value)

    def _upsert(self, table: Table, key: str, key_value: str, **values: Any) -> None:
        """Insert or replace the row with this key, in one statement (no race between two
        processes that both find it missing)."""
        dialect = sqlite if self._c.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(table).values({key: key_value, **values})
        self._c.execute(
            statement.on_conflict_do_update(
                index_elements=[key], set_={name: statement.excluded[name] for name in values}
            )
        )

    # --- IMAP position ----------------------------------------------------------------------

    def imap_position(self, key: str) -> dict[str, Any]:
        """Where intake stands in one IMAP folder: UIDVALIDITY, last UID, moves still owed."""
        with self.transaction():
            row = self._c.execute(
                select(schema.imap_positions.c.doc).where(schema.imap_positions.c.key == key)
            ).first()
        return dict(row[0]) if row else {}

    def save_imap_position(self, key: str, position: dict[str, Any]) -> None:
        with self.transaction():
            self._upsert(schema.imap_positions, "key", key, doc=position)
