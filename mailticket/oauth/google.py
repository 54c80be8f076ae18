"""Google Workspace and Gmail tokens through google-auth, the only importer of google-auth.

Workspace: a service account with domain-wide delegation for `https://mail.google.com/`, acting
for the mailbox (`subject`). One Gmail account: an OAuth client's stored refresh token. Both
refresh through google-auth's `Request` transport (requests), which takes a private CA.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import google.auth.exceptions
from google.auth.transport.requests import Request
from google.oauth2 import credentials, service_account

from mailticket.errors import ConfigError, TokenError
from mailticket.oauth.config import GOOGLE_TOKEN_URI, OAuthConfig
from mailticket.oauth.http import Session
from mailticket.oauth.tokens import Token

Clock = Callable[[], datetime]


class _Google:
    creds: Any

    def __init__(self, table: OAuthConfig, clock: Clock, ca_file: Path | None) -> None:
        self.table, self.clock, self.request = table, clock, Request(Session(ca_file))

    def __call__(self, *, force: bool) -> Token:
        try:
            self.creds.refresh(self.request)
        except google.auth.exceptions.RefreshError as exc:
            detail = exc.args[0] if exc.args else exc
            raise TokenError(
                f"Google refused a token for [oauth.{self.table.name}] / 谷歌拒绝发放令牌: {detail}"
            ) from None
        except google.auth.exceptions.TransportError as exc:
            raise TokenError(f"[oauth.{self.table.name}]: cannot reach Google: {exc}") from None
        expiry = self.creds.expiry  # naive UTC
        if expiry is None:
            expires_at = self.clock() + timedelta(hours=1)
        else:
            expires_at = expiry.replace(tzinfo=UTC)
        return Token(str(self.creds.token), expires_at)


class GoogleServiceAccount(_Google):
    def __init__(
        self, table: OAuthConfig, key_file: Path, clock: Clock, *, ca_file: Path | None = None
    ) -> None:
        super().__init__(table, clock, ca_file)
        try:
            self.creds = service_account.Credentials.from_service_account_file(
                str(key_file), scopes=table.scope_list, subject=table.subject
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"cannot use the service account key {key_file}: {exc}",
                key=f"oauth.{table.name}.service_account_file",
            ) from None


class GoogleRefreshToken(_Google):
    def __init__(
        self, table: OAuthConfig, refresh_token: str, client_secret: str, clock: Clock, *,
        ca_file: Path | None = None,
    ) -> None:  # fmt: skip
        super().__init__(table, clock, ca_file)
        self.creds = credentials.Credentials(  # type: ignore[no-untyped-call]
            None,
            refresh_token=refresh_token,
            client_id=table.client_id,
            client_secret=client_secret,
            token_uri=table.token_uri or GOOGLE_TOKEN_URI,
            scopes=table.scope_list,
        )
