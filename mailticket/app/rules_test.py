"""`mailticket rules test DIR`: a folder of labelled complaints read with the rules.

Each example is `NAME.txt` (an optional first line `Subject: ...`, then the customer's words)
or `NAME.eml` (parsed as the daemon would), beside `NAME.toml` with what it should be read as:

    category = "topup_not_credited"
    language = "zh-Hant"             # the figures are per language
    date = 2026-11-27T10:00:00+08:00 # the mail's own date (an .eml's Date header otherwise)
    given = ["amount", "time"]
    missing = ["transaction_id", "account"]

A bad example file is one line `file:line: message`, as for rule files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from mailticket.completeness.examples import Example, Report, evaluate
from mailticket.completeness.rules import load_rules
from mailticket.config_sections import BUILTIN_RULES
from mailticket.errors import MailticketError
from mailticket.mail.parse import ParseError, parse


def add_parser(rules_commands: Any) -> None:
    test = rules_commands.add_parser(
        "test", help="read a folder of labelled example complaints; exit 1 below thresholds"
    )
    test.add_argument("examples", metavar="DIR", help="folder of NAME.txt/.eml + NAME.toml")
    test.add_argument(
        "--rules", metavar="DIR", default=str(BUILTIN_RULES), help="rule folder (built-in rules)"
    )
    test.add_argument("--min-category", type=float, default=0.95, metavar="X")
    test.add_argument("--min-precision", type=float, default=0.9, metavar="X")
    test.add_argument("--min-recall", type=float, default=0.9, metavar="X")
    test.add_argument("--json", action="store_true")


class ExampleError(MailticketError):
    pass


def read_examples(folder: Path) -> list[Example]:
    if not folder.is_dir():
        raise ExampleError(f"{folder}: not a folder")
    examples = []
    for labels in sorted(folder.glob("*.toml")):
        mails = [p for p in (labels.with_suffix(".txt"), labels.with_suffix(".eml")) if p.exists()]
        if len(mails) != 1:
            raise ExampleError(f"{labels}:1: needs exactly one {labels.stem}.txt or .eml beside it")
        examples.append(_example(labels, mails[0]))
    return examples


def _example(labels: Path, mail: Path) -> Example:
    try:
        data = tomllib.loads(labels.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line N, column M)"
        line = str(exc).rsplit("line ", 1)[-1].split(",")[0] if "line " in str(exc) else "1"
        raise ExampleError(f"{labels}:{line}: {exc}") from None
    for key, kind in (("category", str), ("language", str), ("given", list), ("missing", list)):
        if not isinstance(data.get(key), kind):
            raise ExampleError(f"{labels}:1: '{key}' must be a {kind.__name__}")
    date = data.get("date")
    if mail.suffix == ".eml":
        try:
            parsed = parse(mail.read_bytes())
        except ParseError as exc:
            raise ExampleError(f"{mail}:1: not a mail message: {exc}") from None
        subject, text, date = parsed.subject, parsed.text, date or parsed.date
    else:
        body = mail.read_text(encoding="utf-8")
        first, _, rest = body.partition("\n")
        subject, text = (first[8:].strip(), rest) if first.startswith("Subject:") else ("", body)
    if not isinstance(date, datetime) or date.tzinfo is None:
        raise ExampleError(f"{labels}:1: 'date' must be a date-time with its offset")
    return Example(
        labels.stem,
        data["language"],
        date,
        subject,
        text,
        data["category"],
        frozenset(data["given"]),
        frozenset(data["missing"]),
    )


def run(args: argparse.Namespace) -> int:
    try:
        examples = read_examples(Path(args.examples))
        rules = load_rules(Path(args.rules))
    except MailticketError as exc:
        print(f"mailticket: error: {exc}", file=sys.stderr)
        return os.EX_DATAERR
    report = evaluate(rules, examples)
    failures = report.failures(args.min_category, args.min_precision, args.min_recall)
    if args.json:
        print(json.dumps(report.to_json() | {"failures": failures}, ensure_ascii=False, indent=2))
    else:
        _print_table(report, failures)
    return 1 if failures else 0


def _print_table(report: Report, failures: list[str]) -> None:
    print(f"{report.right}/{report.total} examples read right / 读对")
    print(f"{'language 语言':<16}{'category 类别':>14}")
    for language, (right, count) in sorted(report.by_language.items()):
        print(f"{language:<16}{right:>6}/{count:<4}{right / count:>6.0%}")
    print(f"{'detail 详情':<18}{'precision':>10}{'recall':>8}   (of 'missing' / 缺失)")
    for detail, c in sorted(report.details.items()):
        print(f"{detail:<18}{c.precision:>10.2f}{c.recall:>8.2f}")
    for miss in report.misses:
        print("miss:", json.dumps({k: v for k, v in miss.items()}, ensure_ascii=False))
    for line in failures:
        print(f"below threshold / 未达标: {line}", file=sys.stderr)
