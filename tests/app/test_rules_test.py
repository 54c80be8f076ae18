"""`mailticket rules test DIR`: the labelled example folders, read with the shipped rules."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailticket.app.cli import main
from mailticket.config_sections import BUILTIN_RULES

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT / "rules" / "examples"
HELD_OUT = PROJECT / "tests" / "fixtures" / "complaints-heldout"
HELD_OUT_2 = PROJECT / "tests" / "fixtures" / "complaints-heldout2"
DETAILS = ("account", "amount", "time", "transaction_id")
RULES = str(BUILTIN_RULES)


def _report(capsys: pytest.CaptureFixture[str], folder: Path, *extra: str) -> tuple[int, dict]:
    code = main(["rules", "test", str(folder), "--rules", RULES, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


@dataclass(frozen=True)
class Floor:
    """What a labelled folder is read at today, as floors: a rule or code edit that reads fewer
    of them right fails here. Not the issue's targets where unmet; raise them as reading
    improves."""

    right: float  # share of examples fully right (category and exactly the missing details)
    category: float  # category accuracy over the folder
    per_language: float  # in each language, this share rounded down (a language of 2 may miss 1)
    precision: dict[str, float]  # of "missing", per detail
    recall: dict[str, float]


FLOORS = {
    # 103 shipped examples: 102 fully right, every language's category 100% (2026-12-04)
    "shipped": (
        SHIPPED,
        Floor(0.97, 0.98, 0.9, dict.fromkeys(DETAILS, 0.95), dict.fromkeys(DETAILS, 0.95)),
    ),
    # 20 held out, written by another session: 19 right, category 1.00
    "heldout": (
        HELD_OUT,
        Floor(0.95, 0.95, 0.75, dict.fromkeys(DETAILS, 0.9), dict.fromkeys(DETAILS, 0.9)),
    ),
    # 67 held out (issue 13's unseen kinds): 62 right, category 0.94 (zh-Hans 16 of 19)
    "heldout2": (
        HELD_OUT_2,
        Floor(0.92, 0.93, 0.75, {"account": 0.95, "amount": 0.8, "time": 0.95,
              "transaction_id": 0.95}, {"account": 0.95, "amount": 0.8, "time": 0.9,
              "transaction_id": 0.9}),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", FLOORS)
def test_the_labelled_folders_keep_their_figures(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    folder, floor = FLOORS[name]
    code, report = _report(capsys, folder, "--min-category", "0", "--min-precision", "0",
                           "--min-recall", "0")  # fmt: skip
    assert code == 0
    assert report["right"] >= floor.right * report["examples"]
    assert report["category_accuracy"] >= floor.category
    for language, figures in report["by_language"].items():
        least = math.floor(floor.per_language * figures["examples"])
        assert figures["right"] >= least, (language, figures)
    for detail in DETAILS:
        counts = report["missing"][detail]
        assert counts["precision"] >= floor.precision[detail], (detail, counts)
        assert counts["recall"] >= floor.recall[detail], (detail, counts)


def test_thresholds_fail_the_command_and_name_what_fell_short(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 1.01: no folder can meet it, so the failure path is always taken
    code, report = _report(capsys, HELD_OUT_2, "--min-category", "1.01")
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
