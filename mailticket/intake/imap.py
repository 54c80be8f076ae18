"""The IMAP edge: imap-tools behind a small `Mailbox` that speaks UIDs and raw bytes.

Facts this works around (see FIELD-NOTES): imaplib keeps the capability list from before login,
so imap-tools' `move()` would silently fall back to COPY + EXPUNGE on Dovecot; `MailMessage`
does not keep the bytes as fetched; nothing reconnects by itself. Every failure leaves here as
`MailboxError`, and the caller builds a new `Mailbox`; a refused login is a
`MailboxLoginError` and leaves no socket open.

OAuth2 (`auth = xoauth2 | oauthbearer`): SASL through imaplib's own `authenticate` (imap-tools'
`xoauth2()` re-sends the token on the server's error challenge and raises imaplib's error, not
its own). A refused token is refreshed once and tried again; `renew_at` says when the session
must be closed and opened with a new token (Exchange Online ends it when the token expires).
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError
from imap_tools.errors import MailboxLoginError as ImapToolsLoginError

from mailticket.errors import MailboxError, MailboxLoginError, TokenError
from mailticket.oauth.tokens import Tokens
from mailticket.tls import certificate_error, client_context, untrusted

_ERRORS = (imaplib.IMAP4.error, OSError, ssl.SSLError, ImapToolsError)


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str
    username: str
    password: str
    folder: str = "INBOX"
    timeout: float = 30.0
    tls_verify: bool = True
    tls_ca_file: str = ""  # a private CA (PEM) trusted besides the system's
    auth: str = "password"  # password | xoauth2 | oauthbearer
    tokens: Tokens | None = None


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    raw: bytes


class Mailbox:
    """One logged-in connection with the intake folder selected."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        context = client_context(settings.tls_verify, settings.tls_ca_file)
        where = f"{settings.host}:{settings.port}"
        box: BaseMailBox
        try:
            if settings.security == "ssl":
                box = MailBox(
                    settings.host, settings.port, timeout=settings.timeout, ssl_context=context
                )
            elif settings.security == "starttls":
                box = MailBoxStartTls(
                    settings.host, settings.port, timeout=settings.timeout, ssl_context=context
                )
            else:
                box = MailBoxUnencrypted(settings.host, settings.port, timeout=settings.timeout)
        except _ERRORS as exc:
            reason = untrusted(exc)
            if reason:
                raise MailboxError(certificate_error(f"IMAP server {where}", reason)) from None
            raise MailboxError(f"cannot connect to IMAP server {where}: {exc}") from None
        self.box = box
        self.renew_at: datetime | None = None
        try:
            self._login(where)
            self._refresh_capabilities()
            self.uidvalidity = self._select(settings.folder)
        except MailboxError:
            self.close()
            raise
        except _ERRORS as exc:
            self.close()
            raise MailboxError(f"IMAP error at {where}: {exc}") from None

    def _login(self, where: str) -> None:
        settings = self.settings
        failed = f"IMAP login failed for {settings.username} at {where} / IMAP 登录失败"
        if settings.auth == "password" or settings.tokens is None:
            try:
                self.box.login(settings.username, settings.password, initial_folder=None)
            except (ImapToolsLoginError, imaplib.IMAP4.error) as exc:
                raise MailboxLoginError(f"{failed}: {_server_text(exc)}") from None
            return
        tokens = settings.tokens
        for attempt in (1, 2):
            try:
                token = tokens.get()
            except TokenError as exc:
                raise MailboxLoginError(f"{failed}: {exc}") from None
            try:
                self._authenticate(token.value)
            except imaplib.IMAP4.error as exc:
                if attempt == 2:
                    raise MailboxLoginError(
                        f"{failed}: {settings.auth.upper()} token refused twice "
                        f"(refreshed once): {_server_text(exc)}"
                    ) from None
                tokens.invalidate()
                continue
            self.renew_at = tokens.renew_at(token)
            return

    def _authenticate(self, token: str) -> None:
        """SASL XOAUTH2 or OAUTHBEARER (RFC 7628); the error challenge is answered as each
        mechanism wants (empty line, or ^A) so the server sends its final NO."""
        settings, mechanism = self.settings, self.settings.auth.upper()
        if mechanism == "XOAUTH2":
            first, after = f"user={settings.username}\x01auth=Bearer {token}\x01\x01", ""
        else:
            first = (
                f"n,a={settings.username},\x01host={settings.host}\x01port={settings.port}"
                f"\x01auth=Bearer {token}\x01\x01"
            )
            after = "\x01"
        challenges: list[bytes] = []

        def reply(challenge: bytes) -> bytes:
            challenges.append(challenge)
            return (first if len(challenges) == 1 else after).encode()

        self.box.client.authenticate(mechanism, reply)

    def _refresh_capabilities(self) -> None:
        """Servers (Dovecot) announce MOVE and IDLE only after login; imaplib never asks again."""
        typ, data = self.box.client.capability()
        if typ == "OK" and data and data[-1]:
            self.box.client.capabilities = tuple(
                data[-1].decode("ascii", "replace").upper().split()
            )

    def _select(self, folder: str) -> int:
        self.box.folder.set(folder)
        status = self.box.folder.status(folder, ["UIDVALIDITY"])
        return int(status["UIDVALIDITY"])

    @property
    def supports_idle(self) -> bool:
        return "IDLE" in self.box.client.capabilities

    def ensure_folder(self, folder: str) -> None:
        try:
            if not self.box.folder.exists(folder):
                self.box.folder.create(folder)
        except _ERRORS as exc:
            raise MailboxError(f"cannot create IMAP folder {folder!r}: {exc}") from None

    def uids(self) -> list[int]:
        """Every UID in the intake folder, ascending; no flag is read or set."""
        try:
            typ, data = self.box.client.uid("SEARCH", "ALL")
        except _ERRORS as exc:
            raise MailboxError(f"IMAP UID SEARCH failed: {exc}") from None
        if typ != "OK":
            raise MailboxError(f"IMAP UID SEARCH failed: {data!r}")
        return sorted(int(u) for u in (data[0] or b"").split())

    def fetch(self, uids: Iterable[int]) -> Iterator[FetchedMail]:
        """The exact bytes of each message, with BODY.PEEK so nothing is marked \\Seen."""
        wanted = list(uids)
        if not wanted:
            return
        try:
            typ, data = self.box.client.uid(
                "FETCH", ",".join(map(str, wanted)), "(UID BODY.PEEK[])"
            )
        except _ERRORS as exc:
            raise MailboxError(f"IMAP UID FETCH failed: {exc}") from None
        if typ != "OK":
            raise MailboxError(f"IMAP UID FETCH failed: {data!r}")
        for position, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            meta = item[0]
            if (
                b"UID " not in meta
                and position + 1 < len(data)
                and isinstance(data[position + 1], bytes)
            ):
                meta += data[position + 1]  # some servers send UID after the literal
            match = re.search(rb"UID (\d+)", meta)
            if match and int(match.group(1)) in wanted:
                yield FetchedMail(uid=int(match.group(1)), raw=item[1])

    def move(self, uids: Iterable[int], folder: str) -> None:
        uid_list = [str(u) for u in uids]
        if not uid_list:
            return
        try:
            self.box.move(uid_list, folder)
        except _ERRORS as exc:
            raise MailboxError(f"IMAP MOVE to {folder!r} failed: {exc}") from None

    def wait(self, timeout: float) -> bool:
        """IDLE until the server reports a change (True) or `timeout` passes (False)."""
        try:
            responses = self.box.idle.wait(timeout=timeout)
        except _ERRORS as exc:
            raise MailboxError(f"IMAP IDLE failed: {exc}") from None
        return bool(responses)

    def noop(self) -> None:
        try:
            self.box.client.noop()
        except _ERRORS as exc:
            raise MailboxError(f"IMAP NOOP failed: {exc}") from None

    def token_expiring(self, now: datetime) -> bool:
        """True once the session's token is about to expire: close it and open a new one."""
        return self.renew_at is not None and now >= self.renew_at

    def close(self) -> None:
        try:
            self.box.logout()
        except Exception:
            with contextlib.suppress(Exception):
                self.box.client.shutdown()


def _server_text(exc: BaseException) -> str:
    """The server's words from imaplib's `error(b'[AUTHENTICATIONFAILED] ...')`."""
    text = str(exc.args[0] if exc.args else exc)
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    return text
