"""`mailticket` commands: human tables by default, `--json` for scripts, one-line errors."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path

from mailticket import __version__
from mailticket import config as config_module
from mailticket.app import (
    checks,
    init,
    logins,
    logs,
    preflight,
    quarantine,
    report_view,
    rules_test,
    status,
    tickets_view,
)
from mailticket.app import db as db_commands
from mailticket.app.checks import check, check_mail, check_mails, rules_check
from mailticket.app.exits import EX_SOFTWARE, EX_TEMPFAIL, load_config
from mailticket.app.views import emit_table
from mailticket.config import Config
from mailticket.desk.calendar import WEEKDAY_NAMES
from mailticket.desk.context import Desk
from mailticket.desk.sweep import sweep
from mailticket.errors import MailticketError, UsageError
from mailticket.intake.cycle import intake_and_send, open_mailbox
from mailticket.intake.record import take_in
from mailticket.model import OutboxState, to_record
from mailticket.outbound.outbox import (
    DrainResult,
    drain_outbox,
    retry_outgoing,
    smtp_sender,
    smtp_settings,
)
from mailticket.outbound.smtp import send_batch, try_login


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
    parser.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default="human",
        help="log lines on stderr: human (default) or json, one object per line / 日志格式",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run the daemon: IMAP IDLE or polling, outbox, schedule")
    poll = commands.add_parser("poll", help="one intake cycle plus sending what is owed")
    poll.add_argument("--once", action="store_true", required=True, help="run once and exit")

    ingest = commands.add_parser(
        "ingest", help="take in one RFC 5322 message (MTA pipe); exit 75 on temporary failure"
    )
    ingest.add_argument("file", nargs="?", default="-", help="file to read, or - for stdin")

    tickets_view.add_parser(commands)

    outbox = commands.add_parser("outbox", help="mail we owe: list, retry, send now")
    outbox_commands = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    out_list = outbox_commands.add_parser("list", help="list outgoing mail")
    out_list.add_argument("--state", choices=[s.value for s in OutboxState])
    out_list.add_argument("--json", action="store_true")
    retry = outbox_commands.add_parser("retry", help="make a failed or waiting mail due now")
    retry.add_argument("id")
    outbox_commands.add_parser("send", help="send every due mail now")

    quarantine.add_parser(commands)

    checks.add_parsers(commands)

    sla_parser = commands.add_parser("sla", help="the SLA clock: reminders, escalation, notices")
    sla_commands = sla_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sweep_parser = sla_commands.add_parser(
        "sweep", help="act on every threshold that has come (each exactly once)"
    )
    sweep_parser.add_argument("--now", help="as of this moment (ISO 8601), for tests and admins")
    sweep_parser.add_argument("--dry-run", action="store_true", help="say, but do nothing")
    sweep_parser.add_argument("--json", action="store_true")

    calendar = commands.add_parser(
        "calendar", help="which days count as working days / 哪些日子是工作日"
    )
    calendar.add_argument("range", metavar="DATE..DATE", help="e.g. 2026-09-28..2026-10-12")
    calendar.add_argument("--json", action="store_true")

    db_commands.add_parser(commands)
    logins.add_parsers(commands)
    init.add_parser(commands)
    status.add_parser(commands)
    report = commands.add_parser("report", help="complaint statistics / 投诉统计与时限达标")
    report_view.add_arguments(report)

    demo = commands.add_parser(
        "demo", help="run the whole pipeline on sample complaints, no mail server needed"
    )
    demo.add_argument("--dir", help="keep the demo's store and Maildir here (default: temporary)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.setup(args.log_format, logging.DEBUG if args.verbose else logging.INFO)
    if args.command != "run" and not args.verbose:
        logging.getLogger("mailticket").setLevel(logging.WARNING)
    if not args.verbose:  # Alembic says "Context impl SQLiteImpl." at every start
        logging.getLogger("alembic").setLevel(logging.WARNING)
    # Every file and folder any command creates (the store, exports, token caches, a demo's
    # Maildir) is its user's alone, whatever the umask of the shell, cron job or unit.
    init.private_umask()
    try:
        return _dispatch(args)
    except MailticketError as exc:
        print(f"mailticket: error: {exc}", file=sys.stderr)
        return EX_TEMPFAIL if args.command == "ingest" else exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `mailticket tickets list | head`
        return 0
    except Exception as exc:  # a bug: say so in one line; -v shows where
        logging.getLogger("mailticket").debug("internal error", exc_info=True)
        print(f"mailticket: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
              file=sys.stderr)  # fmt: skip
        return EX_TEMPFAIL if args.command == "ingest" else EX_SOFTWARE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from mailticket.app.demo import run_demo

        return run_demo(Path(args.dir) if args.dir else None)
    if args.command == "check" and args.file:
        single = len(args.file) == 1 and not Path(args.file[0]).is_dir()
        return check_mail(args) if single else check_mails(args)
    if args.command == "init":
        return init.run(args)
    if args.command == "rules":
        return rules_test.run(args) if args.action == "test" else rules_check(args)
    config = load_config(args)
    if args.command == "sla":
        return _sla_sweep(config, args.now, args.dry_run, args.json)
    if args.command == "calendar":
        return _calendar(config, args.range, args.json)
    if args.command == "oauth":
        return logins.oauth_login(config, args)
    if args.command == "check":
        code = check(config, args.json, logins.connect_report(config) if args.connect else {})
        return code
    if args.command in ("run", "poll"):  # a mistake found now, not retried for ever
        preflight.require_ready(config)
    if args.command == "ingest":
        return _ingest(config, args.file)
    if args.command == "status":
        return status.run(config, args.json)
    if args.command == "db":
        return db_commands.run(config, args)
    desk = Desk.open(config)
    try:
        return _with_desk(desk, args)
    finally:  # a PostgreSQL pool's connections closed now, not by the garbage collector
        desk.store.close()


def _with_desk(desk: Desk, args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run_daemon(desk)
    if args.command == "poll":
        return _poll_once(desk)
    if args.command == "tickets":
        return tickets_view.run(desk, args)
    if args.command == "outbox":
        return _outbox(desk, args)
    if args.command == "report":
        try:
            return report_view.run(desk, args)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.command == "quarantine":
        return quarantine.run(desk, args, smtp_sender(desk.config))
    raise AssertionError(args.command)


def _run_daemon(desk: Desk) -> int:
    from mailticket.app.daemon import Daemon

    settings = smtp_settings(desk.config)
    login = (lambda: try_login(settings)) if settings.username or settings.tokens else None
    Daemon(desk, functools.partial(send_batch, settings), smtp_check=login).run_forever()
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
    send = smtp_sender(config)
    result = DrainResult()
    if config.imap.host:
        mailbox = open_mailbox(config)
        try:
            counts, result = intake_and_send(desk, mailbox, send)
        finally:
            mailbox.close()
        print(
            "intake: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing new")
        )
    result.add(drain_outbox(desk, send))  # what was due before, or is due again
    print(_drain_line(result))
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


def _calendar(config: Config, span: str, as_json: bool) -> int:
    try:
        first, last = (date.fromisoformat(part.strip()) for part in span.split("..", 1))
    except ValueError:
        raise UsageError(f"expected DATE..DATE like 2026-09-28..2026-10-12, got {span!r}") from None
    if not 0 <= (last - first).days <= 3660:
        raise UsageError("the range must run forwards and span at most ten years")
    calendar = config.business_calendar
    days = [calendar.info(first + timedelta(days=n)) for n in range((last - first).days + 1)]
    rows = [
        {
            "date": d.day.isoformat(),
            "weekday": WEEKDAY_NAMES[d.day.weekday()],
            "working": d.working,
            "why": d.why,
        }
        for d in days
    ]
    unofficial = calendar.unofficial_years(range(first.year, last.year + 1))
    if as_json:
        print(
            json.dumps({"days": rows, "unofficial_years": unofficial}, ensure_ascii=False, indent=2)
        )
        return 0
    for row in rows:
        row["working"] = "yes 上班" if row["working"] else "no 休息"
    emit_table(rows, False, ["date", "weekday", "working", "why"])
    print(f"{sum(d.working for d in days)} working days of {len(days)}")
    for year in unofficial:
        print(
            f"warning: China's official holiday schedule for {year} is not known yet; "
            "add its holidays and make-up days in [calendar] / 尚无该年官方放假安排",
            file=sys.stderr,
        )
    return 0


def _sla_sweep(config: Config, now_text: str | None, dry_run: bool, as_json: bool) -> int:
    try:
        now = datetime.fromisoformat(now_text) if now_text else None
    except ValueError:
        message = f"--now must be ISO 8601 like 2026-12-01T09:30+08:00: {now_text!r}"
        raise UsageError(message) from None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=config.zone)
    desk = Desk.open(config)
    actions = sweep(desk, now=now, dry_run=dry_run)
    if not dry_run:
        drain_outbox(desk, smtp_sender(config))
    rows = [{**asdict(a), "to": ", ".join(a.to)} for a in actions]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    emit_table(rows, False, ["ticket_id", "threshold", "action", "to"])
    verb = "would send" if dry_run else "sent"
    print(f"{len(actions)} action(s); {verb} as of {(now or desk.clock()).isoformat()}")
    return 0
