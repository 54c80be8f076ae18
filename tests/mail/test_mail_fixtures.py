"""The fixture corpus: every `tests/fixtures/mail/NAME.eml` against its expected-values twin.

A twin (`NAME.json`) holds what matters for a ticket: sender, subject, language, the new text,
the quoted history, attachments, defects and the threading decision against a store holding one
ticket (OKW-2026-000001, with our acknowledgement's Message-ID). Text fields are compared
exactly (`text`, `quoted`) or by `_startswith` / `_contains` where exact is impractical.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailticket.app.cli import main
from mailticket.app.views import mail_report, ticket_detail
from mailticket.config import load as load_config
from mailticket.desk.context import Desk
from mailticket.intake.record import take_in
from mailticket.mail.parse import parse
from mailticket.model import Direction, MessageKind, Ticket, TicketMessage, TicketStatus
from mailticket.store import Store

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mail"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.eml"))
ACK_ID = "<OKW-2026-000001.ack.5c1d9e0a7b3f@okwallet.example>"
REPORT_KEYS = {"from", "subject", "language", "text", "quoted", "attachments", "defects", "thread"}


def _expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def _assert_text(actual: str, expected: dict[str, Any], key: str) -> None:
    if key in expected:
        assert actual == expected[key]
    if f"{key}_startswith" in expected:
        assert actual.startswith(expected[f"{key}_startswith"]), actual[:300]
    for part in expected.get(f"{key}_contains", []):
        assert part in actual


def _assert_report(report: dict[str, Any], expected: dict[str, Any]) -> None:
    for key in ("from", "from_name", "subject", "language"):
        assert report[key] == expected[key], key
    assert report["from_valid"] == expected.get("from_valid", bool(expected["from"]))
    _assert_text(report["text"], expected, "text")
    _assert_text(report["quoted"], expected, "quoted")
    assert len(report["attachments"]) == len(expected["attachments"])
    for got, want in zip(report["attachments"], expected["attachments"], strict=True):
        assert {k: got[k] for k in want} == want
    if "defects" in expected:
        assert report["defects"] == expected["defects"]
    for defect in expected.get("defects_contain", []):
        assert defect in report["defects"]


def test_the_corpus_covers_every_client_and_charset() -> None:
    assert len(NAMES) >= 30
    assert all((FIXTURES / f"{name}.json").is_file() for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_parses_to_its_twin(name: str) -> None:
    mail = parse((FIXTURES / f"{name}.eml").read_bytes())
    report = mail_report(mail, thread="")
    _assert_report(report, _expected(name))


@pytest.fixture(scope="module")
def desk_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose store holds ticket OKW-2026-000001 and the acknowledgement we sent."""
    root = tmp_path_factory.mktemp("check")
    config = root / "mailticket.toml"
    config.write_text(
        '[desk]\naddress = "complaints@okwallet.example"\nticket_prefix = "OKW"\n'
        '[storage]\npath = "store"\n',
        encoding="utf-8",
    )
    when = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    store = Store(root / "store")
    ticket = "OKW-2026-000001"
    store.add_ticket(
        Ticket(
            id=ticket,
            status=TicketStatus.OPEN,
            customer="wangfang.sh@gmail.com",
            customer_name="王芳",
            subject="充值未到账",
            language="zh",
            created=when,
            updated=when,
        )
    )
    store.add_message(
        TicketMessage(
            ticket_id=ticket,
            direction=Direction.OUT,
            kind=MessageKind.ACKNOWLEDGEMENT,
            message_id=ACK_ID,
            from_addr="complaints@okwallet.example",
            to=("wangfang.sh@gmail.com",),
            subject=f"[{ticket}] Re: 充值未到账",
            date=when,
        )
    )
    store.close()  # its last connection closed: the WAL is folded into the file, as at rest
    return config


@pytest.mark.parametrize("name", NAMES)
def test_check_explains_every_fixture_without_storing(
    name: str, desk_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _store_files(desk_config.parent / "store")
    mail = str(FIXTURES / f"{name}.eml")
    assert main(["--config", str(desk_config), "check", mail, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report.keys() >= REPORT_KEYS
    expected = _expected(name)
    _assert_report(report, expected)
    assert report["thread"] == expected["thread"]
    assert _store_files(desk_config.parent / "store") == before


def _store_files(root: Path) -> dict[str, bytes]:
    """Every file of a store but its lock file, which opening a store may create."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix != ".lock"
    }


def test_check_without_a_config_cannot_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILTICKET_CONFIG", raising=False)
    assert main(["check", str(FIXTURES / "gmail_zh_reply.eml")]) == 0
    out = capsys.readouterr().out
    assert "thread      unknown (no config)" in out
    assert "  | 充值单号：TX20261124000917" in out
    assert not (tmp_path / "var").exists()


def test_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_mail = tmp_path / "photo.eml"
    not_mail.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    assert main(["check", str(not_mail), "--json"]) == 65
    assert main(["check", str(tmp_path / "missing.eml")]) == 66
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2
    assert "not a mail message" in errors[0]
    assert "cannot read" in errors[1]


def test_a_ticket_keeps_the_new_text_and_the_quoted_history(tmp_path: Path) -> None:
    config_file = tmp_path / "mailticket.toml"
    config_file.write_text(
        '[desk]\naddress = "complaints@okwallet.example"\nticket_prefix = "OKW"\n', encoding="utf-8"
    )
    desk = Desk.open(load_config(config_file))
    result = take_in(desk, (FIXTURES / "iphone_zh_reply.eml").read_bytes(), source="test")
    [message] = ticket_detail(desk, result.ticket_id)["messages"][:1]
    expected = _expected("iphone_zh_reply")
    assert message["text"] == expected["text"]
    assert message["quoted"].startswith(expected["quoted_startswith"])
    assert [a["sniffed_type"] for a in message["attachments"]] == ["image/jpeg"]
