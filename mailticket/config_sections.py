"""The config's sections, one frozen dataclass a TOML table: a key is known when it is a
field, and its type is the field's type. `config` reads the file into them and checks the
values, and callers take the sections from `mailticket.config` as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ImapConfig:
    host: str = ""
    port: int = 993
    security: str = "ssl"
    username: str = ""
    auth: str = "password"  # password | xoauth2 | oauthbearer
    oauth: str = ""  # NAME of the [oauth.NAME] table that gives the tokens
    password_env: str = ""
    password_file: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    idle: bool = True
    poll_interval: int = 60
    batch_size: int = 50
    timeout: int = 30
    tls_verify: bool = True
    tls_ca_file: str = ""  # a private CA (PEM) that signed the server's certificate


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str = ""
    auth: str = "password"
    oauth: str = ""
    password_env: str = ""
    password_file: str = ""
    timeout: int = 30
    batch_size: int = 100
    tls_verify: bool = True
    tls_ca_file: str = ""


@dataclass(frozen=True)
class DeskConfig:
    address: str = ""
    name: str = "Complaint Desk"
    ticket_prefix: str = "TKT"
    timezone: str = "Asia/Shanghai"
    sla_working_days: int = 7
    escalation_path: str = ""
    secret_env: str = ""
    stranger_tag: str = "new_ticket"


@dataclass(frozen=True)
class CalendarConfig:
    working_days: list[str] = field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    work_start: str = "09:00"
    work_end: str = "18:00"
    holidays: list[str] = field(default_factory=list)
    workdays: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StorageConfig:
    path: str = "var/mailticket"
    lock_timeout: int = 30
    # Empty: SQLite in `path`/mailticket.db. Or `postgresql+psycopg://user@host/db`, the
    # password from `password_env` or `password_file` (never in the URL here).
    url: str = ""
    password_env: str = ""
    password_file: str = ""
    # PostgreSQL with several daemons: how long a frozen or unreachable daemon keeps the
    # intake (and its one mail in doubt) before the server ends its session and another
    # daemon takes over.
    failover_seconds: int = 10


@dataclass(frozen=True)
class AgentsConfig:
    addresses: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    team_address: str = ""
    teams: list[str] = field(default_factory=list)  # "category_id=team@example.com"
    supervisor: str = ""
    require_authentication: bool = True
    trusted_authserv_ids: list[str] = field(default_factory=list)
    # Exchange Online desks: trust X-MS-Exchange-Organization-AuthAs: Internal (opt-in; README)
    trust_exchange_internal: bool = False
    reopen_days: int = 7
    # The customer's files attached to an agent's notice, at most this many bytes a mail (the
    # rest listed; `#attachments` sends them all); 0 lists them only.
    attach_max_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class SlaConfig:
    first_response_hours: int = 8
    reminder_percents: list[int] = field(default_factory=lambda: [50, 80])
    pause_while_pending: bool = True
    delay_extension_days: int = 3
    info_reminder_days: int = 2
    auto_close_days: int = 7
    digest_time: str = "09:00"
    urgent_percent: int = 25
    high_percent: int = 50
    low_percent: int = 200


@dataclass(frozen=True)
class OutboxConfig:
    retry_base_seconds: int = 60
    retry_max_seconds: int = 3600
    stale_sending_seconds: int = 300


@dataclass(frozen=True)
class LimitsConfig:
    max_attachment_bytes: int = 20 * 1024 * 1024
    auto_replies_per_sender_per_hour: int = 3
    # One mail may take this long in intake (parse, redact, score, record) before it is
    # quarantined, and be this big: the rest of the inbox must not wait behind it.
    mail_seconds: int = 30
    max_mail_bytes: int = 64 * 1024 * 1024
    identical_reply_hours: int = 24


@dataclass(frozen=True)
class TemplatesConfig:
    path: str = ""


# The rule files shipped inside the package (a wheel has no repository `rules/` folder): the
# default of `[rules] path`, so an installed desk scores complaints without copying files.
BUILTIN_RULES = Path(__file__).resolve().parent / "rules_default"


@dataclass(frozen=True)
class RulesConfig:
    path: str = str(BUILTIN_RULES)
