"""`mailticket db status|upgrade` on SQLite and on the private PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from postgres import Postgres

from mailticket.app.cli import main
from mailticket.store import Store


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "mailticket.toml"
    path.write_text(f'[desk]\naddress = "desk@pfx.example"\n\n[storage]\n{extra}', "utf-8")
    return path


def status(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["--config", str(config), "db", "status", "--json"]) == 0
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return report


def test_status_of_no_database_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = status(write_config(tmp_path), capsys)
    assert report["state / 状态"] == "no database yet / 尚无数据库"
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_upgrade_creates_and_stamps_then_status_counts_rows(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    extra = ""
    if engine == "postgresql":
        server: Postgres = request.getfixturevalue("postgres")
        extra = f'url = "{server.new_database()}"\n'
    config = write_config(tmp_path, extra)
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    table = capsys.readouterr().out
    assert "up to date / 最新" in table and "0002" in table
    report = status(config, capsys)
    assert (report["engine / 引擎"], report["revision / 当前版本"]) == (engine, "0002")
    assert report["tickets / 行数"] == 0


def test_a_newer_schema_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import text

    config = write_config(tmp_path)
    store = Store(tmp_path / "var/mailticket")
    with store.transaction():
        store._c.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    store.close()
    assert status(config, capsys)["state / 状态"] == "newer than this mailticket / 比本程序新"
    assert main(["--config", str(config), "db", "upgrade"]) != 0
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "newer than this mailticket" in error


def test_import_says_what_it_moved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mailticket.model import Ticket, TicketStatus
    from mailticket.store import legacy

    old = legacy.Store(tmp_path / "old")
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    old.add_ticket(
        Ticket(id="PFX-2026-000001", status=TicketStatus.OPEN, customer="a@b.example",
               customer_name="", subject="s", language="zh", created=now, updated=now)
    )  # fmt: skip
    config = write_config(tmp_path)
    assert main(["--config", str(config), "db", "import", str(tmp_path / "old"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tickets"] == 1
    assert main(["--config", str(config), "db", "import", str(tmp_path / "old")]) != 0
    assert "has tickets already" in capsys.readouterr().err
