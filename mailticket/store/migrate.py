"""The schema's version, kept by Alembic: a fresh database is created and stamped, an older one
upgraded, a newer one refused, all under a lock so two processes never migrate at once.

Alembic is imported only when a database is not at `HEAD`: every command opens the store, and
importing Alembic to learn that nothing needs doing cost it ~0.1-0.5 s.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from mailticket.errors import StoreError
from mailticket.store.schema import metadata

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

_LOCK_KEY = 0x6D74_6B74  # "mtkt": the advisory lock of migrations on PostgreSQL
HEAD = "0002"  # the newest revision in migrations/versions (a test checks it is Alembic's head)


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    """Read once per process: every store opened checks its revision against these."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


@functools.cache
def _revisions() -> frozenset[str]:
    return frozenset(s.revision for s in _scripts().walk_revisions())


def head() -> str:
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


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
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(connection).get_current_revision()
    known = current is None or current in _revisions()
    return SchemaState(current=current, head=head(), known=known)


def prepare(engine: Engine, where: str) -> SchemaState:
    """Bring the database to this mailticket's schema: create and stamp a fresh one, upgrade an
    older one; refuse one that a newer mailticket has migrated (a one-line `StoreError`)."""
    with engine.connect() as connection:  # a look without the lock or Alembic: the usual case
        if _stamped(connection) == HEAD:
            return SchemaState(current=HEAD, head=HEAD, known=True)
    from alembic import command

    with engine.connect() as connection, connection.begin():
        _lock(connection)
        now = state(connection)
        if now.newer:
            raise StoreError(
                f"the store {where} has schema {now.current}, newer than this mailticket "
                f"({now.head}): upgrade mailticket"
            )
        if now.current is None and not inspect(connection).has_table("tickets"):
            metadata.create_all(connection)
            command.stamp(_alembic_config(connection), "head")
        elif now.current != now.head:
            command.upgrade(_alembic_config(connection), "head")
        return state(connection)


def _stamped(connection: Connection) -> str | None:
    """The revision Alembic wrote in `alembic_version`; None without one (or the table)."""
    try:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:  # a fresh database: the slow path creates it
        return None
    return str(rows[0][0]) if len(rows) == 1 else None
