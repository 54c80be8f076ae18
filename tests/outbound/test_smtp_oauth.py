"""SMTP XOAUTH2 / OAUTHBEARER against aiosmtpd with AUTH handlers that verify the JWT."""

from __future__ import annotations

import base64
import collections
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from cryptography.hazmat.primitives.asymmetric import rsa
from idp import ISSUER, access_token, new_key
from servers import LOCALHOST, free_port

from mailticket.errors import LoginRefusedError
from mailticket.oauth.tokens import Token, Tokens
from mailticket.outbound.smtp import Envelope, SmtpSettings, send_batch

USER = "support@desk.test"
NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


class _Server(SMTP):  # aiosmtpd's 512-byte command limit is below a real token's AUTH line
    command_size_limit = 16384
    line_length_limit = 16384
    command_size_limits = collections.defaultdict(lambda: 16384)  # noqa: RUF012


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Server(self.handler, **self.SMTP_kwargs)


class Handler:
    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key, self.received = key, list[bytes]()

    def _valid(self, user: str, bearer: str) -> bool:
        try:
            claims = jwt.decode(bearer.removeprefix("Bearer "), self.key.public_key(),
                                algorithms=["RS256"], issuer=ISSUER)  # fmt: skip
        except jwt.PyJWTError:
            return False
        return bool(claims.get("email") == user)

    async def _check(self, server: Any, args: list[str], user_key: str) -> AuthResult:
        blob = args[1] if len(args) > 1 else ""
        parts = [p for p in base64.b64decode(blob).decode().split("\x01") if p]
        fields = dict(p.split("=", 1) for p in parts if "=" in p and not p.startswith("n,"))
        user = fields.get("user", "")
        if user_key == "a":
            user = next((p[4:].rstrip(",") for p in parts if p.startswith("n,a=")), "")
        if self._valid(user, fields.get("auth", "")):
            return AuthResult(success=True, auth_data=user)
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        return await self._check(server, args, "user")

    async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> AuthResult:
        return await self._check(server, args, "a")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(bytes(envelope.original_content or b""))
        return "250 OK"


@pytest.fixture
def server() -> Iterator[tuple[Handler, int]]:
    handler, port = Handler(new_key()), free_port()
    controller = _Controller(handler, hostname=LOCALHOST, port=port, auth_required=True,
                             auth_require_tls=False, decode_data=False)  # fmt: skip
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


class Issued:
    def __init__(self, *values: str) -> None:
        self.values, self.forced = list(values), list[bool]()

    def __call__(self, *, force: bool) -> Token:
        self.forced.append(force)
        return Token(self.values.pop(0), NOW + timedelta(hours=1))


MAIL = Envelope("m1", USER, ("customer@example.com",), b"Subject: hi\r\n\r\nhello\r\n")


def _settings(port: int, auth: str, issued: Issued) -> SmtpSettings:
    return SmtpSettings(host=LOCALHOST, port=port, security="none", username=USER, auth=auth,
                        tokens=Tokens("t", issued, lambda: NOW))  # fmt: skip


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_token_login_sends(server: tuple[Handler, int], auth: str) -> None:
    handler, port = server
    issued = Issued(access_token(handler.key, USER, lifetime=3600))
    assert send_batch(_settings(port, auth, issued), [MAIL]) == {"m1": None}
    assert handler.received and b"hello" in handler.received[0]


def test_rejected_token_refreshed_once_then_login_refused(server: tuple[Handler, int]) -> None:
    handler, port = server
    issued = Issued(access_token(handler.key, USER, lifetime=-60), access_token(new_key(), USER))
    outcome = send_batch(_settings(port, "xoauth2", issued), [MAIL])
    assert isinstance(outcome["m1"], LoginRefusedError)
    assert "535" in str(outcome["m1"]) and "refused twice" in str(outcome["m1"])
    assert issued.forced == [False, True] and handler.received == []
    good = Issued(access_token(handler.key, USER, lifetime=-60), access_token(handler.key, USER))
    assert send_batch(_settings(port, "xoauth2", good), [MAIL]) == {"m1": None}
