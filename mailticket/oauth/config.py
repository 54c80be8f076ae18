"""The `[oauth.NAME]` tables of mailticket.toml: schema and validation (standard library only).

Each table names one token source; `[imap] oauth` / `[smtp] oauth` refer to it by NAME. Errors
are `ConfigError`s naming the file, `oauth.NAME.key` and the line, like the rest of config.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailticket.errors import ConfigError
from mailticket.toml_lines import line_of

AUTH_MODES = ("password", "xoauth2", "oauthbearer")
# provider -> its flows; the first is the default
FLOWS = {
    "microsoft": ("client_credentials", "delegated"),
    "google": ("service_account", "refresh_token"),
    "command": ("command",),
}
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_SCOPES = {
    ("microsoft", "client_credentials"): ["https://outlook.office365.com/.default"],
    ("microsoft", "delegated"): [
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
    ],
    ("google", "service_account"): ["https://mail.google.com/"],
    ("google", "refresh_token"): ["https://mail.google.com/"],
}


@dataclass(frozen=True)
class OAuthConfig:
    """One token source. Secrets are never values here: only where to read them."""

    provider: str = ""
    flow: str = ""
    tenant: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    client_secret_file: str = ""
    certificate_file: str = ""  # PEM with the private key (and certificate), Microsoft app-only
    certificate_thumbprint: str = ""
    authority: str = ""  # default https://login.microsoftonline.com/<tenant>
    scopes: list[str] = field(default_factory=list)
    token_cache_file: str = ""  # Microsoft delegated: MSAL's cache with the refresh token
    service_account_file: str = ""
    subject: str = ""  # Google: the mailbox the service account acts for
    refresh_token_env: str = ""
    refresh_token_file: str = ""
    token_uri: str = ""
    command: list[str] = field(default_factory=list)
    token_lifetime_seconds: int = 600  # command: when its token is taken as expired
    tls_ca_file: str = ""  # a private CA for the identity provider's HTTPS
    name: str = field(default="", compare=False)

    @property
    def kind(self) -> tuple[str, str]:
        return self.provider, self.flow or FLOWS.get(self.provider, ("",))[0]

    @property
    def scope_list(self) -> list[str]:
        return list(self.scopes) or list(DEFAULT_SCOPES.get(self.kind, []))

    @property
    def authority_url(self) -> str:
        return self.authority or f"{MICROSOFT_AUTHORITY}{self.tenant}"


_HINTS = {k: v for k, v in typing.get_type_hints(OAuthConfig).items() if k != "name"}
_REQUIRED = {
    ("microsoft", "client_credentials"): ("client_id",),
    ("microsoft", "delegated"): ("client_id", "token_cache_file"),
    ("google", "service_account"): ("service_account_file", "subject"),
    ("google", "refresh_token"): ("client_id",),
    ("command", "command"): ("command",),
}

Checker = Callable[[Any, Any], bool]
Namer = Callable[[Any], str]


def build_oauth(
    data: Any, source: str, text: str, check_type: Checker, type_name: Namer
) -> dict[str, OAuthConfig]:
    """The `[oauth]` section as {NAME: OAuthConfig}, each table checked for known keys and types."""
    if not isinstance(data, dict):
        raise ConfigError("must be a table of [oauth.NAME] tables", path=source, key="oauth")
    tables = {}
    for name, table in data.items():
        where = f"oauth.{name}"
        if not isinstance(table, dict):
            raise ConfigError(
                "must be a table ([oauth.NAME])",
                path=source,
                key=where,
                line=line_of(text, "oauth", name),
            )
        for key, value in table.items():
            line = line_of(text, "oauth", name, key)
            if key not in _HINTS:
                raise ConfigError(
                    f"unknown key (known: {', '.join(_HINTS)})",
                    path=source,
                    key=f"{where}.{key}",
                    line=line,
                )
            if not check_type(_HINTS[key], value):
                raise ConfigError(
                    f"must be {type_name(_HINTS[key])}, not {type(value).__name__}",
                    path=source,
                    key=f"{where}.{key}",
                    line=line,
                )
        tables[name] = OAuthConfig(**table, name=name)
    return tables


def validate_oauth(
    tables: dict[str, OAuthConfig], users: dict[str, tuple[str, str]], source: str, text: str
) -> None:
    """Each table complete for its provider and flow; `users` maps a section (imap, smtp) to
    its (auth, oauth) and every one that asks for a token names a table that exists."""

    def fail(path: tuple[str, ...], message: str) -> typing.NoReturn:
        raise ConfigError(
            message, path=source, key=".".join(path), line=line_of(text, *path, nearest=True)
        )

    for section, (auth, oauth) in users.items():
        if auth not in AUTH_MODES:
            fail((section, "auth"), f"must be one of {', '.join(AUTH_MODES)}")
        if auth == "password" and oauth:
            fail((section, "oauth"), f"is used only with {section}.auth = xoauth2 or oauthbearer")
        if auth != "password" and not oauth:
            fail((section, "oauth"), f"must name an [oauth.NAME] table for auth = {auth}")
        if auth != "password" and oauth not in tables:
            known = ", ".join(tables) or "none"
            fail((section, "oauth"), f"no table [oauth.{oauth}] (defined: {known})")
    for name, table in tables.items():
        _validate_table(name, table, fail)


def _validate_table(
    name: str, table: OAuthConfig, fail: Callable[[tuple[str, ...], str], typing.NoReturn]
) -> None:
    base = ("oauth", name)
    if table.provider not in FLOWS:
        fail((*base, "provider"), f"must be one of {', '.join(FLOWS)}")
    if table.flow and table.flow not in FLOWS[table.provider]:
        fail((*base, "flow"), f"must be one of {', '.join(FLOWS[table.provider])}")
    for key in _REQUIRED[table.kind]:
        if not getattr(table, key):
            fail((*base, key), f"is required for provider {table.provider} ({table.kind[1]})")
    for one, other in (
        ("client_secret_env", "client_secret_file"),
        ("refresh_token_env", "refresh_token_file"),
        ("client_secret_file", "certificate_file"),
        ("client_secret_env", "certificate_file"),
    ):
        if getattr(table, one) and getattr(table, other):
            fail((*base, other), f"set {one} or {other}, not both")
    kind = table.kind
    if kind == ("microsoft", "client_credentials"):
        if not (table.client_secret_env or table.client_secret_file or table.certificate_file):
            fail(base, "needs client_secret_env, client_secret_file or certificate_file")
        if table.certificate_file and not table.certificate_thumbprint:
            fail((*base, "certificate_thumbprint"), "is required with certificate_file")
    if kind[0] == "microsoft" and not (table.tenant or table.authority):
        fail((*base, "tenant"), "is required (or authority)")
    if table.authority and not table.authority.startswith("https://"):
        fail((*base, "authority"), "must be an https:// address")
    if kind == ("google", "refresh_token") and not (
        table.refresh_token_env or table.refresh_token_file
    ):
        fail(base, "needs refresh_token_env or refresh_token_file")
    if table.token_lifetime_seconds < 60:
        fail((*base, "token_lifetime_seconds"), "must be at least 60")
