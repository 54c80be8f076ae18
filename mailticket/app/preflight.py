"""What `check`, `poll --once` and `run` all verify before they talk to a mail server.

A configuration mistake (an unset password variable, a broken rule file or template, a key file
that is not there) is not a network problem: retrying it with backoff for ever looks healthy to
systemd while no mail is read. So these are found once, the same way by all three commands, and
`run` exits 78 (EX_CONFIG) at start instead of waiting for a person who is never told.
Nothing here opens a connection: logins are `check --connect`'s and the daemon's business.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from mailticket.completeness.rules import check_rules
from mailticket.config import Config
from mailticket.errors import ConfigError, ConfigProblems
from mailticket.outbound.compose import Templates
from mailticket.tls import ca_file_problem


def problems(config: Config) -> dict[str, list[str]]:
    """Each kind of problem with its one-line messages (empty lists when all is well)."""
    rules = [str(e) for e in check_rules(config.rules_path)[1]] if config.rules_path else []
    return {
        "template_errors": Templates(config.templates_path).check(),
        "rule_errors": rules,
        "secret_errors": secret_problems(config),
    }


def require_ready(config: Config) -> None:
    """Raise `ConfigProblems` (exit 78, one line) when `check` would find a problem."""
    found = [message for messages in problems(config).values() for message in messages]
    if found:
        raise ConfigProblems(found)


def secret_problems(config: Config) -> list[str]:
    """Every secret the logins will need can be read now, every key file and CA file is there."""
    found = []
    for section, what in _secrets_needed(config):
        try:
            config.secret(section, what)
        except ConfigError as exc:
            found.append(str(exc))
    for section in _login_sections(config):
        part = getattr(config, section)
        if part.auth == "password" and not (part.password_env or part.password_file):
            found.append(
                f"{config.source}: {section}.password_env: the login of {part.username!r} "
                "needs password_env or password_file / 缺少密码设置"
            )
    for name in _tables_used(config):
        found += _oauth_file_problems(config, name)
    for section in ("imap", "smtp"):
        ca_file = getattr(config, section).tls_ca_file
        problem = ca_file_problem(str(config.path_of(ca_file))) if ca_file else ""
        if problem:
            found.append(f"{config.source}: {section}.tls_ca_file: {problem} / 无法读取证书")
    secret_env = config.desk.secret_env
    if secret_env and not os.environ.get(secret_env):
        found.append(
            f"environment: {secret_env} (from desk.secret_env): environment variable is not "
            "set / 环境变量未设置"
        )
    return found


def _login_sections(config: Config) -> list[str]:
    """The sections that log in: IMAP when it has a host, SMTP when it has a username (or a
    token login)."""
    sections = ["imap"] if config.imap.host else []
    if config.smtp.username or config.smtp.auth != "password":
        sections.append("smtp")
    return sections


def _tables_used(config: Config) -> list[str]:
    used = [getattr(config, s).oauth for s in _login_sections(config)]
    return list(dict.fromkeys(name for name in used if name))


def _secrets_needed(config: Config) -> Iterator[tuple[str, str]]:
    for section in _login_sections(config):
        if getattr(config, section).auth == "password":
            yield section, "password"
    if config.storage.url:
        yield "storage", "password"
    for name in _tables_used(config):
        table: Any = config.oauth[name]
        for what in ("client_secret", "refresh_token"):
            if getattr(table, f"{what}_env") or getattr(table, f"{what}_file"):
                yield f"oauth.{name}", what


def _oauth_file_problems(config: Config, name: str) -> list[str]:
    table = config.oauth[name]
    found = []
    for key in ("certificate_file", "service_account_file", "tls_ca_file"):
        value = getattr(table, key)
        if value and not config.path_of(value).is_file():
            found.append(
                f"{config.source}: oauth.{name}.{key}: {config.path_of(value)} is not a "
                "readable file / 文件不存在"
            )
    if table.kind == ("microsoft", "delegated"):
        cache = config.path_of(table.token_cache_file)
        if not cache.is_file():
            found.append(
                f"{config.source}: oauth.{name}.token_cache_file: {cache} does not exist yet: "
                f"sign in once with `mailticket oauth login {name}` / 请先登录"
            )
    return found
