"""`mailticket db backup|restore`: a live SQLite store backed up (0600) and restored into a
fresh folder shows the same; on PostgreSQL the documented pg_dump/pg_restore commands do it."""

from __future__ import annotations

import json
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from postgres import Postgres

from mailticket.app.cli import main
from mailticket.model import Direction, MessageKind, Ticket, TicketMessage, TicketStatus
from mailticket.store import Store

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def write_config(folder: Path, storage: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mailticket.toml"
    path.write_text(f'[desk]\naddress = "desk@pfx.example"\n\n[storage]\n{storage}', "utf-8")
    return path


def fill(store: Store, count: int) -> None:
    with store.transaction():
        for n in range(1, count + 1):
            ticket = Ticket(
                id=f"PFX-2026-{n:06d}", status=TicketStatus.OPEN, customer="c@x.example",
                customer_name="李伟", subject=f"充值 {n}", language="zh",
                created=NOW + timedelta(hours=n), updated=NOW, sla_fired=("remind-50",),
            )  # fmt: skip
            store.add_ticket(ticket)
            store.add_message(
                TicketMessage(
                    ticket_id=ticket.id, direction=Direction.IN, kind=MessageKind.COMPLAINT,
                    message_id=f"<m{n}@x.example>", from_addr="c@x.example",
                    to=("desk@pfx.example",), subject=ticket.subject, date=ticket.created,
                    text="正文" * 500, dedupe_key=f"k{n}",
                )
            )  # fmt: skip
        store.put_blob("a" * 64, b"raw mail")


def cli(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> object:
    assert main(["--config", str(config), *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def views(config: Path, capsys: pytest.CaptureFixture[str]) -> list[object]:
    """What an admin looks at: `db status` (without its path), the list, one ticket."""
    status = cli(config, capsys, "db", "status")
    assert isinstance(status, dict)
    status.pop("database / 数据库")
    return [
        status,
        cli(config, capsys, "tickets", "list", "--limit", "500"),
        cli(config, capsys, "tickets", "show", "PFX-2026-000007"),
    ]


def test_a_live_store_backed_up_and_restored_shows_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = write_config(tmp_path / "live")
    store = Store(tmp_path / "live" / "var" / "mailticket")
    fill(store, 40)
    backup_file = tmp_path / "backups" / "mailticket-2026-11-02.db"
    backup_file.parent.mkdir()
    with pytest.raises(RuntimeError), store.transaction():  # a writer busy during the backup
        store.add_ticket(Ticket(id="PFX-2026-000999", status=TicketStatus.OPEN, customer="x@y",
                                customer_name="", subject="未提交", language="zh", created=NOW,
                                updated=NOW))  # fmt: skip
        copied = cli(live, capsys, "db", "backup", str(backup_file))
        raise RuntimeError("the writer gives up: its ticket was never committed")
    assert isinstance(copied, dict) and copied["revision / 版本"] == "0002"
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    expected = views(live, capsys)  # the live store, still open

    fresh = write_config(tmp_path / "fresh")
    cli(fresh, capsys, "db", "restore", str(backup_file))
    database = tmp_path / "fresh" / "var" / "mailticket" / "mailticket.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    assert views(fresh, capsys) == expected
    restored = Store(database.parent)
    try:
        assert restored.get_blob("a" * 64) == b"raw mail"
        assert restored.get_ticket("PFX-2026-000001").sla_fired == ("remind-50",)
        assert restored.find_ticket("PFX-2026-000999") is None
        assert restored.next_ticket_id("PFX", 2026) == "PFX-2026-000001"  # counters came too
    finally:
        restored.close()
        store.close()


def test_backup_and_restore_never_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "desk")
    Store(tmp_path / "desk" / "var" / "mailticket").close()
    existing = tmp_path / "taken.db"
    existing.write_bytes(b"something else")
    assert main(["--config", str(config), "db", "backup", str(existing)]) != 0
    assert "exists already" in capsys.readouterr().err
    assert existing.read_bytes() == b"something else"
    assert main(["--config", str(config), "db", "backup", str(tmp_path / "b.db")]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "db", "restore", str(tmp_path / "b.db")]) != 0
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "a store exists at" in error
    assert main(["--config", str(config), "db", "restore", str(existing)]) != 0
    assert capsys.readouterr().err.count("\n") == 1


def test_on_postgresql_the_documented_pg_dump_and_pg_restore_do_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres: Postgres
) -> None:
    url = postgres.new_database()
    live = write_config(tmp_path / "live", f'url = "{url}"\n')
    store = Store(tmp_path, url=url)
    try:
        fill(store, 12)
    finally:
        store.close()
    assert main(["--config", str(live), "db", "backup", str(tmp_path / "x.db")]) != 0
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pg_dump --format=custom" in error
    assert not (tmp_path / "x.db").exists()
    expected = views(live, capsys)
    # The README's commands, with libpq's form of the URL.
    dump = tmp_path / "mailticket.pgdump"
    source = url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run([str(postgres.bin_dir / "pg_dump"), "--format=custom", f"--file={dump}",
                    source], check=True, capture_output=True, timeout=120)  # fmt: skip
    target = postgres.new_database()
    subprocess.run([str(postgres.bin_dir / "pg_restore"), "--no-owner",
                    f"--dbname={target.replace('postgresql+psycopg://', 'postgresql://')}",
                    str(dump)], check=True, capture_output=True, timeout=120)  # fmt: skip
    restored = write_config(tmp_path / "restored", f'url = "{target}"\n')
    assert views(restored, capsys) == expected
