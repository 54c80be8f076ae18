"""The checking commands: `check` (configuration, templates, rules, --connect), `check FILE`
(how one mail is read, threaded and scored) and `rules check`, kept apart from the parser
and dispatch in cli.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mailticket import config as config_module
from mailticket.app import preflight, rules_test
from mailticket.app.exits import EX_TEMPFAIL, load_config
from mailticket.app.views import mail_report
from mailticket.completeness.rules import RuleSet, check_rules, load_rules
from mailticket.completeness.score import check_report
from mailticket.config import Config, DeskConfig, LimitsConfig
from mailticket.config_sections import BUILTIN_RULES
from mailticket.desk.match import find_ticket
from mailticket.errors import ConfigError, MailticketError, RuleError
from mailticket.mail.parse import ParseError, detect_language, parse
from mailticket.model import InboundMail, system_clock
from mailticket.outbound.compose import Templates
from mailticket.store import open_store


def check(config: Config, as_json: bool, connected: dict[str, str]) -> int:
    summary = {
        "config": config.source,
        "desk": config.desk.address,
        "ticket_prefix": config.desk.ticket_prefix,
        "imap": f"{config.imap.security}://{config.imap.host}:{config.imap.port}/{config.imap.folder}"
        if config.imap.host
        else "(not configured)",
        "smtp": f"{config.smtp.security}://{config.smtp.host}:{config.smtp.port}",
        "storage": str(config.storage_path),
        "agents": len(config.agents.addresses),
        "templates": str(config.templates_path or "(built-in)"),
        "rules": str(config.rules_path or "(none: plain receipts)"),
    }
    found = preflight.problems(config)  # the same checks `run` and `poll --once` make
    summary.update(found)
    summary.update(connected)
    login_errors = [
        f"{k}: {v}" for k, v in connected.items() if v not in ("ok", "(not configured)")
    ]
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        for key, value in summary.items():
            if key not in found:
                print(f"{key:14} {value}")
        for key, errors in found.items():
            for error in errors:
                print(f"{key.removesuffix('_errors')} error: {error}")
    if any(found.values()):
        if not as_json:
            print("the configuration has errors / 配置有错误", file=sys.stderr)
        return os.EX_CONFIG
    if login_errors:
        if not as_json:
            print("login failed / 登录失败: " + "; ".join(login_errors), file=sys.stderr)
        return EX_TEMPFAIL
    if not as_json:
        print("configuration OK / 配置有效")
    return 0


def check_mail(args: argparse.Namespace) -> int:
    """`check FILE.eml`: parse a mail exactly as the daemon would and explain what it read.

    Nothing is stored or sent. Exit 0 for anything that parses, 65 for input that is no mail,
    66 for a file that cannot be read. Without a usable config the threading is "unknown".
    """
    [name] = args.file
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        print(f"mailticket: error: cannot read {name}: {exc.strerror}", file=sys.stderr)
        return os.EX_NOINPUT
    try:
        config: Config | None = load_config(args)
    except MailticketError:
        config = None
    try:
        mail = (
            parse(raw, max_attachment_bytes=config.limits.max_attachment_bytes)
            if config
            else parse(raw)
        )
    except ParseError as exc:
        print(f"mailticket: error: {name}: not a mail message: {exc}", file=sys.stderr)
        return os.EX_DATAERR
    report = mail_report(mail, _thread_decision(mail, config))
    report |= _rules_report(mail, _check_rules(config, args.rules), config)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_mail_report(report)
        _print_rules_report(report)
    return 0


def _check_rules(config: Config | None, folder: str | None) -> RuleSet | None:
    """The rules `check` scores with: `--rules DIR`, else the configured ones, else (no
    usable config) the built-in ones."""
    path = Path(folder) if folder else config.rules_path if config else BUILTIN_RULES
    return load_rules(path) if path else None


def _rules_report(
    mail: InboundMail, rules: RuleSet | None, config: Config | None
) -> dict[str, Any]:
    """The keys `check` adds from the rules: the mail scored on its own, as a new complaint."""
    zone = config.zone if config else ZoneInfo(DeskConfig().timezone)
    return check_report(rules, mail, zone, system_clock())


def _print_rules_report(report: dict[str, Any]) -> None:
    if report["category"] is None:
        print("rules: (none configured; --rules DIR to try a folder)")
        return
    state = "complete" if report["complete"] else "incomplete"
    print(f"{'category':11} {report['category']} (confidence {report['category_confidence']})")
    print(f"{'score':11} {report['score']}/100, {state}")
    print(f"{'missing':11} {', '.join(report['missing']) or '(nothing)'}")
    for field_id, value in report["fields"].items():
        print(f"  {field_id}: {value}")
    for flag in report["flags"]:
        print(f"{'flag':11} {flag}")


def check_mails(args: argparse.Namespace) -> int:
    """`check` on several mails or folders of .eml files: one line (one JSON object with
    `--json`) per mail, then a summary per category, so admins can replay real mail against
    edited rules before they deploy them. Nothing is stored or sent."""
    try:
        config: Config | None = load_config(args)
    except MailticketError:
        config = None
    rules = _check_rules(config, args.rules)
    limit = config.limits.max_attachment_bytes if config else LimitsConfig().max_attachment_bytes
    paths = [
        path
        for name in args.file
        for path in (sorted(Path(name).rglob("*.eml")) if Path(name).is_dir() else [Path(name)])
    ]
    counts: Counter[str] = Counter()
    complete: Counter[str] = Counter()
    unreadable = 0
    for path in paths:
        try:
            mail = parse(path.read_bytes(), max_attachment_bytes=limit)
        except (OSError, ParseError) as exc:
            unreadable += 1
            error = exc.strerror if isinstance(exc, OSError) else f"not a mail message: {exc}"
            entry = {"file": str(path), "error": error}
            print(json.dumps(entry, ensure_ascii=False) if args.json else f"{path}  error: {error}")
            continue
        report = {
            "file": str(path),
            "from": mail.from_addr,
            "subject": mail.subject,
            "language": detect_language(mail.subject, mail.text),
            **_rules_report(mail, rules, config),
        }
        category = report["category"] or "(no rules)"
        counts[category] += 1
        complete[category] += bool(report["complete"])
        if args.json:
            print(json.dumps(report, ensure_ascii=False))
            continue
        verdict = "complete" if report["complete"] else f"missing {', '.join(report['missing'])}"
        print(f"{path}  {category}  score {report['score']}  {verdict}")
    out = sys.stderr if args.json else sys.stdout  # JSON lines stay one object per mail
    print(f"{len(paths)} mails, {unreadable} not readable; by category:", file=out)
    for category, count in counts.most_common():
        print(f"  {category:24} {count:5}  ({complete[category]} complete)", file=out)
    return os.EX_DATAERR if unreadable else 0


def _no_config_named(args: argparse.Namespace) -> bool:
    """No --config, no $MAILTICKET_CONFIG and no ./mailticket.toml."""
    path, named = config_module.config_path(args.config)
    return not named and not path.exists()


def rules_check(args: argparse.Namespace) -> int:
    """`rules check`: every rule file and template validated; each error as `file:line:`."""
    if args.folder:
        try:
            config: Config | None = load_config(args)
        except MailticketError:  # the folder alone can be checked without a config
            config = None
        folder = Path(args.folder)
    elif _no_config_named(args):
        config, folder = None, BUILTIN_RULES  # the rules the package ships
    else:
        config = load_config(args)
        if config.rules_path is None:
            raise ConfigError(
                "no rules folder: set [rules] path, or name the folder",
                path=config.source,
                key="rules.path",
            )
        folder = config.rules_path
    rule_warnings: list[RuleError] = []
    rules, rule_errors = check_rules(folder, rule_warnings)
    errors = [str(e) for e in rule_errors]
    warnings = [str(w) for w in rule_warnings]
    errors += Templates(config.templates_path if config else None).check()
    categories: list[dict[str, Any]] = [
        {
            "id": c.id,
            "name": {"zh": c.name.zh, "en": c.name.en},
            "file": c.source,
            "sla_working_days": c.sla_working_days,
            "catch_all": c.catch_all,
            "fields": [f.id for f in c.fields],
            "required": [f.id for f in c.fields if f.required],
        }
        for c in (rules.categories if rules else ())
    ]
    if args.json:
        result = {
            "folder": str(folder),
            "categories": categories,
            "errors": errors,
            "warnings": warnings,
        }
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for c in categories:
            required = ", ".join(c["required"]) or "none"
            print(
                f"{c['id']:20} {c['name']['zh']} / {c['name']['en']}: "
                f"{c['sla_working_days']} working days, {len(c['fields'])} fields "
                f"({required} required){', catch-all' if c['catch_all'] else ''}"
            )
        for error in errors:
            print(error)
        for warning in warnings:
            print(f"warning / 警告: {warning}")
        verdict = "rules and templates OK / 规则与模板有效"
        print(f"{len(errors)} errors / 有错误" if errors else verdict)
    return 1 if errors else 0


def _thread_decision(mail: InboundMail, config: Config | None) -> str:
    """What threading decides against the current store, read only (no store is created)."""
    if config is None:
        return "unknown (no config)"
    if not config.storage_path.is_dir():
        return "new ticket"  # no store yet, and checking must not create one
    try:
        store = open_store(config)
        try:
            ticket_id = find_ticket(
                mail,
                config.desk.ticket_prefix,
                store.ticket_for_message_ids,
                lambda candidate: store.find_ticket(candidate) is not None,
            )
        finally:
            store.close()
    except MailticketError as exc:
        return f"unknown (store: {exc})"
    return f"follow-up of {ticket_id}" if ticket_id else "new ticket"


def _print_mail_report(report: dict[str, Any]) -> None:
    sender = f"{report['from_name']} <{report['from']}>" if report["from_name"] else report["from"]
    heading = {
        "from": sender,
        "subject": report["subject"],
        "date": report["date"],
        "message-id": report["message_id"],
        "language": report["language"],
        "thread": report["thread"],
    }
    for key, value in heading.items():
        print(f"{key:11} {value or '-'}")
    print(f"{'defects':11} {'; '.join(report['defects']) or '(none)'}")
    print(f"{'attachments':11} {len(report['attachments']) or '(none)'}")
    for item in report["attachments"]:
        inline = ", inline" if item["inline"] else ""
        kind = f"{item['content_type']} (looks like {item['sniffed_type']})"
        print(f"  {item['filename']}  {kind}, {item['size']} bytes{inline}, {item['sha256'][:16]}…")
    print("text:")
    for line in report["text"].splitlines() or [""]:
        print(f"  | {line}")
    quoted = report["quoted"].splitlines()
    print(f"quoted ({len(quoted)} lines):")
    for line in quoted[:20]:
        print(f"  : {line}")
    if len(quoted) > 20:
        print(f"  : … {len(quoted) - 20} more lines")


def add_parsers(commands: Any) -> None:
    """`check` and `rules check|test`."""
    check_parser = commands.add_parser(
        "check",
        help="validate the configuration; with FILE, show how a mail is read (stores nothing)",
    )
    check_parser.add_argument(
        "--connect", action="store_true", help="also log in to IMAP and SMTP / 同时尝试登录"
    )
    check_parser.add_argument(
        "file",
        nargs="*",
        metavar="FILE.eml",
        help="mails to parse as the daemon would (- = stdin); several, or a folder of .eml "
        "files: one line each and a summary per category",
    )
    check_parser.add_argument(
        "--rules", metavar="DIR", help="score with the rule files in DIR (try edits first)"
    )
    check_parser.add_argument("--json", action="store_true")

    rules = commands.add_parser("rules", help="completeness rules / 完整性规则")
    rules_commands = rules.add_subparsers(dest="action", required=True, metavar="ACTION")
    rules_check_parser = rules_commands.add_parser(
        "check", help="validate every rule file and template; exit 1 on errors"
    )
    rules_check_parser.add_argument("folder", nargs="?", help="rule folder (default: [rules] path)")
    rules_check_parser.add_argument("--json", action="store_true")
    rules_test.add_parser(rules_commands)
