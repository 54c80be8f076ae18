"""One exception tree: every error carries what a person needs to fix it and an exit code."""

from __future__ import annotations

import os


class MailticketError(Exception):
    """Base of every error mailticket raises on purpose; the CLI prints it as one line."""

    exit_code = 1


class ConfigError(MailticketError):
    """A config or rule file that cannot be used; names the file, the key and the line."""

    exit_code = os.EX_CONFIG

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path, self.key, self.line, self.detail = path, key, line, message
        where = path or "<config>"
        if line is not None:
            where += f":{line}"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {message}")


class ConfigProblems(ConfigError):
    """What `check` would report, found when a command starts (`run` exits 78 at once rather
    than retrying for ever): the first problem, and how many more `check` lists."""

    def __init__(self, problems: list[str]) -> None:
        more = len(problems) - 1
        tail = f" (and {more} more: `mailticket check` lists them all)" if more else ""
        MailticketError.__init__(self, problems[0] + tail)
        self.path = self.key = self.line = None
        self.detail, self.problems = problems[0], problems


class RuleError(ConfigError):
    """A completeness rule file that cannot be used; `file:line: key: message` like config."""


class StoreError(MailticketError):
    """The store cannot be read or written; nothing was changed, the caller may retry."""

    exit_code = os.EX_TEMPFAIL


class StoreBusyError(StoreError):
    """Another process holds the store's lock for longer than we are willing to wait."""


class DeliveryError(MailticketError):
    """Sending a mail failed."""


class TemporaryDeliveryError(DeliveryError):
    """Worth retrying later: 4xx replies, refused connections, timeouts."""

    exit_code = os.EX_TEMPFAIL


class PermanentDeliveryError(DeliveryError):
    """Never retried: 5xx replies."""


# How a refused SMTP login starts its text, which stays on the outbox row as `last_error`:
# `mailticket status` finds refused logins by it.
SMTP_LOGIN_FAILED = "SMTP login failed"


class LoginRefusedError(TemporaryDeliveryError):
    """The SMTP server refused our login (535: wrong password, expired or revoked token).

    Not the mail's fault: it stays queued and is retried with backoff, and the admins are told
    (an ERROR log line, `mailticket status`) because only a person can fix the credentials."""


class MailboxError(MailticketError):
    """The IMAP server could not be reached or refused a command; the daemon reconnects."""

    exit_code = os.EX_TEMPFAIL


class MailboxLoginError(MailboxError):
    """The IMAP server refused our login (password or token): retried, but a person is needed."""


class TokenError(MailticketError):
    """No OAuth2 access token could be had; carries the identity provider's own error text."""

    exit_code = os.EX_TEMPFAIL


class NotFoundError(MailticketError):
    """A ticket, outbox entry or quarantine record asked for by id does not exist."""


class UsageError(MailticketError):
    """A command line that cannot be carried out as written."""

    exit_code = os.EX_USAGE
