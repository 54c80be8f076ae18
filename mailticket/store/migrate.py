"""The schema's version, kept by Alembic: a fresh database is created and stamped, an older one
upgraded, a newer one refused, all under a lock so two processes never migrate at once."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from mailticket.errors import StoreError
from mailticket.store.schema import metadata

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

_LOCK_KEY = 0x6D74_6B74  # "mtkt": the advisory lock of migrations on PostgreSQL
_VERSIONS = Path(__file__).parent / "migrations" / "versions"


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """Alembic is imported only to create or upgrade a database: its import is 12 MB of the
    daemon's memory (measured), and a store at its head needs none of it."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _revisions() -> tuple[str, ...]:
    """The revisions this mailticket has, oldest first: each migration's file name begins with
    its revision id and the history is a line ("0001_….py", "0002_….py"); a test checks that
    Alembic reads the same head from the scripts themselves."""
    return tuple(sorted(p.name.split("_", 1)[0] for p in _VERSIONS.glob("[0-9]*_*.py")))


def head() -> str:
    return _revisions()[-1]


def _current(connection: Connection) -> str | None:
    """The database's revision, as Alembic stamps it, read without Alembic."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    return str(row[0]) if row else None


def _lock(connection: Connection) -> None:
    """SQLite: the transaction began IMMEDIATE, which is the lock. PostgreSQL: an advisory
    lock held until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str
    known: bool  # this mailticket has the current revision among its scripts

    @property
    def newer(self) -> bool:
        return self.current is not None and not self.known


def state(connection: Connection) -> SchemaState:
    current = _current(connection)
    known = current is None or current in _revisions()
    return SchemaState(current=current, head=head(), known=known)


def prepare(engine: Engine, where: str) -> SchemaState:
    """Bring the database to this mailticket's schema: create and stamp a fresh one, upgrade an
    older one; refuse one that a newer mailticket has migrated (a one-line `StoreError`)."""
    with engine.connect() as connection:  # a look without the lock: the usual case
        now = state(connection)
        if now.current == now.head:
            return now
    with engine.connect() as connection, connection.begin():
        _lock(connection)
        now = state(connection)
        if now.newer:
            raise StoreError(
                f"the store {where} has schema {now.current}, newer than this mailticket "
                f"({now.head}): upgrade mailticket"
            )
        from alembic import command

        if now.current is None and not inspect(connection).has_table("tickets"):
            metadata.create_all(connection)
            command.stamp(_alembic_config(connection), "head")
        elif now.current != now.head:
            command.upgrade(_alembic_config(connection), "head")
        return state(connection)
