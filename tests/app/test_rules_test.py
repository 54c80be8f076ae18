"""`mailticket rules test DIR`: the labelled example folders, read with the shipped rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailticket.app.cli import main
from mailticket.config import BUILTIN_RULES

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT / "rules" / "examples"
HELD_OUT = PROJECT / "tests" / "fixtures" / "complaints-heldout"
RULES = str(BUILTIN_RULES)


def _report(capsys: pytest.CaptureFixture[str], folder: Path, *extra: str) -> tuple[int, dict]:
    code = main(["rules", "test", str(folder), "--rules", RULES, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_the_shipped_examples_keep_their_category_accuracy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A floor at today's figures, not the target: a rule edit that reads fewer of them
    # right fails here. Raise it as the reading improves. The folder grew from 70 to 103 with
    # harder mails (other channels and regions, typos, passing mentions), so the category floor
    # is the 103's 92 (0.89), not the 70's 0.95; 83 of 103 are fully right.
    code, report = _report(capsys, SHIPPED, "--min-category", "0", "--min-precision", "0",
                           "--min-recall", "0")  # fmt: skip
    assert code == 0
    assert report["examples"] >= 100
    assert report["category_accuracy"] >= 0.89
    assert report["right"] >= 0.8 * report["examples"]
    for detail in ("account", "amount", "time", "transaction_id"):
        assert report["missing"][detail]["recall"] >= 0.95, detail
    assert report["missing"]["time"]["precision"] >= 0.9


def test_thresholds_fail_the_command_and_name_what_fell_short(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = _report(capsys, HELD_OUT, "--min-category", "1.0")
    assert code == 1
    assert any("category accuracy" in line for line in report["failures"])
    assert report["misses"] and all("explanation" in miss for miss in report["misses"])


def test_a_bad_label_file_is_one_line_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("充值没到账", encoding="utf-8")
    (tmp_path / "a.toml").write_text('category = "x"\nlanguage = \n', encoding="utf-8")
    assert main(["rules", "test", str(tmp_path), "--rules", RULES]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{tmp_path / 'a.toml'}:2:" in err


def test_a_label_without_its_mail_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "b.toml").write_text('category = "x"\n', encoding="utf-8")
    assert main(["rules", "test", str(tmp_path), "--rules", RULES]) != 0
    assert "b.toml:1: needs exactly one" in capsys.readouterr().err
