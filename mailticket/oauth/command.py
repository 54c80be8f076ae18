"""Tokens from an external program (oama, pizauth, a vault client): it prints the token.

The program's standard output is either the token alone, or JSON with `access_token` and
`expires_in` (seconds). A plain token counts as valid for `token_lifetime_seconds`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta

from mailticket.errors import TokenError
from mailticket.oauth.config import OAuthConfig
from mailticket.oauth.tokens import Token

TIMEOUT_SECONDS = 60


class CommandTokens:
    def __init__(self, table: OAuthConfig, clock: Callable[[], datetime]) -> None:
        self.table, self.clock = table, clock

    def __call__(self, *, force: bool) -> Token:
        where = f"[oauth.{self.table.name}] command {self.table.command[0]!r}"
        try:
            done = subprocess.run(
                self.table.command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TokenError(f"{where} failed / 令牌命令失败: {exc}") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [""])[-1]
            raise TokenError(f"{where} exited {done.returncode} / 令牌命令失败: {last}")
        out = done.stdout.strip()
        lifetime = self.table.token_lifetime_seconds
        if out.startswith("{"):
            try:
                data = json.loads(out)
                out, lifetime = str(data["access_token"]), int(data.get("expires_in", lifetime))
            except (ValueError, KeyError, TypeError):
                raise TokenError(f"{where} printed JSON without access_token") from None
        if not out or any(c.isspace() for c in out):
            raise TokenError(f"{where} printed no token (one line, no spaces, expected)")
        return Token(out, self.clock() + timedelta(seconds=lifetime))
