"""OAuth2 access tokens for IMAP and SMTP (XOAUTH2, OAUTHBEARER).

Owns: the `[oauth.NAME]` schema (`config`), tokens and their refresh (`tokens`), and one module
per provider, each the only importer of its library: `microsoft` (msal), `google`
(google-auth), `command` (an external program). May import: `errors`, `toml_lines`.
`token_source` builds the `Tokens` of one table from the loaded configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailticket.oauth.tokens import Fetch, Token, Tokens

if TYPE_CHECKING:
    from mailticket.config import Config

__all__ = ["Token", "Tokens", "provider", "section_tokens", "token_source"]


def provider(config: Config, name: str, clock: Callable[[], datetime]) -> Fetch:
    """The provider of `[oauth.NAME]`, with its secrets read now (a `ConfigError` if missing)."""
    table = config.oauth[name]
    ca_file = config.path_of(table.tls_ca_file) if table.tls_ca_file else None
    section = f"oauth.{name}"
    kind = table.kind
    if kind == ("microsoft", "client_credentials"):
        from mailticket.oauth.microsoft import MicrosoftAppOnly

        credential: str | dict[str, str]
        if table.certificate_file:
            pem = config.path_of(table.certificate_file).read_text(encoding="utf-8")
            credential = {"private_key": pem, "thumbprint": table.certificate_thumbprint}
            if "BEGIN CERTIFICATE" in pem:
                credential["public_certificate"] = pem
        else:
            credential = config.secret(section, "client_secret")
        return MicrosoftAppOnly(table, credential, clock, ca_file=ca_file)
    if kind == ("microsoft", "delegated"):
        from mailticket.oauth.microsoft import MicrosoftDelegated

        cache = config.path_of(table.token_cache_file)
        return MicrosoftDelegated(table, cache, clock, ca_file=ca_file)
    if kind == ("google", "service_account"):
        from mailticket.oauth.google import GoogleServiceAccount

        key = config.path_of(table.service_account_file)
        return GoogleServiceAccount(table, key, clock, ca_file=ca_file)
    if kind == ("google", "refresh_token"):
        from mailticket.oauth.google import GoogleRefreshToken

        refresh = config.secret(section, "refresh_token")
        secret = config.secret(section, "client_secret")
        return GoogleRefreshToken(table, refresh, secret, clock, ca_file=ca_file)
    from mailticket.oauth.command import CommandTokens

    return CommandTokens(table, clock)


def token_source(config: Config, name: str, clock: Callable[[], datetime]) -> Tokens:
    return Tokens(name, provider(config, name, clock), clock)


def system_clock() -> datetime:
    return datetime.now(UTC)


def section_tokens(
    config: Config, section: str, clock: Callable[[], datetime] = system_clock
) -> Tokens | None:
    """The tokens `[imap]` or `[smtp]` logs in with, or None for a password login."""
    part = getattr(config, section)
    if part.auth == "password":
        return None
    return token_source(config, part.oauth, clock)
