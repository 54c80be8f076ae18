"""Admins' rule patterns run on RE2 (issue 17 item 4): no pattern can make matching take more
than linear time, what needs backtracking is refused with file:line, and Python's Unicode
meaning of \\d, \\w, \\s is kept."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import rules_with

from mailticket.completeness.extract import pattern_values
from mailticket.completeness.patterns import PatternError, compile_pattern, nested_quantifiers

EVIL = {  # pattern: whether it is in "a" * 5000 + "!"
    "(a+)+$": False,
    "(x+x+)+y": False,
    "(a|aa)*b": False,
    "((ab)*)*c": False,
    "(\\w+\\s?)+$": False,
    "(.*a){12}": True,
}


@pytest.mark.parametrize(("source", "found"), EVIL.items())
def test_catastrophic_patterns_finish_on_the_worst_text(source: str, found: bool) -> None:
    # Python's re would take longer than the age of the universe on most of these
    assert compile_pattern(source).search("a" * 5000 + "!") is found


def _cpu_seconds(source: str, size: int) -> float:
    pattern, text = compile_pattern(source), "a" * size + "!"
    best = float("inf")
    for _ in range(5):  # the least of five: the work itself, not the machine's other load
        start = time.process_time()
        for _ in range(20):
            pattern.search(text)
        best = min(best, time.process_time() - start)
    return best


def test_matching_grows_linearly_with_the_text() -> None:
    # Backtracking would take 2**n steps; a quadratic engine 16 times as long for 4 times
    # the text. RE2 takes about 4 times as long: the ratio is compared in one run.
    small, large = _cpu_seconds("(a+)+$", 20_000), _cpu_seconds("(a+)+$", 80_000)
    assert large / max(small, 1e-6) < 10


def test_python_meanings_of_digit_word_and_space_are_kept() -> None:
    name = compile_pattern(r"商户\s*[:：]?\s*(?P<value>\w+)")
    assert [v for _, v in name.values("商户\u3000星巴克咖啡abc 已付")] == ["星巴克咖啡abc"]
    assert [v for _, v in compile_pattern(r"[\d\s]+").values("号 12\xa034 ")] == [" 12\xa034 "]
    assert [v for _, v in compile_pattern(r"\S+").values("a\u3000b")] == ["a", "b"]
    assert [v for _, v in compile_pattern(r"\d+\Z").values("12 34")] == ["34"]
    found = pattern_values("单号：ＴＸ２０２６１１２４００１", [compile_pattern(r"(?i)(tx\d+)")])
    assert [f.value for f in found] == ["TX20261124001"]


@pytest.mark.parametrize(
    ("source", "says"),
    [
        (r"(?<![A-Za-z0-9])TX\d+", "lookahead and lookbehind"),
        (r"TX\d+(?!\d)", "lookahead and lookbehind"),
        (r"(\d)\1", "backreferences"),
        (r"(?P<d>\d)(?P=d)", "backreferences"),
        (r"(TX\d+", "missing ), unterminated subpattern at position 0"),
        (r"a{5000}", "invalid repetition size"),
        (r"[\W]", "write [^...]"),
    ],
)
def test_what_re2_cannot_run_is_refused_with_the_reason(source: str, says: str) -> None:
    with pytest.raises(PatternError) as refused:
        compile_pattern(source)
    assert says in str(refused.value)


@pytest.mark.parametrize(
    ("source", "nested"),
    [
        ("(a+)+$", True),
        ("(x+x+)+y", True),
        (r"(\d*)*", True),
        ("((ab)+)+", True),
        (r"\d+(\d+){2,}", True),
        ("(a{2})+", True),
        ("(ab)+", False),
        (r"(TX\d{12,20})", False),
        ("[a+]+", False),
        ("(a{1})+", False),
        (r"(?:交易单号|订单号)\s*(?P<value>[A-Za-z0-9]{8,40})", False),
        (r"\(a+\)+", False),
    ],
)
def test_nested_quantifiers_are_found(source: str, nested: bool) -> None:
    assert nested_quantifiers(source) is nested


def rules_check(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mailticket", "rules", "check", str(folder), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_rules_check_warns_about_a_nested_quantifier_with_file_and_line(tmp_path: Path) -> None:
    folder = rules_with(tmp_path / "rules", "(a+)+$")
    done = rules_check(folder)
    assert done.returncode == 0, done.stdout + done.stderr  # it loads: RE2 runs it safely
    report = json.loads(done.stdout)
    assert report["errors"] == []
    lines = len((folder / "other.toml").read_text(encoding="utf-8").splitlines())
    assert any(
        w.startswith(f"{folder / 'other.toml'}:{lines - 1}: fields[")
        and "repeats a repetition (like (a+)+)" in w
        for w in report["warnings"]
    ), report["warnings"]


def test_rules_check_refuses_lookbehind_with_file_and_line(tmp_path: Path) -> None:
    folder = rules_with(tmp_path / "rules", r"(?<!\d)(\d{4})")
    done = rules_check(folder)
    assert done.returncode == 1
    errors = json.loads(done.stdout)["errors"]
    assert len(errors) == 4  # one per file
    lines = len((folder / "other.toml").read_text(encoding="utf-8").splitlines())
    assert any(
        e.startswith(f"{folder / 'other.toml'}:{lines - 1}: fields[")
        and "lookahead and lookbehind" in e
        for e in errors
    ), errors
