"""`mailticket db status|upgrade|import|backup|restore`: the store's schema revision, moving an
old store in, and SQLite backups; a table by default, `--json` for scripts."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from mailticket.app.views import emit_table
from mailticket.config import Config
from mailticket.errors import StoreError
from mailticket.store import migrate, open_store, schema
from mailticket.store.engine import default_url, open_engine


def add_parser(commands: Any) -> None:
    db = commands.add_parser("db", help="the store's database / 数据库: status, upgrade")
    db_commands = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = db_commands.add_parser(
        "status", help="engine, schema revision and row counts / 数据库状态"
    )
    status.add_argument("--json", action="store_true", help="JSON object for scripts")
    upgrade = db_commands.add_parser(
        "upgrade", help="migrate the schema to this mailticket's revision / 升级数据库结构"
    )
    upgrade.add_argument("--json", action="store_true", help="JSON object for scripts")
    importing = db_commands.add_parser(
        "import", help="copy a store of the old format into the database / 导入旧格式存储"
    )
    importing.add_argument("path", help="folder of the old store (journal, snapshots, packs)")
    importing.add_argument("--json", action="store_true", help="JSON object for scripts")
    saving = db_commands.add_parser(
        "backup", help="copy the live SQLite store to FILE (0600) / 在线备份 SQLite 数据库"
    )
    saving.add_argument("file", help="the backup to write (must not exist)")
    saving.add_argument("--json", action="store_true", help="JSON object for scripts")
    restoring = db_commands.add_parser(
        "restore", help="make the SQLite store from a backup (none may exist) / 从备份恢复"
    )
    restoring.add_argument("file", help="a file `db backup` wrote")
    restoring.add_argument("--json", action="store_true", help="JSON object for scripts")


def run(config: Config, args: argparse.Namespace) -> int:
    if args.action == "import":
        return _import(config, args)
    if args.action in ("backup", "restore"):
        return _copy(config, args)
    if args.action == "upgrade":
        store = open_store(config)  # opening migrates, under the lock
        try:
            report = _status(store.engine, store.where)
        finally:
            store.close()
    elif not config.storage.url and not (config.storage_path / "mailticket.db").exists():
        report = {"database / 数据库": default_url(config.storage_path),
                  "state / 状态": "no database yet / 尚无数据库"}  # fmt: skip
    else:
        url = config.storage.url or default_url(config.storage_path)
        engine = open_engine(
            url, password=config.password("storage"), lock_timeout=config.storage.lock_timeout
        )
        try:
            report = _status(engine, engine.url.render_as_string(hide_password=True))
        finally:
            engine.dispose()
    rows = [{"item": key, "value": "" if v is None else str(v)} for key, v in report.items()]
    if args.json:
        import json

        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        emit_table(rows, False, ["item", "value"])
    return 0


def _status(engine: Any, where: str) -> dict[str, Any]:
    """What `db status` shows; reads only (a fresh database is not created here)."""
    try:
        with engine.connect() as connection:
            state = migrate.state(connection)
            counts: dict[str, Any] = {}
            if state.current is not None:
                for table in (schema.tickets, schema.messages, schema.outbox, schema.blobs):
                    counts[f"{table.name} / 行数"] = connection.execute(
                        select(func.count()).select_from(table)
                    ).scalar_one()
    except SQLAlchemyError as exc:
        raise StoreError(f"the store {where} failed: {exc.__class__.__name__}") from None
    verdict = (
        "newer than this mailticket / 比本程序新"
        if state.newer
        else "up to date / 最新"
        if state.current == state.head
        else "needs upgrade / 需要升级"
    )
    return {
        "database / 数据库": where,
        "engine / 引擎": engine.dialect.name,
        "revision / 当前版本": state.current,
        "head / 本程序版本": state.head,
        "state / 状态": verdict,
        **counts,
    }


def _import(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from mailticket.store.importer import import_legacy

    store = open_store(config)
    try:
        counts = import_legacy(Path(args.path), store)
    finally:
        store.close()
    if args.json:
        import json

        print(json.dumps(counts, indent=2))
    else:
        rows = [{"moved / 已导入": key, "count / 数量": str(n)} for key, n in counts.items()]
        emit_table(rows, False, ["moved / 已导入", "count / 数量"])
    return 0


def _copy(config: Config, args: argparse.Namespace) -> int:
    """`db backup FILE` of the configured SQLite store, or `db restore FILE` into it."""
    from pathlib import Path

    from mailticket.store import backup

    database = backup.sqlite_file(config.storage.url or default_url(config.storage_path))
    given = Path(args.file)
    if args.action == "backup":
        done = backup.backup(database, given)
    else:
        done = backup.restore(given, database)
    report = {
        "from / 源": done.source,
        "to / 目标": done.target,
        "bytes / 字节": done.bytes,
        "revision / 版本": done.revision,
    }
    if args.json:
        import json

        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        rows = [{"item": key, "value": str(value)} for key, value in report.items()]
        emit_table(rows, False, ["item", "value"])
    return 0
