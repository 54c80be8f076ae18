"""Backups of the SQLite store while the daemon runs, and their restore.

SQLite's online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot of the
committed data while other connections read and write; the copy is written beside its target
as a private (0600) file, checked, switched to a single-file journal mode, synced and renamed
into place, so a backup is whole or absent. PostgreSQL is backed up with its own tools
(`pg_dump`/`pg_restore`, see the README): `PG_TOOLS` says so.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from mailticket.errors import StoreError, UsageError

PG_TOOLS = (
    "PostgreSQL is backed up with its own tools / PostgreSQL 请用 pg_dump 备份: "
    "pg_dump --format=custom --file=FILE 'postgresql://USER@HOST/DB'; restore into an empty "
    "database with pg_restore --no-owner --dbname='postgresql://USER@HOST/DB' FILE (README)"
)


@dataclass(frozen=True)
class Copied:
    source: str
    target: str
    bytes: int
    revision: str


def sqlite_file(url: str) -> Path:
    """The database file of a `sqlite:///` URL; PostgreSQL gets the pg_dump advice."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise UsageError(PG_TOOLS)
    if not parsed.database or parsed.database == ":memory:":
        raise UsageError(f"no database file in {url!r}")
    return Path(parsed.database)


def backup(database: Path, target: Path) -> Copied:
    """A consistent copy of the live `database` at `target` (refused if it exists)."""
    if not database.is_file():
        raise StoreError(f"no store at {database} to back up / 没有可备份的数据库")
    return _copy(database, target)


def restore(backup_file: Path, database: Path) -> Copied:
    """The backup made the store at `database`; refused while a store is there (move it and
    its -wal/-shm files aside first), so a restore never overwrites live data."""
    if not backup_file.is_file():
        raise StoreError(f"no backup at {backup_file} / 找不到备份文件")
    for leftover in (database, Path(f"{database}-wal")):
        if leftover.exists() and leftover.stat().st_size > 0:
            raise StoreError(
                f"a store exists at {leftover}: stop the daemon and move it (with its -wal and "
                "-shm files) aside first / 目标位置已有数据库，请先移走"
            )
    for empty in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        with contextlib.suppress(FileNotFoundError):
            empty.unlink()
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return _copy(backup_file, database)


def _copy(source: Path, target: Path) -> Copied:
    if target.exists():
        raise StoreError(f"{target} exists already: name a new file / 目标文件已存在")
    partial = target.with_name(f".{target.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        revision = _snapshot(source, partial)
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.rename(partial, target)
        _fsync_folder(target.parent)
    except (OSError, sqlite3.Error) as exc:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        detail = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise StoreError(f"cannot copy {source} to {target}: {detail}") from None
    return Copied(str(source), str(target), target.stat().st_size, revision)


def _snapshot(source: Path, partial: Path) -> str:
    """Copy every page in one step (a consistent snapshot), check it, return its revision."""
    origin = sqlite3.connect(source, timeout=30)  # reads only; WAL lets writers go on
    copy = sqlite3.connect(partial)
    try:
        origin.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"the copy fails its check: {verdict}")
        try:
            row = copy.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            raise sqlite3.DatabaseError("not a mailticket store (no schema revision)") from None
        return str(row[0]) if row else ""
    finally:
        copy.close()
        origin.close()


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
