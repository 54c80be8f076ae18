"""`mailticket` commands: human tables by default, `--json` for scripts, one-line errors."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mailticket import __version__
from mailticket import config as config_module
from mailticket.compose import Templates
from mailticket.config import Config
from mailticket.errors import MailticketError
from mailticket.model import OutboxState, to_record
from mailticket.pipeline import (
    Desk,
    DrainResult,
    drain_outbox,
    intake_cycle,
    open_mailbox,
    retry_outgoing,
    smtp_sender,
    take_in,
)
from mailticket.views import emit_table, ticket_detail, ticket_summary

EX_TEMPFAIL = 75
EX_SOFTWARE = 70


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailticket", description="Email-first complaint desk / 邮件投诉受理系统"
    )
    parser.add_argument("--version", action="version", version=f"mailticket {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"config file (default: $MAILTICKET_CONFIG or ./{config_module.DEFAULT_PATH})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run the daemon: IMAP IDLE or polling, outbox, schedule")
    poll = commands.add_parser("poll", help="one intake cycle plus sending what is owed")
    poll.add_argument("--once", action="store_true", required=True, help="run once and exit")

    ingest = commands.add_parser(
        "ingest", help="take in one RFC 5322 message (MTA pipe); exit 75 on temporary failure"
    )
    ingest.add_argument("file", nargs="?", default="-", help="file to read, or - for stdin")

    tickets = commands.add_parser("tickets", help="list or show tickets")
    tickets_commands = tickets.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = tickets_commands.add_parser("list", help="list tickets")
    listing.add_argument("--status", help="only tickets with this status")
    listing.add_argument("--json", action="store_true", help="JSON array for scripts")
    show = tickets_commands.add_parser("show", help="one ticket with its messages")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="JSON object for scripts")

    outbox = commands.add_parser("outbox", help="mail we owe: list, retry, send now")
    outbox_commands = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    out_list = outbox_commands.add_parser("list", help="list outgoing mail")
    out_list.add_argument("--state", choices=[s.value for s in OutboxState])
    out_list.add_argument("--json", action="store_true")
    retry = outbox_commands.add_parser("retry", help="make a failed or waiting mail due now")
    retry.add_argument("id")
    outbox_commands.add_parser("send", help="send every due mail now")

    quarantine = commands.add_parser("quarantine", help="mail that could not be ticketed")
    quarantine_commands = quarantine.add_subparsers(dest="action", required=True, metavar="ACTION")
    q_list = quarantine_commands.add_parser("list", help="list quarantined mail with reasons")
    q_list.add_argument("--json", action="store_true")

    check = commands.add_parser("check", help="validate the configuration and show it")
    check.add_argument("--json", action="store_true")

    demo = commands.add_parser(
        "demo", help="run the whole pipeline on sample complaints, no mail server needed"
    )
    demo.add_argument("--dir", help="keep the demo's store and Maildir here (default: temporary)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command != "run" and not args.verbose:
        logging.getLogger("mailticket").setLevel(logging.WARNING)
    try:
        return _dispatch(args)
    except MailticketError as exc:
        print(f"mailticket: error: {exc}", file=sys.stderr)
        return EX_TEMPFAIL if args.command == "ingest" else exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: say so in one line; -v shows where
        logging.getLogger("mailticket").debug("internal error", exc_info=True)
        print(f"mailticket: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
              file=sys.stderr)  # fmt: skip
        return EX_TEMPFAIL if args.command == "ingest" else EX_SOFTWARE
    except BrokenPipeError:
        return 0


def _load_config(args: argparse.Namespace) -> Config:
    path, required = config_module.config_path(args.config)
    return config_module.load(path, required=required)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from mailticket.demo import run_demo

        return run_demo(Path(args.dir) if args.dir else None)
    config = _load_config(args)
    if args.command == "check":
        return _check(config, args.json)
    if args.command == "ingest":
        return _ingest(config, args.file)
    desk = Desk.open(config)
    if args.command == "run":
        from mailticket.daemon import Daemon

        Daemon(desk, smtp_sender(config)).run_forever()
        return 0
    if args.command == "poll":
        return _poll_once(desk)
    if args.command == "tickets":
        return _tickets(desk, args)
    if args.command == "outbox":
        return _outbox(desk, args)
    if args.command == "quarantine":
        records = [to_record(r) for r in desk.store.quarantine()]
        emit_table(records, args.json, ["id", "created", "from_addr", "subject", "reason"])
        return 0
    raise AssertionError(args.command)


def _check(config: Config, as_json: bool) -> int:
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
        "template_errors": Templates(config.templates_path).check(),
    }
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        for key, value in summary.items():
            if key != "template_errors":
                print(f"{key:14} {value}")
        for error in summary["template_errors"]:
            print(f"template error: {error}")
    if summary["template_errors"]:
        if not as_json:
            print("templates have errors / 模板有错误", file=sys.stderr)
        return os.EX_CONFIG
    if not as_json:
        print("configuration OK / 配置有效")
    return 0


def _ingest(config: Config, file: str) -> int:
    raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    desk = Desk.open(config)
    result = take_in(desk, raw, source=f"ingest:{file}")
    print(f"{result.outcome} {result.ticket_id or result.reason}".strip())
    try:  # best effort: a pipe delivery must not wait for, or fail with, the SMTP server
        drain_outbox(desk, smtp_sender(config))
    except MailticketError as exc:
        logging.getLogger("mailticket").warning("reply left in the outbox: %s", exc)
    return 0


def _poll_once(desk: Desk) -> int:
    config = desk.config
    if config.imap.host:
        mailbox = open_mailbox(config)
        try:
            counts = intake_cycle(desk, mailbox)
        finally:
            mailbox.close()
        print(
            "intake: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing new")
        )
    result = drain_outbox(desk, smtp_sender(config))
    print(_drain_line(result))
    return 0


def _tickets(desk: Desk, args: argparse.Namespace) -> int:
    if args.action == "list":
        tickets = sorted(desk.store.tickets(args.status), key=lambda t: t.created)
        emit_table(
            [ticket_summary(t) for t in tickets],
            args.json,
            ["id", "status", "created", "customer", "subject"],
        )
        return 0
    detail = ticket_detail(desk, args.id)
    if args.json:
        print(json.dumps(detail, ensure_ascii=False, indent=2))
        return 0
    for key in ("id", "status", "customer", "subject", "created", "due", "language"):
        print(f"{key:9} {detail[key]}")
    for message in detail["messages"]:
        arrow = "<-" if message["direction"] == "in" else "->"
        state = f" [{message['delivery']['state']}]" if "delivery" in message else ""
        print(f"\n{arrow} {message['date']}  {message['kind']}{state}  {message['from']}")
        print(f"   {message['subject']}")
        for note in message["notes"]:
            print(f"   note: {note}")
        for attachment in message["attachments"]:
            print(f"   attachment: {attachment['filename']} ({attachment['size']} bytes)")
        for line in message["text"].splitlines()[:12]:
            print(f"   | {line}")
    return 0


def _outbox(desk: Desk, args: argparse.Namespace) -> int:
    if args.action == "list":
        state = OutboxState(args.state) if args.state else None
        rows = []
        for mail in desk.store.outbox(state):
            record = to_record(mail)
            record.pop("raw")
            record["rcpt_to"] = ", ".join(record["rcpt_to"])
            rows.append(record)
        emit_table(
            rows,
            args.json,
            ["id", "ticket_id", "kind", "state", "attempts", "rcpt_to", "last_error"],
        )
        return 0
    if args.action == "retry":
        mail = retry_outgoing(desk, args.id)
        print(f"{mail.id}: {mail.state.value}")
        return 0
    result = drain_outbox(desk, smtp_sender(desk.config))
    print(_drain_line(result))
    return 0


def _drain_line(result: DrainResult) -> str:
    return (
        f"outbox: {len(result.sent)} sent, {len(result.deferred)} deferred, "
        f"{len(result.failed)} failed"
    )
