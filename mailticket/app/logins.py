"""Logins an admin tries by hand: `mailticket oauth login NAME` (Microsoft device code) and
`mailticket check --connect` (IMAP and SMTP logins, password or token, before the daemon runs).
Secrets and tokens are never printed; a failure is one line naming what failed."""

from __future__ import annotations

import argparse
from typing import Any

from mailticket.config import Config
from mailticket.errors import ConfigError, MailticketError, UsageError
from mailticket.intake.cycle import open_mailbox
from mailticket.oauth import provider, section_tokens, system_clock
from mailticket.outbound.outbox import smtp_settings
from mailticket.outbound.smtp import try_login


def add_parsers(commands: Any) -> None:
    oauth = commands.add_parser("oauth", help="OAuth2 sign-in for [oauth.NAME] / OAuth2 登录")
    actions = oauth.add_subparsers(dest="action", required=True, metavar="ACTION")
    login = actions.add_parser(
        "login", help="sign in once with a device code (Microsoft delegated) / 用设备码登录"
    )
    login.add_argument("name", metavar="NAME", help="the table [oauth.NAME]")


def oauth_login(config: Config, args: argparse.Namespace) -> int:
    name = args.name
    if name not in config.oauth:
        known = ", ".join(config.oauth) or "none"
        raise UsageError(f"no table [oauth.{name}] in {config.source} (defined: {known})")
    table = config.oauth[name]
    if table.kind != ("microsoft", "delegated"):
        raise UsageError(
            f"[oauth.{name}] is {table.provider} {table.kind[1]}: it needs no sign-in / 无需登录"
        )
    source = provider(config, name, system_clock)
    who = source.login(lambda text: print(text, flush=True))  # type: ignore[attr-defined]
    print(f"signed in as {who}; token cache {config.path_of(table.token_cache_file)} (0600)")
    print(f"已登录：{who}")
    return 0


def connect_report(config: Config) -> dict[str, str]:
    """'ok' or the one-line reason for IMAP and SMTP (a login only: nothing is sent)."""
    report: dict[str, str] = {}
    if config.imap.host:
        try:
            open_mailbox(config, section_tokens(config, "imap")).close()
            report["imap_login"] = "ok"
        except (MailticketError, ConfigError) as exc:
            report["imap_login"] = str(exc)
    else:
        report["imap_login"] = "(not configured)"
    try:
        error = try_login(smtp_settings(config))
        report["smtp_login"] = "ok" if error is None else str(error)
    except MailticketError as exc:
        report["smtp_login"] = str(exc)
    return report
