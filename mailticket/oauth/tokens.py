"""Access tokens and their refresh, apart from where they come from (standard library only).

A provider is any `fetch(force=...) -> Token`; `Tokens` keeps the last token and asks again
`margin` before it expires, or at once after `invalidate()` (a server rejected it). A lock keeps
the daemon's IMAP thread and the outbox from refreshing twice at once. A token's text never
appears in a repr, a log line or an error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

REFRESH_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: datetime  # timezone-aware


class Fetch(Protocol):
    def __call__(self, *, force: bool) -> Token: ...


class Tokens:
    """The tokens of one `[oauth.NAME]` table, refreshed before they expire."""

    def __init__(
        self,
        name: str,
        fetch: Fetch,
        clock: Callable[[], datetime],
        margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        self.name = name
        self._fetch = fetch
        self._clock = clock
        self.margin = margin
        self._token: Token | None = None
        self._force = False
        self._lock = threading.Lock()

    def get(self) -> Token:
        """A token with more than `margin` left (raises `TokenError` when none can be had)."""
        with self._lock:
            token = self._token
            if token is None or token.expires_at - self.margin <= self._clock():
                token = self._fetch(force=self._force)
                self._token, self._force = token, False
            return token

    def invalidate(self) -> None:
        """The server refused the last token: the next `get()` asks the provider anew."""
        with self._lock:
            self._token, self._force = None, True

    def renew_at(self, token: Token) -> datetime:
        """When a session opened with `token` should be closed and opened with a new one."""
        return token.expires_at - self.margin


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (0600 whatever the umask), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
