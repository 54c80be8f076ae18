"""Rule files: the shipped ones load, every mistake is reported as `file:line: key: message`,
and a running desk reloads edits but keeps its last good rules when an edit is broken."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailticket import config as config_module
from mailticket.app.daemon import Daemon
from mailticket.completeness.rules import LiveRules, check_rules, load_rules
from mailticket.config_sections import BUILTIN_RULES
from mailticket.desk.context import Desk
from mailticket.errors import RuleError
from mailticket.toml_lines import KeyLines

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = BUILTIN_RULES


# --- where keys are written -------------------------------------------------------------------


def test_key_lines_of_tables_arrays_of_tables_dotted_keys_and_multi_line_arrays() -> None:
    text = """\
id = "x"                      # 1
name = { zh = "甲", en = "A" }

[[fields]]
id = "a"                      # 5
label.zh = "标签"

[[fields]]                    # 8
id = "b"
patterns = [
    'one',                    # 11
    "two", "three",           # 12
]
inline = ["p", "q"]           # 14

[fields.label]                # 16
en = "B"
"""
    lines = KeyLines(text)
    assert lines.line("id") == 1
    assert lines.line("name") == 2
    assert lines.line("name", "zh") is None
    assert lines.line("name", "zh", nearest=True) == 2
    assert lines.line("fields", 0) == 4
    assert lines.line("fields", 0, "id") == 5
    assert lines.line("fields", 0, "label", "zh") == 6
    assert lines.line("fields", 1) == 8
    assert lines.line("fields", 1, "patterns") == 10
    assert [lines.line("fields", 1, "patterns", i) for i in range(3)] == [11, 12, 12]
    assert lines.line("fields", 1, "inline", 1) == 14
    assert lines.line("fields", 1, "label", "en") == 17
    assert lines.line("fields", 2, "id", nearest=True) is None


# --- the shipped rules ------------------------------------------------------------------------


def test_the_shipped_rules_load() -> None:
    rules = load_rules(SHIPPED)
    assert {c.id for c in rules.categories} == {
        "topup_not_credited",
        "withdrawal_delayed",
        "account_locked",
        "other",
    }
    assert rules.catch_all.id == "other"
    for category in rules.categories:
        assert category.name.zh and category.name.en
        assert category.fields
        for field in category.fields:
            assert field.label.zh and field.label.en and field.hint.zh and field.hint.en
    topup = rules.get("topup_not_credited")
    assert topup is not None and topup.sla_working_days == 3
    assert [f.id for f in topup.fields if f.required] == [
        "account",
        "transaction_id",
        "amount",
        "time",
    ]


def test_rules_check_passes_on_the_shipped_rules() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mailticket", "rules", "check", str(SHIPPED)],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rules and templates OK" in done.stdout
    assert "topup_not_credited" in done.stdout


# --- mistakes ---------------------------------------------------------------------------------

GOOD = """\
id = "topup"
sla_working_days = 3

[name]
zh = "充值不到账"
en = "Top-up not credited"

[[signals]]
weight = 5
phrases = ["充值", "top-up"]

[[fields]]
id = "transaction_id"
kind = "pattern"
required = true
weight = 25
label = { zh = "交易单号", en = "Transaction number" }
hint = { zh = "在账单里。", en = "Under Bills." }
patterns = [
    '(TX\\d{12,20})',
]

[[fields]]
id = "screenshot"
kind = "attachment"
weight = 10
label = { zh = "截图", en = "Screenshot" }
hint = { zh = "图片。", en = "An image." }
types = ["image/*"]
"""
OTHER = """\
id = "other"
catch_all = true
sla_working_days = 7
name = { zh = "其他", en = "Other" }

[[fields]]
id = "description"
kind = "description"
required = true
weight = 10
min_length = 15
label = { zh = "描述", en = "Description" }
hint = { zh = "发生了什么。", en = "What happened." }
"""


def folder(tmp_path: Path, **files: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    for name, text in {"topup": GOOD, "other": OTHER, **files}.items():
        if text:
            (rules / f"{name}.toml").write_text(text, encoding="utf-8")
    return rules


def messages(path: Path) -> list[str]:
    rules, errors = check_rules(path)
    assert rules is None
    return [str(e).replace(f"{path}/", "") for e in errors]


def test_a_good_folder_loads(tmp_path: Path) -> None:
    rules = load_rules(folder(tmp_path))
    [topup] = [c for c in rules.categories if c.id == "topup"]
    assert topup.fields[0].patterns[0].pattern == r"(TX\d{12,20})"
    assert topup.source.endswith("topup.toml")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("'(TX\\d{12,20})',", "'(TX\\d{12,20}',"),
            "topup.toml:20: fields[0].patterns[0]: bad regular expression '(TX\\\\d{12,20}': "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            ("'(TX\\d{12,20})',", "'(TX)?',"),
            "topup.toml:20: fields[0].patterns[0]: '(TX)?' matches an empty text",
        ),
        (
            ("sla_working_days = 3", "sla_working_days = 3\ncolour = 'red'"),
            "topup.toml:3: colour: unknown key (known: id, name, sla_working_days, catch_all, "
            "signals, fields, examples)",
        ),
        (
            ("weight = 25", 'weight = "25"'),
            "topup.toml:16: fields[0].weight: must be an integer, not string",
        ),
        (
            ("required = true", "required = 1"),
            "topup.toml:15: fields[0].required: must be true or false, not integer",
        ),
        (
            ('kind = "attachment"', 'kind = "attachments"'),
            "topup.toml:25: fields[1].kind: unknown kind 'attachments' (known: mobile, email, "
            "amount, datetime, pattern, keyword, attachment, description)",
        ),
        (
            ('id = "screenshot"', 'id = "transaction_id"'),
            "topup.toml:24: fields[1].id: duplicate field id 'transaction_id'",
        ),
        (
            ('id = "screenshot"', 'id = "Screen shot"'),
            "topup.toml:24: fields[1].id: must be lower-case letters, digits and _ (a-z first, "
            "at most 40)",
        ),
        (
            ('label = { zh = "截图", en = "Screenshot" }', 'label = { zh = "截图" }'),
            "topup.toml:27: fields[1].label.en: missing key 'en'",
        ),
        (
            ('types = ["image/*"]', 'types = ["images"]'),
            "topup.toml:29: fields[1].types[0]: 'images' is not a media type like image/* or "
            "application/pdf",
        ),
        (
            ('types = ["image/*"]', 'types = ["image/*"]\nmin_length = 5'),
            "topup.toml:30: fields[1].min_length: is not used by a field of kind 'attachment'",
        ),
        (
            ('phrases = ["充值", "top-up"]', "phrases = []"),
            "topup.toml:10: signals[0].phrases: must not be empty",
        ),
        (
            ("sla_working_days = 3", "sla_working_days = 0"),
            "topup.toml:2: sla_working_days: must be at least 1",
        ),
        (
            ("[name]", "[name]\nfr = 'Recharge'"),
            "topup.toml:5: name.fr: unknown key (known: zh, en)",
        ),
        (
            ('id = "topup"', 'id = "other"'),
            "topup.toml:1: id: duplicate category id (also in ",
        ),
        (
            ("[[signals]]", "[signals"),
            "topup.toml:8: invalid TOML: ",
        ),
    ],
)
def test_each_mistake_names_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    [message] = messages(folder(tmp_path, topup=GOOD.replace(old, new)))
    assert message.startswith(expected)


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    broken = GOOD.replace("weight = 25", "weight = -1").replace("'(TX", "'(TX(")
    found = messages(folder(tmp_path, topup=broken, extra="id = 'x'\n"))
    assert [m.split(": ")[0] for m in found] == [
        "extra.toml:1",  # no signals
        "extra.toml",  # name: missing, so on no line
        "extra.toml",  # sla_working_days: missing
        "topup.toml:16",
        "topup.toml:20",
    ]


def test_exactly_one_catch_all(tmp_path: Path) -> None:
    path = folder(tmp_path, other="")
    assert [str(e) for e in check_rules(path)[1]] == [
        f"{path}: no catch-all category: set `catch_all = true` in one file"
    ]
    second = OTHER.replace('id = "other"', 'id = "misc"')
    [message] = messages(folder(tmp_path, other=OTHER, misc=second))
    assert (
        message
        == "other.toml:2: catch_all: a second catch-all category (the first is in misc.toml)"
    )


def test_a_folder_without_rule_files(tmp_path: Path) -> None:
    assert [str(e) for e in check_rules(tmp_path)[1]] == [
        f"{tmp_path}: no rule files (*.toml) in this folder"
    ]
    with pytest.raises(RuleError, match="is not a folder"):
        load_rules(tmp_path / "absent")


def test_load_raises_the_first_error_and_counts_the_rest(tmp_path: Path) -> None:
    broken = GOOD.replace("weight = 25", "weight = -1").replace("weight = 10", "weight = -2")
    expected = r"topup.toml:16: fields\[0\].weight: must not be negative \(and 1 more: run "
    with pytest.raises(RuleError, match=expected):
        load_rules(folder(tmp_path, topup=broken))


def test_rules_check_cli_prints_each_error_and_exits_1(tmp_path: Path) -> None:
    path = folder(tmp_path, topup=GOOD.replace("weight = 25", 'weight = "25"'))
    done = subprocess.run(
        [sys.executable, "-m", "mailticket", "rules", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert f"{path}/topup.toml:16: fields[0].weight: must be an integer, not string" in (
        done.stdout.splitlines()
    )
    assert "Traceback" not in done.stderr


def test_rules_check_cli_uses_the_configured_folder_and_templates(tmp_path: Path) -> None:
    folder(tmp_path)
    (tmp_path / "templates" / "zh").mkdir(parents=True)
    (tmp_path / "templates" / "zh" / "information_request.txt").write_text(
        "{% for item in missing %}{{ item.labl }}{% endfor %}", encoding="utf-8"
    )
    config = tmp_path / "mailticket.toml"
    config.write_text(
        '[desk]\naddress = "d@x.example"\n[rules]\npath = "rules"\n'
        '[templates]\npath = "templates"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mailticket", "--config", str(config), "rules", "check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT,
    )
    assert done.returncode == 1
    assert f"{tmp_path}/templates/zh/information_request.txt: 'dict object' has no attribute " in (
        done.stdout
    )


# --- reloading --------------------------------------------------------------------------------


def bump(path: Path, text: str) -> None:
    """Write and move the modification time on, so a fast test is never within one tick."""
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_live_rules_reload_edits_and_keep_the_last_good_rules(tmp_path: Path) -> None:
    path = folder(tmp_path)
    live = LiveRules.open(path)
    assert live.refresh() is False  # nothing changed
    bump(path / "topup.toml", GOOD.replace("sla_working_days = 3", "sla_working_days = 4"))
    assert live.refresh() is True
    assert live.current.get("topup").sla_working_days == 4  # type: ignore[union-attr]
    good = live.current

    bump(path / "topup.toml", GOOD.replace("'(TX\\d{12,20})',", "'(TX',"))
    assert live.refresh() is True
    assert live.current is good  # the broken edit is not in force
    assert live.error is not None and "topup.toml:20:" in str(live.error)
    assert live.refresh() is False  # reported once, not on every look

    bump(path / "topup.toml", GOOD.replace("sla_working_days = 3", "sla_working_days = 5"))
    assert live.refresh() is True
    assert live.error is None
    assert live.current.get("topup").sla_working_days == 5  # type: ignore[union-attr]


def test_the_daemon_reloads_rules_and_logs_a_broken_edit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = folder(tmp_path)
    config_path = tmp_path / "mailticket.toml"
    config_path.write_text(
        '[desk]\naddress = "d@x.example"\n[storage]\npath = "store"\n[rules]\npath = "rules"\n',
        encoding="utf-8",
    )
    desk = Desk.open(config_module.load(config_path, environ={}))
    daemon = Daemon(desk, send=lambda batch, hooks: {})
    assert desk.rules is not None
    good = desk.rules.current
    caplog.set_level(logging.INFO, logger="mailticket.daemon")

    bump(path / "topup.toml", GOOD.replace("weight = 25", "weight = 'x'"))
    daemon.reload_rules()
    assert desk.rules.current is good
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "the last good rules stay in force" in record.getMessage()
    assert "topup.toml:16: fields[0].weight: must be an integer" in record.getMessage()

    caplog.clear()
    bump(path / "topup.toml", GOOD.replace("sla_working_days = 3", "sla_working_days = 6"))
    daemon.reload_rules()
    assert desk.rules.current.get("topup").sla_working_days == 6  # type: ignore[union-attr]
    assert any("rules reloaded" in r.getMessage() for r in caplog.records)


def test_a_desk_does_not_start_on_broken_rules(tmp_path: Path) -> None:
    path = folder(tmp_path, topup=GOOD.replace("weight = 25", "weight = 'x'"))
    config_path = tmp_path / "mailticket.toml"
    config_path.write_text(
        '[desk]\naddress = "d@x.example"\n[storage]\npath = "store"\n[rules]\npath = "rules"\n',
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match=r"topup\.toml:16"):
        Desk.open(config_module.load(config_path, environ={}))
    done = subprocess.run(
        [sys.executable, "-m", "mailticket", "--config", str(config_path), "tickets", "list"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT,
    )
    assert done.returncode == 78
    assert done.stderr.startswith(f"mailticket: error: {path}/topup.toml:16: fields[0].weight")
