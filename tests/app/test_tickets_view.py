"""`mailticket tickets list|show` on both engines: filters and pages in SQL, newest first, a
table by default and `--json` for scripts, one-line errors."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailticket.app.cli import main
from mailticket.model import Direction, MessageKind, Ticket, TicketMessage, TicketStatus
from mailticket.store import Store

START = datetime(2026, 11, 1, 16, 30, tzinfo=UTC)  # 00:30 on Nov 2 in Shanghai


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A desk with 30 tickets a day apart: every third pending, every fifth unassigned."""
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
    path = tmp_path / "mailticket.toml"
    storage = f'url = "{url}"\n' if url else ""
    path.write_text(f'[desk]\naddress = "desk@pfx.example"\n\n[storage]\n{storage}', "utf-8")
    store = Store(tmp_path / "var" / "mailticket", url=url)
    try:
        with store.transaction():
            for n in range(30):
                created = START + timedelta(days=n)
                ticket = Ticket(
                    id=f"PFX-2026-{n + 1:06d}", status=TicketStatus.OPEN, customer="c@x.example",
                    customer_name="", subject=f"充值 {n + 1}", language="zh", created=created,
                    updated=created, category=("recharge", "refund")[n % 2],
                    assignee="" if n % 5 == 0 else "Wang@PFX.example",
                )  # fmt: skip
                if n % 3 == 0:
                    ticket = replace(ticket, status=TicketStatus.PENDING)
                store.add_ticket(ticket)
                store.add_message(
                    TicketMessage(
                        ticket_id=ticket.id, direction=Direction.IN, kind=MessageKind.COMPLAINT,
                        message_id=f"<m{n}@x.example>", from_addr="c@x.example",
                        to=("desk@pfx.example",), subject=ticket.subject, date=created,
                        text=f"第 {n + 1} 封投诉",
                    )
                )  # fmt: skip
    finally:
        store.close()
    return path


def listing(config: Path, capsys: pytest.CaptureFixture[str], *options: str) -> list[str]:
    assert main(["--config", str(config), "tickets", "list", "--json", *options]) == 0
    return [row["id"] for row in json.loads(capsys.readouterr().out)]


def numbers(*values: int) -> list[str]:
    return [f"PFX-2026-{n:06d}" for n in values]


def test_newest_first_in_pages(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(listing(config, capsys)) == 30
    first = listing(config, capsys, "--limit", "4")
    assert first == numbers(30, 29, 28, 27)
    assert listing(config, capsys, "--limit", "4", "--offset", "4") == numbers(26, 25, 24, 23)
    assert listing(config, capsys, "--limit", "4", "--before", first[-1]) == numbers(26, 25, 24, 23)


def test_filters(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pending = listing(config, capsys, "--status", "pending", "--category", "refund")
    assert pending == numbers(28, 22, 16, 10, 4)  # n % 3 == 0 and n odd, as numbers n + 1
    assert listing(config, capsys, "--assignee", "-") == numbers(26, 21, 16, 11, 6, 1)
    mine = listing(config, capsys, "--assignee", "wang@pfx.example", "--limit", "2")
    assert mine == numbers(30, 29)  # any case of the address
    # Nov 29 in the desk's zone (Asia/Shanghai) begins with ticket 28 (Nov 29, 00:30 there).
    assert listing(config, capsys, "--since", "2026-11-29") == numbers(30, 29, 28)


def test_table_says_how_to_get_the_next_page(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "tickets", "list", "--limit", "3"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == [
        "ID", "STATUS", "CREATED", "CATEGORY", "ASSIGNEE", "CUSTOMER", "SUBJECT"
    ]  # fmt: skip
    assert "充值 30" in table and "充值 27" not in table
    assert table.rstrip().endswith("--before PFX-2026-000028)")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--limit", "0"], "--limit must be 1..10000"),
        (["--offset", "-1"], "--offset must be 0 or more"),
        (["--since", "yesterday"], "expected YYYY-MM-DD"),
        (["--before", "PFX-2026-999999"], "no ticket PFX-2026-999999"),
    ],
)
def test_bad_options_are_one_line(
    config: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert main(["--config", str(config), "tickets", "list", *options]) != 0
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


def test_show_reads_one_ticket_and_its_messages(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "tickets", "show", "PFX-2026-000007", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["id"], shown["category"]) == ("PFX-2026-000007", "recharge")
    assert [m["text"] for m in shown["messages"]] == ["第 7 封投诉"]
    assert main(["--config", str(config), "tickets", "show", "PFX-2026-000007"]) == 0
    assert "| 第 7 封投诉" in capsys.readouterr().out
