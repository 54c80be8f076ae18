"""The SMTP edge: aiosmtplib behind a plain, synchronous `send_batch()`.

One connection serves a whole batch (twice the throughput of a connection per mail). Each mail's
outcome is reported separately: delivered, temporary failure (4xx, refused, timeout: retry later)
or permanent failure (5xx: never retried).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import aiosmtplib

from mailticket.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str = "starttls"  # none | starttls | ssl
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    verify_tls: bool = True


@dataclass(frozen=True)
class Envelope:
    key: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    data: bytes


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
    context = _tls_context(settings.verify_tls) if settings.security != "none" else None
    return aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        timeout=settings.timeout,
        use_tls=settings.security == "ssl",
        start_tls=settings.security == "starttls",
        tls_context=context,
    )


@functools.cache
def _tls_context(verify: bool) -> ssl.SSLContext:
    """Made once: building a context (and loading the CA store) costs a few ms per batch."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def _send_all(
    settings: SmtpSettings, envelopes: Sequence[Envelope]
) -> dict[str, DeliveryError | None]:
    results: dict[str, DeliveryError | None] = {}
    client = _client(settings)
    try:
        await client.connect()
        if settings.username:
            await client.login(settings.username, settings.password)
    except (TimeoutError, aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        error = _classify(exc)
        return {e.key: error for e in envelopes}
    try:
        for envelope in envelopes:
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
                for rest in envelopes[len(results) :]:
                    results[rest.key] = error
                break
            except aiosmtplib.SMTPException as exc:
                results[envelope.key] = _classify(exc)
                if isinstance(exc, aiosmtplib.SMTPResponseException):
                    await _reset(client)
                continue
            # Accepted for at least one recipient (all refused raises): resending would duplicate.
            results[envelope.key] = None
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    return results


async def _reset(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        await client.rset()


def send_batch(
    settings: SmtpSettings, envelopes: Sequence[Envelope]
) -> dict[str, DeliveryError | None]:
    """Send every envelope over one connection; returns each key's error, or None when accepted."""
    if not envelopes:
        return {}
    return asyncio.run(_send_all(settings, envelopes))
