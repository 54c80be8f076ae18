"""The long-running daemon: IMAP IDLE (or polling), the outbox and scheduled jobs in one loop.

It is the only user of `schedule`. Every job is wrapped so that one failure is logged and the loop
goes on; an IMAP server that goes away is reconnected with backoff; SIGTERM stops it cleanly
between two steps (or at once while it is only waiting).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

import schedule

from mailticket import __version__
from mailticket.completeness.normalise import load_readers
from mailticket.desk.context import Desk
from mailticket.desk.digest import send_digests
from mailticket.desk.sweep import sweep
from mailticket.errors import (
    DeliveryError,
    LoginRefusedError,
    MailboxError,
    MailboxLoginError,
    MailticketError,
)
from mailticket.intake.cycle import IMAP_ERROR_MARK, intake_and_send, open_mailbox, position_key
from mailticket.intake.imap import Mailbox
from mailticket.oauth import section_tokens
from mailticket.outbound.lease import current_process
from mailticket.outbound.outbox import DrainResult, Sender, drain_outbox
from mailticket.store.leader import FencedError, Leadership

log = logging.getLogger("mailticket.daemon")

# Mail that lands between our search and the next IDLE command is not announced during that
# IDLE (Dovecot): IDLE in short slices, each followed by a search, so it waits a slice at most.
IDLE_SLICE_SECONDS = 5
MAX_BACKOFF_SECONDS = 300
OUTBOX_INTERVAL_SECONDS = 30
SLA_INTERVAL_SECONDS = 60
RULES_INTERVAL_SECONDS = 30  # how soon an edited rule file is in force (or its error logged)
LEADER_POLL_SECONDS = 1.0  # how often a standby daemon tries to take the intake over
# The daemon's heartbeat in the store, for `mailticket status` (another process): written
# from the loop itself, so a loop that hangs stops beating even while the process lives.
HEARTBEAT_MARK = "heartbeat"
HEARTBEAT_SECONDS = 30
# The SMTP login tried at start (its error cleared by the next mail that goes out), for `status`.
SMTP_ERROR_MARK = "smtp_error"


class _Stop(Exception):
    """Raised from the signal handler only while the loop is waiting, never mid-write."""


class Daemon:
    def __init__(
        self,
        desk: Desk,
        send: Sender,
        *,
        connect: Callable[[], Mailbox] | None = None,
        sla_interval: float = SLA_INTERVAL_SECONDS,
        use_idle: bool | None = None,
        smtp_check: Callable[[], DeliveryError | None] | None = None,
    ) -> None:
        self.desk = desk
        self.send = send
        self.smtp_check = smtp_check
        self._next_beat = 0.0
        config = desk.config
        if connect is None and config.imap.host:
            tokens = section_tokens(config, "imap", desk.clock)  # one cache for every reconnect
            connect = lambda: open_mailbox(config, tokens)  # noqa: E731
        self.connect = connect
        # Of several daemons on one store and mailbox, one takes mail in and sweeps; the
        # others send what is due and stand by (with no mailbox, every daemon sweeps: each
        # threshold and digest is claimed once in the store all the same).
        self.leadership: Leadership | None = None
        if connect is not None:
            me = current_process()
            self.leadership = Leadership(
                desk.store,
                position_key(config),
                host=me.host,
                pid=me.pid,
                token=me.token,
                failover_seconds=config.storage.failover_seconds,
            )
        self._next_leader_try = 0.0
        self.use_idle = config.imap.idle if use_idle is None else use_idle
        self.mailbox: Mailbox | None = None
        self.stopping = threading.Event()
        self._waiting = False
        self._backoff = 1.0
        self._next_connect = 0.0
        self.scheduler = schedule.Scheduler()
        self.scheduler.every(OUTBOX_INTERVAL_SECONDS).seconds.do(
            self._guarded, "outbox", self.drain
        )
        sla_job = self.scheduler.every(sla_interval)  # type: ignore[arg-type]  # fractions work
        sla_job.seconds.do(self._guarded, "sla", self.sla_tick)
        if desk.rules is not None:
            self.scheduler.every(RULES_INTERVAL_SECONDS).seconds.do(
                self._guarded, "rules", self.reload_rules
            )
        if self.connect is not None:
            interval = config.imap.poll_interval
            self.scheduler.every(interval).seconds.do(
                self._guarded, "intake", self.poll_if_not_idle
            )

    # --- jobs --------------------------------------------------------------------------------

    def _guarded(self, name: str, job: Callable[[], object]) -> None:
        """schedule does not catch exceptions: a raising job would stop everything."""
        try:
            job()
        except MailboxError as exc:
            log.warning("%s: %s; reconnecting", name, exc)
            self._drop_mailbox()
        except FencedError as exc:
            log.warning("%s: %s; standing by", name, exc)
            self._stand_by()
        except MailticketError as exc:
            log.error("%s: %s", name, exc)
        except Exception:
            log.exception("%s failed", name)

    def drain(self) -> None:
        result = drain_outbox(self.desk, self.send)
        self._log_drain(result)
        if result.sent and json.loads(self.desk.store.mark(SMTP_ERROR_MARK) or "{}").get("error"):
            self._note_smtp(None)  # mail goes out: the login works now

    def check_smtp(self) -> None:
        """Log in to SMTP once at start: a refused login is said now (ERROR, and `status`),
        not first when a mail is due, perhaps hours later."""
        if self.smtp_check is None:
            return
        error = self.smtp_check()
        refused = isinstance(error, LoginRefusedError)
        if error is not None:
            level = logging.ERROR if refused else logging.WARNING
            fix = "; a person must fix the login, mail stays queued" if refused else ""
            log.log(level, "SMTP: %s%s", error, fix)
        self._note_smtp(error)

    def _note_smtp(self, error: DeliveryError | None) -> None:
        """`status` tells "ok at …" (error "") from never tried (no mark)."""
        refused = isinstance(error, LoginRefusedError)
        text = "" if error is None else str(error)
        value = {"at": self.desk.clock().isoformat(), "error": text, "login": refused}
        self.desk.store.set_mark(SMTP_ERROR_MARK, json.dumps(value))

    def beat(self, state: str = "running") -> None:
        """The heartbeat `status` reads: when, which process, which version."""
        value = {
            "at": self.desk.clock().isoformat(),
            "state": state,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "version": __version__,
        }
        self.desk.store.set_mark(HEARTBEAT_MARK, json.dumps(value))

    @staticmethod
    def _log_drain(result: DrainResult) -> None:
        if result.sent or result.deferred or result.failed:
            log.info(
                "outbox: %d sent, %d deferred, %d failed, %d resent after a crash",
                len(result.sent),
                len(result.deferred),
                len(result.failed),
                len(result.reclaimed),
            )

    def sla_tick(self) -> None:
        """The SLA sweep and, once a day, the digests. Deadlines are stored data, so a tick
        that comes late (or after a restart) still finds everything that fell due."""
        if self.leadership is not None and not self.leadership.leading():
            return  # the leader sweeps
        actions = sweep(self.desk)
        digests = send_digests(self.desk)
        if actions or digests:
            log.info("sla: %d action(s), %d digest(s)", len(actions), len(digests))
            self.drain()

    def reload_rules(self) -> None:
        """Rule files edited while we run take effect without a restart; a broken edit is
        logged and the last good rules stay in force until the file is fixed."""
        rules = self.desk.rules
        if rules is None or not rules.refresh():
            return
        if rules.error is not None:
            log.error("rules not reloaded, the last good rules stay in force: %s", rules.error)
        else:
            names = ", ".join(c.id for c in rules.current.categories)
            log.info("rules reloaded from %s: %s", rules.folder, names)
            for warning in rules.current.warnings:
                log.warning("rules: %s", warning)

    def intake(self) -> None:
        if self.mailbox is None:
            return
        fence = self.leadership.fence if self.leadership is not None else None
        counts, sent = intake_and_send(self.desk, self.mailbox, self.send, fence=fence)
        if counts:
            log.info("intake: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        self._log_drain(sent)

    def poll_if_not_idle(self) -> None:
        if self.mailbox is not None and not self._idling():
            self.intake()

    def _idling(self) -> bool:
        return bool(self.use_idle and self.mailbox is not None and self.mailbox.supports_idle)

    # --- connection --------------------------------------------------------------------------

    def _lead(self, now: float) -> bool:
        """Whether this daemon leads intake now: keep the lead, notice losing it (the lock's
        session ended), or try to take it over once a second while standing by."""
        leadership = self.leadership
        if leadership is None or leadership.leading():
            return True
        if leadership.fence is not None or self.mailbox is not None:
            log.warning("no longer the intake leader: standing by")
            self._stand_by()
        if now < self._next_leader_try:
            return False
        self._next_leader_try = now + LEADER_POLL_SECONDS
        try:
            fence = leadership.try_lead(datetime.now(UTC).isoformat())
        except MailticketError as exc:
            log.warning("could not take the intake over: %s", exc)
            return False
        if fence is None:
            return False
        log.info("intake leader for %s (epoch %d)", position_key(self.desk.config), fence.epoch)
        self._guarded("outbox", self.drain)  # what the previous leader left queued
        return True

    def _stand_by(self) -> None:
        self._drop_mailbox()
        if self.leadership is not None:
            self.leadership.release()

    def _ensure_mailbox(self, now: float) -> None:
        if self.connect is None or self.mailbox is not None or now < self._next_connect:
            return
        if not self._lead(now):
            return
        try:
            self.mailbox = self.connect()
        except MailticketError as exc:
            self._next_connect = now + self._backoff
            refused = isinstance(exc, MailboxLoginError)  # only a person fixes credentials
            level = logging.ERROR if refused else logging.WARNING
            fix = "; a person must fix the login" if refused else ""
            log.log(level, "IMAP: %s%s; next try in %.0f s", exc, fix, self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)
            self._note_imap_error(str(exc), refused)
            return
        self._backoff = 1.0
        self._note_imap_error("", False)
        log.info("IMAP connected (IDLE %s)", "on" if self._idling() else "off")
        self._guarded("intake", self.intake)

    def _note_imap_error(self, error: str, refused: bool) -> None:
        """Keep the last connection error in the store for `mailticket status` (another
        process); written only when it changes, so a long outage is not a write per retry."""
        value = json.dumps({"at": self.desk.clock().isoformat(), "error": error, "login": refused})
        previous = self.desk.store.mark(IMAP_ERROR_MARK)
        if not previous and not error:
            return
        if previous and json.loads(previous).get("error") == error:
            return
        self.desk.store.set_mark(IMAP_ERROR_MARK, value if error else "")

    def _drop_mailbox(self) -> None:
        if self.mailbox is not None:
            self.mailbox.close()
            self.mailbox = None

    # --- the loop ----------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d: stopping", signum)
        self.stopping.set()
        if self._waiting:
            raise _Stop

    def run_forever(self, *, install_signals: bool = True) -> None:
        if install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        log.info("mailticket running for %s", self.desk.config.desk.address)
        self._guarded("smtp", self.check_smtp)
        if self.desk.rules is not None:
            load_readers()
        self._guarded("outbox", self.drain)
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except _Stop:
                    raise
                except Exception:  # the loop itself must outlive any bug in one turn
                    log.exception("daemon step failed; going on")
                    self._drop_mailbox()
                    self.stopping.wait(1.0)
        except _Stop:
            pass
        finally:
            self._stand_by()
            self._guarded("heartbeat", lambda: self.beat("stopped"))
            log.info("mailticket stopped")

    def step(self) -> None:
        """One turn: connect if needed, run due jobs, then wait for mail or the next job."""
        if self.mailbox is not None and self.mailbox.token_expiring(self.desk.clock()):
            # Exchange Online ends the session when its token expires: leave IDLE first.
            log.info("IMAP: the token expires soon; reconnecting with a new one")
            self._drop_mailbox()
        now = time.monotonic()
        if now >= self._next_beat:
            self._next_beat = now + HEARTBEAT_SECONDS
            self._guarded("heartbeat", self.beat)
        if self.mailbox is not None:
            self._lead(now)  # notices a lost lead: closes the mailbox, stands by
        self._ensure_mailbox(time.monotonic())
        self.scheduler.run_pending()
        if self.stopping.is_set():
            return
        pause = self.scheduler.idle_seconds  # a property in schedule 1.2
        pause = 1.0 if pause is None else max(0.05, min(pause, IDLE_SLICE_SECONDS))
        if self.connect is not None and self.mailbox is None:
            wake = max(self._next_connect, self._next_leader_try)
            pause = min(pause, max(0.05, wake - time.monotonic()))
        self._waiting = True
        try:
            if self._idling():
                assert self.mailbox is not None
                try:
                    self.mailbox.wait(pause)
                except MailboxError as exc:
                    self._waiting = False
                    log.warning("IMAP: %s; reconnecting", exc)
                    self._drop_mailbox()
                    return
                self._waiting = False
                # Search after every IDLE, not only when it reported something: Dovecot does
                # not report mail that arrived between our last search and the IDLE command.
                self._guarded("intake", self.intake)
            else:
                self.stopping.wait(pause)
        finally:
            self._waiting = False
