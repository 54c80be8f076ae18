"""Microsoft 365 (Entra ID) tokens through msal, the only importer of msal.

App-only: client credentials (a secret or a certificate), scope
`https://outlook.office365.com/.default`; the app needs IMAP.AccessAsApp / SMTP.SendAsApp.
Delegated: one sign-in with a device code (`mailticket oauth login NAME`) and MSAL's token cache
in a file (0600), saved whenever MSAL changed it, so a rotated refresh token is never lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msal

from mailticket.errors import TokenError
from mailticket.oauth.config import MICROSOFT_AUTHORITY, OAuthConfig
from mailticket.oauth.http import Session
from mailticket.oauth.tokens import Token, write_private
from mailticket.private import make_private

Clock = Callable[[], datetime]


def _options(table: OAuthConfig, ca_file: Path | None) -> dict[str, Any]:
    options: dict[str, Any] = {"authority": table.authority_url, "http_client": Session(ca_file)}
    if not table.authority_url.startswith(MICROSOFT_AUTHORITY):
        options["instance_discovery"] = False  # a sovereign cloud or a private test IdP
    return options


def _token(table: OAuthConfig, result: dict[str, Any] | None, clock: Clock) -> Token:
    if result and "access_token" in result:
        lifetime = int(result.get("expires_in", 3600))
        return Token(result["access_token"], clock() + timedelta(seconds=lifetime))
    result = result or {}
    error = result.get("error", "no token")
    text = str(result.get("error_description", "")).splitlines()[0:1]
    raise TokenError(
        f"Microsoft refused a token for [oauth.{table.name}] / 微软拒绝发放令牌: "
        f"{error}: {' '.join(text)}".rstrip(": ")
    )


class MicrosoftAppOnly:
    """Client credentials for the app registration; MSAL caches the token in memory."""

    def __init__(
        self, table: OAuthConfig, credential: str | dict[str, str], clock: Clock, *,
        ca_file: Path | None = None,
    ) -> None:  # fmt: skip
        self.table, self.clock = table, clock
        self._make = lambda: msal.ConfidentialClientApplication(
            table.client_id, client_credential=credential, **_options(table, ca_file)
        )
        self._app = self._make()

    def __call__(self, *, force: bool) -> Token:
        if force:  # acquire_token_for_client has no force_refresh: a new app has no cache
            self._app = self._make()
        try:
            result = self._app.acquire_token_for_client(scopes=self.table.scope_list)
        except (OSError, ValueError) as exc:  # requests' errors are OSErrors
            raise TokenError(f"[oauth.{self.table.name}]: cannot reach Microsoft: {exc}") from None
        return _token(self.table, result, self.clock)


class MicrosoftDelegated:
    """A signed-in mailbox: the refresh token lives in MSAL's cache file."""

    def __init__(
        self, table: OAuthConfig, cache_file: Path, clock: Clock, *, ca_file: Path | None = None,
        username: str = "",
    ) -> None:  # fmt: skip
        self.table, self.clock, self.cache_file, self.username = table, clock, cache_file, username
        self.cache = msal.SerializableTokenCache()
        if cache_file.exists():
            make_private(cache_file)  # the refresh token: an older copy may be 0644
            self.cache.deserialize(cache_file.read_text(encoding="utf-8"))
        self.app = msal.PublicClientApplication(
            table.client_id, token_cache=self.cache, **_options(table, ca_file)
        )

    def _save(self) -> None:
        if self.cache.has_state_changed:
            write_private(self.cache_file, self.cache.serialize())
            self.cache.has_state_changed = False

    def __call__(self, *, force: bool) -> Token:
        accounts = self.app.get_accounts(username=self.username or None)
        if not accounts:
            raise TokenError(
                f"[oauth.{self.table.name}]: not signed in: run `mailticket oauth login "
                f"{self.table.name}` / 尚未登录：请运行 mailticket oauth login {self.table.name}"
            )
        try:
            result = self.app.acquire_token_silent_with_error(
                self.table.scope_list, account=accounts[0], force_refresh=force
            )
        except (OSError, ValueError) as exc:
            raise TokenError(f"[oauth.{self.table.name}]: cannot reach Microsoft: {exc}") from None
        finally:
            self._save()
        return _token(self.table, result, self.clock)

    def login(self, say: Callable[[str], None]) -> str:
        """Device-code sign-in: `say` shows the code and the address; returns who signed in."""
        flow = self.app.initiate_device_flow(scopes=self.table.scope_list)
        if "user_code" not in flow:
            _token(self.table, flow, self.clock)  # raises with Microsoft's error text
        say(str(flow["message"]))
        result = self.app.acquire_token_by_device_flow(flow)
        self._save()
        _token(self.table, result, self.clock)
        claims = result.get("id_token_claims") or {}
        return str(claims.get("preferred_username") or claims.get("sub") or "")
