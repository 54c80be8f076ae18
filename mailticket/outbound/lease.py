"""Who is sending a mail, and when a `sending` mail may be sent again.

A mail is marked `sending` with its sender's identity just before its own SMTP transaction, so a
crash leaves at most one mail per sender in doubt. That mail is sent again at once (with the same
Message-ID) when its sender is known to be gone, and otherwise when its lease expires: the
restarted daemon should not make a customer wait minutes for an acknowledgement.
"""

from __future__ import annotations

import functools
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mailticket.model import OutboxState, OutgoingMail


@dataclass(frozen=True)
class Holder:
    """A sending process: host and pid say where to look for it, `token` tells it from a later
    process that got the same pid."""

    host: str
    pid: int
    token: str
    started: datetime

    def text(self) -> str:
        return f"{self.host} {self.pid} {self.token}"


def this_process(now: datetime) -> Holder:
    """The identity of the running process (the edge: hostname, pid, a random token)."""
    return Holder(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12], now)


@functools.cache
def current_process() -> Holder:
    """This process's identity, made once (at its first drain, about when it started)."""
    return this_process(datetime.now(UTC))


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (signal 0 checks, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def abandoned(
    mail: OutgoingMail,
    me: Holder,
    now: datetime,
    *,
    single_daemon: bool,
    alive: Callable[[int], bool] = pid_alive,
    session_gone: Callable[[str], bool] | None = None,
) -> bool:
    """Whether a `sending` mail's holder is gone, so the mail should be sent again now.

    Any store: the lease expired. A store shared by several daemons (PostgreSQL): also when
    `session_gone(token)` says the holder's presence session has ended (it died or froze). A
    single-daemon store (SQLite, whose lock the running daemon holds): also when the holder ran
    on this host and is not alive, or is this pid with another token (a process that died and
    whose pid we inherited), or ran on another host and took the lease before this process
    started.
    """
    if mail.state != OutboxState.SENDING:
        return False
    if mail.next_attempt is not None and mail.next_attempt <= now:
        return True
    if not mail.lease_holder:
        return False
    host, _, rest = mail.lease_holder.partition(" ")
    pid_text, _, token = rest.partition(" ")
    if not single_daemon:
        mine = token == me.token
        return bool(token) and not mine and session_gone is not None and session_gone(token)
    if host == me.host and pid_text.isdigit():
        pid = int(pid_text)
        if pid == me.pid:
            return token != me.token
        return not alive(pid)
    taken = mail.lease_taken
    return taken is not None and taken < me.started
