"""The store's connection and transactions, and its small tables (counters, marks, IMAP
position, blobs): what every part of the store builds on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from mailticket.errors import NotFoundError, StoreBusyError, StoreError
from mailticket.store import migrate, schema
from mailticket.store.engine import default_url, open_engine

Record = dict[str, Any]


def utc_text(value: datetime | str | None) -> str | None:
    """A timestamp as fixed-width UTC text, so SQL compares it as a string on both engines."""
    if value is None or value == "":
        return None
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_sha256(sha256: str) -> None:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise StoreError(f"not a sha256 digest: {sha256[:80]!r}")


def _translate(exc: SQLAlchemyError, where: str) -> StoreError:
    """A database error as the one-line `StoreError` callers handle (retry later)."""
    detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else repr(exc)
    if isinstance(exc, OperationalError) and "locked" in detail:
        return StoreBusyError(f"the store {where} is locked by another process: {detail}")
    if isinstance(exc, IntegrityError):
        return StoreError(f"the store {where} refused a duplicate: {detail}")
    return StoreError(f"the store {where} failed: {detail}")


class StoreBase:
    """A connection per outermost transaction; nested transactions are savepoints."""

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
    def transaction(self) -> Iterator[Any]:
        """All writes inside commit together or not at all. Nested, it is a savepoint: a
        failure undoes its own writes and leaves the outer transaction going."""
        if self._conn is not None:
            try:
                with self._conn.begin_nested():
                    yield self
            except SQLAlchemyError as exc:
                raise _translate(exc, self.where) from None
            return
        try:
            conn = self.engine.connect()
        except SQLAlchemyError as exc:
            raise _translate(exc, self.where) from None
        self._conn = conn
        try:
            with conn.begin():
                yield self
        except (SQLAlchemyError, DBAPIError) as exc:
            raise _translate(exc, self.where) from None
        finally:
            self._conn = None
            conn.close()

    def _insert_ignore(
        self, table: Table, keys: list[str], *, report: bool = False, **values: Any
    ) -> bool:
        """Insert unless a row with these key values exists (the first writer wins); with
        `report`, says whether this insert was the one (RETURNING: psycopg has no rowcount)."""
        dialect = sqlite if self._c.dialect.name == "sqlite" else postgresql
        statement = (
            dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
        )
        if not report:
            self._c.execute(statement)
            return False
        return self._c.execute(statement.returning(table.c[keys[0]])).first() is not None

    # --- counters ---------------------------------------------------------------------------

    def _bump(self, name: str) -> int:
        table = schema.counters
        row = self._c.execute(
            update(table)
            .where(table.c.name == name)
            .values(value=table.c.value + 1)
            .returning(table.c.value)
        ).first()
        if row is not None:
            return int(row[0])
        self._c.execute(insert(table).values(name=name, value=1))
        return 1

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
            row = self._c.execute(
                select(schema.blobs.c.data).where(schema.blobs.c.sha256 == sha256)
            ).first()
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
        done = self._c.execute(
            update(table).where(table.c[key] == key_value).values(**values)
        ).rowcount
        if not done:
            self._c.execute(insert(table).values({key: key_value, **values}))

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
