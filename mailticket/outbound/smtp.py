"""The SMTP edge: aiosmtplib behind a plain, synchronous `send_batch()`.

One connection serves a whole batch (twice the throughput of a connection per mail). Each mail's
outcome is reported separately: delivered, temporary failure (4xx, refused, timeout: retry later)
or permanent failure (5xx: never retried).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiosmtplib

from mailticket.errors import (
    SMTP_LOGIN_FAILED,
    DeliveryError,
    LoginRefusedError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    TokenError,
)
from mailticket.oauth.tokens import Tokens
from mailticket.tls import certificate_error, client_context, untrusted


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str = "starttls"  # none | starttls | ssl
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    verify_tls: bool = True
    tls_ca_file: str = ""  # a private CA (PEM) trusted besides the system's
    auth: str = "password"  # password | xoauth2 | oauthbearer
    tokens: Tokens | None = None


@dataclass(frozen=True)
class Envelope:
    key: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    data: bytes


def _go(envelope: Envelope) -> bool:
    return True


def _ignore(envelope: Envelope, error: DeliveryError | None) -> None:
    return None


@dataclass(frozen=True)
class SendHooks:
    """Called around each mail's own SMTP transaction on the batch's one connection: the
    caller marks the mail `sending` in `start` (False: another sender has it, skip it) and
    records the outcome in `done`, so a crash leaves one mail in doubt, not a batch."""

    start: Callable[[Envelope], bool] = _go
    done: Callable[[Envelope, DeliveryError | None], None] = _ignore


NO_HOOKS = SendHooks()


def _classify(exc: BaseException) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        message = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if all(400 <= c < 500 for c in codes):
            return TemporaryDeliveryError(message)
        return PermanentDeliveryError(message)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            return PermanentDeliveryError(text)
        return TemporaryDeliveryError(text)
    return TemporaryDeliveryError(f"{type(exc).__name__}: {exc}")


def _client(settings: SmtpSettings) -> aiosmtplib.SMTP:
    context = None
    if settings.security != "none":
        context = client_context(settings.verify_tls, settings.tls_ca_file)
    return aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        timeout=settings.timeout,
        use_tls=settings.security == "ssl",
        start_tls=settings.security == "starttls",
        tls_context=context,
    )


def _connect_error(settings: SmtpSettings, exc: BaseException) -> DeliveryError:
    """Connecting or logging in failed: a certificate that is not trusted is said as such."""
    reason = untrusted(exc)
    if reason:
        where = f"SMTP server {settings.host}:{settings.port}"
        return TemporaryDeliveryError(certificate_error(where, reason))
    return _classify(exc)


async def _send_all(
    settings: SmtpSettings, envelopes: Sequence[Envelope], hooks: SendHooks
) -> dict[str, DeliveryError | None]:
    results: dict[str, DeliveryError | None] = {}
    client = _client(settings)
    try:
        try:
            await client.connect()
            await _login(client, settings)
        except LoginRefusedError as exc:
            return {e.key: exc for e in envelopes}
        except (TimeoutError, aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            error = _connect_error(settings, exc)
            return {e.key: error for e in envelopes}
        for index, envelope in enumerate(envelopes):
            if not hooks.start(envelope):
                continue
            try:
                # Each command has `timeout`; a whole message gets a few of them at most.
                await asyncio.wait_for(
                    client.sendmail(envelope.mail_from, list(envelope.rcpt_to), envelope.data),
                    timeout=settings.timeout * 4,
                )
            except (
                aiosmtplib.SMTPServerDisconnected,
                aiosmtplib.SMTPTimeoutError,
                TimeoutError,
                ConnectionError,
                OSError,
            ) as exc:  # the connection is in an unknown state: the rest waits for next time
                error = _classify(exc)
                results[envelope.key] = error
                hooks.done(envelope, error)
                for rest in envelopes[index + 1 :]:  # never started: still queued
                    results[rest.key] = error
                break
            except aiosmtplib.SMTPException as exc:
                results[envelope.key] = _classify(exc)
                hooks.done(envelope, results[envelope.key])
                if isinstance(exc, aiosmtplib.SMTPResponseException):
                    await _reset(client)
                continue
            # Accepted for at least one recipient (all refused raises): resending would duplicate.
            results[envelope.key] = None
            hooks.done(envelope, None)
    finally:
        await _close(client)
    return results


async def _close(client: aiosmtplib.SMTP) -> None:
    """QUIT, then wait until the socket is really closed: a TLS transport closes only after
    its close_notify exchange, a few loop turns later, and `asyncio.run` ending first leaves
    the socket to the garbage collector (a ResourceWarning, seen as a flaky test)."""
    transport = client.transport
    sock = None
    with contextlib.suppress(AttributeError):  # an SSL transport already shut down
        sock = transport.get_extra_info("socket") if transport is not None else None
    if client.is_connected:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
    if transport is None:
        return
    transport.close()
    for _ in range(200):  # at most ~2 s; normally one or two turns
        if sock is None or sock.fileno() == -1:
            return
        await asyncio.sleep(0.01)


async def _login(client: aiosmtplib.SMTP, settings: SmtpSettings) -> None:
    """Password or token login; a refusal (535) is `LoginRefusedError`: temporary for the mail,
    a problem for a person. A refused token is refreshed once and tried again."""
    where = f"{SMTP_LOGIN_FAILED} for {settings.username} at {settings.host}:{settings.port}"
    if settings.auth == "password" or settings.tokens is None:
        if not settings.username:
            return
        try:
            await client.login(settings.username, settings.password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise LoginRefusedError(f"{where} / SMTP 登录失败: {exc.code} {exc.message}") from None
        return
    for attempt in (1, 2):
        try:
            token = settings.tokens.get()
        except TokenError as exc:
            raise LoginRefusedError(f"{where} / SMTP 登录失败: {exc}") from None
        try:
            if settings.auth == "xoauth2":
                await client.auth_xoauth2(settings.username, token.value)
            else:
                await _oauthbearer(client, settings, token.value)
            return
        except aiosmtplib.SMTPAuthenticationError as exc:
            if attempt == 2:
                raise LoginRefusedError(
                    f"{where} / SMTP 登录失败: {settings.auth.upper()} token refused twice "
                    f"(refreshed once): {exc.code} {exc.message}"
                ) from None
            settings.tokens.invalidate()


async def _oauthbearer(client: aiosmtplib.SMTP, settings: SmtpSettings, token: str) -> None:
    """RFC 7628 (aiosmtplib has XOAUTH2 only); the error challenge is answered with ^A."""
    await client.ehlo()
    text = (
        f"n,a={settings.username},\x01host={settings.host}\x01port={settings.port}"
        f"\x01auth=Bearer {token}\x01\x01"
    )
    blob = base64.b64encode(text.encode()).decode()
    response = await client.execute_command(b"AUTH", b"OAUTHBEARER", blob.encode())
    if response.code == 334:
        response = await client.execute_command(base64.b64encode(b"\x01"))
    if response.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)


async def _reset(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        await client.rset()


def send_batch(
    settings: SmtpSettings, envelopes: Sequence[Envelope], hooks: SendHooks = NO_HOOKS
) -> dict[str, DeliveryError | None]:
    """Send every envelope over one connection, `hooks` around each mail's own transaction;
    returns each key's error, or None when accepted (a key `start` skipped is absent)."""
    if not envelopes:
        return {}
    return asyncio.run(_send_all(settings, envelopes, hooks))


async def _login_only(settings: SmtpSettings) -> DeliveryError | None:
    client = _client(settings)
    try:
        await client.connect()
        await _login(client, settings)
    except LoginRefusedError as exc:
        return exc
    except (TimeoutError, aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        return _connect_error(settings, exc)
    finally:
        await _close(client)
    return None


def try_login(settings: SmtpSettings) -> DeliveryError | None:
    """Connect and log in (`check --connect`); None when the server accepted us."""
    return asyncio.run(_login_only(settings))
