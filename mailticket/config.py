"""Load `mailticket.toml`, overlay `MAILTICKET_<SECTION>_<KEY>` variables, validate everything.

The dataclasses below are the schema: a key is known when it is a field, and its type is the
field's type. Errors name the file, the key and, where the file has it, the line.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tomllib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailticket import environment
from mailticket.config_sections import (
    AgentsConfig,
    CalendarConfig,
    DeskConfig,
    ImapConfig,
    LimitsConfig,
    OutboxConfig,
    RulesConfig,
    SlaConfig,
    SmtpConfig,
    StorageConfig,
    TemplatesConfig,
)
from mailticket.desk.calendar import WEEKDAY_NAMES, BusinessCalendar
from mailticket.errors import ConfigError
from mailticket.oauth.config import OAuthConfig, build_oauth, validate_oauth
from mailticket.toml_lines import decode_error_line, line_of

DEFAULT_PATH = "mailticket.toml"


SECURITY_MODES = ("none", "starttls", "ssl")


log = logging.getLogger("mailticket.config")


# Keys an older mailticket knew: accepted with a one-line warning, so an old config still runs.
DEPRECATED = {
    ("storage", "archive_after_days"): "ignored since the SQL store: closed tickets need no "
    "archive / 已废弃，忽略：SQL 存储无需归档已关闭工单",
}


@dataclass(frozen=True)
class Config:
    desk: DeskConfig
    imap: ImapConfig = field(default_factory=ImapConfig)
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    agents: AgentsConfig = field(default_factory=AgentsConfig)
    sla: SlaConfig = field(default_factory=SlaConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    oauth: dict[str, OAuthConfig] = field(default_factory=dict)
    source: str = field(default="<defaults>", compare=False)
    base_dir: Path = field(default=Path("."), compare=False)

    @property
    def storage_path(self) -> Path:
        return self.base_dir / self.storage.path

    @property
    def templates_path(self) -> Path | None:
        """The admin's template folder, tried before the packaged templates."""
        return self.base_dir / self.templates.path if self.templates.path else None

    @property
    def rules_path(self) -> Path | None:
        """The folder of completeness rule files; None scores nothing (plain receipts)."""
        return self.base_dir / self.rules.path if self.rules.path else None

    @property
    def desk_domain(self) -> str:
        return self.desk.address.rpartition("@")[2]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.desk.timezone)

    @cached_property
    def business_calendar(self) -> BusinessCalendar:
        part = self.calendar
        return BusinessCalendar(
            zone=self.zone,
            weekdays=frozenset(WEEKDAY_NAMES.index(d.lower()) for d in part.working_days),
            work_start=time.fromisoformat(part.work_start),
            work_end=time.fromisoformat(part.work_end),
            days_off=frozenset(date.fromisoformat(d) for d in part.holidays),
            days_on=frozenset(date.fromisoformat(d) for d in part.workdays),
        )

    def team_for(self, category: str) -> str:
        """The team that handles a category's unassigned tickets, else the general team."""
        for entry in self.agents.teams:
            name, _, address = entry.partition("=")
            if name.strip() == category:
                return address.strip()
        return self.agents.team_address

    def is_agent(self, address: str) -> bool:
        """Listed in `[agents] addresses` or at one of `domains`; never the desk itself (its
        own mail coming back is a loop, not an agent)."""
        address = address.lower()
        if not address or address == self.desk.address.lower():
            return False
        domain = address.rpartition("@")[2]
        return address in {a.lower() for a in self.agents.addresses} or domain in {
            d.lower() for d in self.agents.domains
        }

    def password(self, section: str) -> str:
        """The IMAP or SMTP password from `password_env` or `password_file`, read when needed."""
        return self.secret(section, "password")

    def secret(self, section: str, what: str) -> str:
        """A secret from `<what>_env` or `<what>_file` of a section (`imap`, `oauth.m365`)."""
        if section.startswith("oauth."):
            part: Any = self.oauth[section.removeprefix("oauth.")]
        else:
            part = getattr(self, section)
        env, file = getattr(part, f"{what}_env"), getattr(part, f"{what}_file")
        if env:
            value = os.environ.get(env)
            if value is None:
                raise ConfigError(
                    f"environment variable {env} is not set / 环境变量未设置",
                    path="environment",
                    key=f"{env} (from {section}.{what}_env)",
                )
            return value
        if file:
            path = self.path_of(file)
            try:
                return path.read_text(encoding="utf-8").strip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"cannot read {path}: {exc.strerror}",
                    path=self.source,
                    key=f"{section}.{what}_file",
                ) from None
        return ""

    def path_of(self, value: str) -> Path:
        """A path from the config: relative ones are taken from the config file's folder."""
        return self.base_dir / value


SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Config)[f.name]
    for f in dataclasses.fields(Config)
    if f.name not in ("source", "base_dir", "oauth")
}


def config_path(cli_value: str | None) -> tuple[Path, bool]:
    """The file to read, and whether the user named it (then it must exist)."""
    if cli_value:
        return Path(cli_value), True
    if os.environ.get(environment.CONFIG_VARIABLE):
        return Path(os.environ[environment.CONFIG_VARIABLE]), True
    return Path(DEFAULT_PATH), False


def load(path: Path, *, required: bool = True, environ: dict[str, str] | None = None) -> Config:
    environ = dict(os.environ) if environ is None else environ
    source = str(path)
    text = ""
    if path.exists() or required:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(_NOT_FOUND, path=source) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", path=source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = decode_error_line(exc)
        raise ConfigError(f"invalid TOML: {exc}", path=source, line=line) from None
    from_env = environment.overlay(data, SECTIONS, environ)
    if "desk" not in data and not path.exists():
        raise ConfigError(
            f"config file not found, and neither --config nor ${environment.CONFIG_VARIABLE} "
            f"names one ({_INIT})",
            path=source,
        )
    base_dir = path.parent if path.exists() else Path(".")
    config = _build(data, source, text, base_dir)
    _validate(config, text, from_env)
    environment.check_unknown(environ, environment.known_names(SECTIONS, secret_names(config)))
    return config


_INIT = "`mailticket init DIR` writes one / 配置文件不存在"


_NOT_FOUND = f"config file not found ({_INIT})"


def secret_names(config: Config) -> list[str]:
    """The environment variables the config's `*_env` keys name (passwords, secrets)."""
    parts: list[Any] = [getattr(config, section) for section in SECTIONS]
    parts += config.oauth.values()
    return [
        value
        for part in parts
        for f in dataclasses.fields(part)
        if f.name.endswith("_env") and (value := getattr(part, f.name))
    ]


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is list:
        return "a list of integers" if typing.get_args(hint) == (int,) else "a list of strings"
    return {str: "a string", int: "an integer", bool: "true or false"}.get(hint, str(hint))


def _check_type(hint: Any, value: Any) -> bool:
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typing.get_origin(hint) is list:
        (item_type,) = typing.get_args(hint)
        return isinstance(value, list) and all(_check_type(item_type, v) for v in value)
    return isinstance(value, hint)


def _build(data: dict[str, Any], source: str, text: str, base_dir: Path) -> Config:
    sections: dict[str, Any] = {}
    for section, value in data.items():
        if section == "oauth":
            sections["oauth"] = build_oauth(value, source, text, _check_type, _type_name)
            continue
        if section not in SECTIONS:
            known = ", ".join([*(f"[{s}]" for s in SECTIONS), "[oauth.NAME]"])
            raise ConfigError(
                f"unknown section (known: {known})",
                path=source,
                key=f"[{section}]",
                line=line_of(text, section),
            )
        if not isinstance(value, dict):
            raise ConfigError(
                "must be a table", path=source, key=section, line=line_of(text, section)
            )
        section_type = SECTIONS[section]
        hints = typing.get_type_hints(section_type)
        value = _without_deprecated(section, value, source, text)
        for key, item in value.items():
            where = f"{section}.{key}"
            line = line_of(text, section, key)
            if key not in hints:
                raise ConfigError(
                    f"unknown key (known: {', '.join(hints)})", path=source, key=where, line=line
                )
            if not _check_type(hints[key], item):
                raise ConfigError(
                    f"must be {_type_name(hints[key])}, not {type(item).__name__}",
                    path=source,
                    key=where,
                    line=line,
                )
        sections[section] = section_type(**value)
    if "desk" not in sections:
        raise ConfigError("missing section [desk] (with at least `address`)", path=source)
    return Config(**sections, source=source, base_dir=base_dir)


def _without_deprecated(
    section: str, value: dict[str, Any], source: str, text: str
) -> dict[str, Any]:
    """The section without the keys only an older mailticket used, each warned about once."""
    kept = {}
    for key, item in value.items():
        why = DEPRECATED.get((section, key))
        if why is None:
            kept[key] = item
            continue
        line = line_of(text, section, key)
        where = f"{source}:{line}" if line is not None else source
        log.warning("%s: %s.%s: %s", where, section, key, why)
    return kept


_ADDRESS = re.compile(r"^[^@\s<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^[^@\s<>]+@localhost$")


def _validate(config: Config, text: str, from_env: dict[tuple[str, str], str]) -> None:
    def fail(section: str, key: str, message: str) -> NoReturn:
        if (section, key) in from_env:  # the variable is what to fix, not the file
            name = from_env[(section, key)]
            raise ConfigError(message, path=environment.WHERE, key=f"{name} ({section}.{key})")
        raise ConfigError(
            message, path=config.source, key=f"{section}.{key}", line=line_of(text, section, key)
        )

    if not _ADDRESS.match(config.desk.address):
        fail("desk", "address", f"must be an e-mail address, got {config.desk.address!r}")
    if not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", config.desk.ticket_prefix):
        fail(
            "desk",
            "ticket_prefix",
            "must be 2-10 capital letters or digits, starting with a letter",
        )
    try:
        ZoneInfo(config.desk.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail("desk", "timezone", f"unknown time zone {config.desk.timezone!r}")
    if config.desk.stranger_tag not in ("new_ticket", "attach"):
        fail("desk", "stranger_tag", "must be new_ticket or attach")
    if config.desk.sla_working_days < 1:
        fail("desk", "sla_working_days", "must be at least 1")
    for section in ("imap", "smtp"):
        part = getattr(config, section)
        if part.security not in SECURITY_MODES:
            fail(section, "security", f"must be one of {', '.join(SECURITY_MODES)}")
        if not 0 < part.port < 65536:
            fail(section, "port", "must be between 1 and 65535")
        if part.password_env and part.password_file:
            fail(section, "password_file", "set password_env or password_file, not both")
    validate_oauth(
        config.oauth,
        {s: (getattr(config, s).auth, getattr(config, s).oauth) for s in ("imap", "smtp")},
        config.source,
        text,
    )
    if config.imap.host and not config.imap.username:
        fail("imap", "username", "is required when imap.host is set")
    for key in ("poll_interval", "batch_size", "timeout"):
        if getattr(config.imap, key) < 1:
            fail("imap", key, "must be at least 1")
    if not 2 <= config.storage.failover_seconds <= 3600:
        fail("storage", "failover_seconds", "must be between 2 and 3600")
    _validate_calendar(config.calendar, fail)
    if config.templates_path and not config.templates_path.is_dir():
        fail("templates", "path", f"{config.templates_path} is not a folder")
    if config.rules_path and not config.rules_path.is_dir():
        fail("rules", "path", f"{config.rules_path} is not a folder")
    if config.limits.auto_replies_per_sender_per_hour < 1:
        fail("limits", "auto_replies_per_sender_per_hour", "must be at least 1")
    if config.limits.mail_seconds < 1:
        fail("limits", "mail_seconds", "must be at least 1")
    if config.limits.max_mail_bytes < 64 * 1024:
        fail("limits", "max_mail_bytes", "must be at least 65536")
    for address in config.agents.addresses:
        if not _ADDRESS.match(address):
            fail("agents", "addresses", f"{address!r} is not an e-mail address")
    for entry in config.agents.teams:
        category, _, address = entry.partition("=")
        if not category.strip() or not _ADDRESS.match(address.strip()):
            fail("agents", "teams", f"{entry!r} is not category_id=team@example.com")
    for key in ("team_address", "supervisor"):
        address = getattr(config.agents, key)
        if address and not _ADDRESS.match(address):
            fail("agents", key, f"{address!r} is not an e-mail address")
    for domain in config.agents.domains:
        if not _ADDRESS.match(f"agent@{domain}"):
            fail("agents", "domains", f"{domain!r} is not a domain (write it without @)")
    if config.agents.reopen_days < 0:
        fail("agents", "reopen_days", "must be 0 or more")
    if config.agents.attach_max_bytes < 0:
        fail("agents", "attach_max_bytes", "must be 0 or more")


def _validate_calendar(part: CalendarConfig, fail: Callable[[str, str, str], None]) -> None:
    for name in part.working_days:
        if name.lower() not in WEEKDAY_NAMES:
            fail("calendar", "working_days", f"{name!r} is not one of {', '.join(WEEKDAY_NAMES)}")
    times = {}
    for key in ("work_start", "work_end"):
        try:
            times[key] = time.fromisoformat(getattr(part, key))
        except ValueError:
            fail("calendar", key, f"must be a time like 09:00, got {getattr(part, key)!r}")
    if times["work_start"] >= times["work_end"]:
        fail("calendar", "work_end", "must be later than work_start")
    for key in ("holidays", "workdays"):
        for value in getattr(part, key):
            try:
                date.fromisoformat(value)
            except ValueError:
                fail("calendar", key, f"{value!r} is not a date like 2027-02-05")
