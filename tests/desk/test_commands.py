"""Agents' command lines: read exactly, never guessed."""

from __future__ import annotations

import pytest

from mailticket.desk.commands import Command, Problem, parse_commands

UNKNOWN = "unknown command (known: status, assign, priority, category, note, resolve, attachments)"


def test_commands_at_the_top_then_the_text() -> None:
    parsed = parse_commands(
        "#assign me\n#priority HIGH\n\n#status pending\n"
        "您好，我们正在核实这笔充值。\n#resolve is text here"
    )
    assert parsed.commands == (
        Command("assign", "me", "#assign me"),
        Command("priority", "high", "#priority HIGH"),
        Command("status", "pending", "#status pending"),
    )
    assert parsed.problems == ()
    assert parsed.text == "您好，我们正在核实这笔充值。\n#resolve is text here"


def test_no_commands_is_all_text() -> None:
    parsed = parse_commands("您好，\n\n已为您处理。")
    assert (parsed.commands, parsed.problems, parsed.text) == ((), (), "您好，\n\n已为您处理。")


def test_leading_blank_lines_full_width_hash_and_crlf() -> None:
    one_line = parse_commands("#note 已电话联系客户。\n以后再说。")
    assert one_line.commands == (Command("note", "已电话联系客户。", "#note 已电话联系客户。"),)
    assert (one_line.problems, one_line.text) == ((), "已电话联系客户。\n以后再说。")
    parsed = parse_commands("\r\n  ＃note\r\n查过银行流水，确已扣款。\r\n")
    assert parsed.commands == (Command("note", "", "＃note"),)
    assert parsed.text == "查过银行流水，确已扣款。"


def test_assign_to_an_address() -> None:
    parsed = parse_commands("#assign <Bob@OKWallet.example>")
    assert parsed.commands == (Command("assign", "Bob@OKWallet.example", parsed.commands[0].line),)


def test_category_keeps_its_id() -> None:
    parsed = parse_commands("#category withdrawal_delayed")
    assert parsed.get("category") == Command(
        "category", "withdrawal_delayed", "#category withdrawal_delayed"
    )


def test_resolve_takes_the_text_below_as_the_resolution() -> None:
    parsed = parse_commands("#resolve\n款项已于今日退回您的银行卡。")
    assert parsed.get("resolve") is not None
    assert parsed.problems == ()
    assert parsed.text == "款项已于今日退回您的银行卡。"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("#stauts closed", UNKNOWN),
        ("#status done", "expected #status open|pending|resolved|closed"),
        ("#status", "expected #status open|pending|resolved|closed"),
        ("#priority asap", "expected #priority low|normal|high|urgent"),
        ("#assign", "expected #assign me | #assign name@example.com"),
        ("#assign bob", "expected #assign me | #assign name@example.com"),
        ("#assign bob@x.example carol@x.example", "expected #assign me | #assign name@example.com"),
        ("#category", "expected #category <category id>"),
        ("#category top up", "expected #category <category id>"),
        ("#resolve now", "#resolve takes nothing after it; write the text below"),
        ("#", UNKNOWN),
        ("# status open", UNKNOWN),
    ],
)
def test_a_malformed_line_is_a_problem_not_a_guess(text: str, why: str) -> None:
    parsed = parse_commands(f"{text}\nsome text")
    assert parsed.commands == ()
    assert parsed.problems == (Problem(text, why),)
    assert parsed.text == "some text"


def test_good_lines_beside_a_bad_one_are_still_read() -> None:
    parsed = parse_commands("#assign me\n#stauts closed\ntext")
    assert [c.name for c in parsed.commands] == ["assign"]
    assert [p.line for p in parsed.problems] == ["#stauts closed"]


def test_a_command_given_twice() -> None:
    parsed = parse_commands("#status open\n#status closed\ntext")
    assert parsed.problems == (Problem("#status closed", "#status is given twice"),)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("#note\n#resolve\nx", Problem("#note", "a note is never sent; it cannot also resolve")),
        (
            "#note\n#status resolved\nx",
            Problem("#note", "a note is never sent; it cannot also resolve"),
        ),
        ("#resolve\n#status pending\nx", Problem("#resolve", "contradicts #status pending")),
        ("#resolve\n", Problem("#resolve", "write the resolution for the customer below it")),
    ],
)
def test_contradictions_and_an_empty_resolution(text: str, problem: Problem) -> None:
    assert problem in parse_commands(text).problems


def test_resolve_with_status_resolved_agrees() -> None:
    parsed = parse_commands("#status resolved\n#resolve\n已退款。")
    assert parsed.problems == ()


def test_problem_names_the_line() -> None:
    assert str(Problem("#stauts closed", "unknown command")) == "'#stauts closed': unknown command"


def test_table_cells_are_clipped_and_padded_by_terminal_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mailticket.app.views import emit_table

    long_zh = "充值" * 30  # 60 characters, 120 columns
    emit_table(
        [{"id": "A1", "subject": long_zh}, {"id": "B22", "subject": "plain"}],
        False,
        ["id", "subject"],
    )
    header, first, second = capsys.readouterr().out.splitlines()
    assert header == "ID   SUBJECT"
    assert first == "A1   " + "充值" * 12 + "…"  # 48 columns, then the ellipsis
    assert second == "B22  plain"
