"""The outbox: what an event owes (`Effects`), queueing it after the event's own record,
telling agents, and draining the queue through an SMTP `Sender` with backoff, permanent
failures noted on the ticket.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from mailticket.config import Config
from mailticket.desk.context import Desk, log
from mailticket.desk.tickets import Effects, save_ticket
from mailticket.errors import (
    DeliveryError,
    LoginRefusedError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from mailticket.model import (
    Attachment,
    Direction,
    MessageKind,
    OutboxState,
    OutgoingMail,
    Ticket,
    TicketMessage,
)
from mailticket.oauth import section_tokens
from mailticket.outbound import compose
from mailticket.outbound.lease import Holder, abandoned, current_process
from mailticket.outbound.smtp import Envelope, SendHooks, SmtpSettings, send_batch
from mailticket.store import Store


def next_outbox_id(store: Store) -> str:
    return f"M{store.next_serial('outbox'):06d}"


def _enqueue(store: Store, outgoing: OutgoingMail, *, text: str) -> None:
    """Queue a mail and record it on its ticket, in the caller's store write."""
    store.enqueue(outgoing)
    store.add_message(
        TicketMessage(
            ticket_id=outgoing.ticket_id,
            direction=Direction.OUT,
            kind=outgoing.kind,
            message_id=outgoing.message_id,
            from_addr=outgoing.mail_from,
            to=outgoing.rcpt_to,
            subject=outgoing.subject,
            date=outgoing.created,
            text=text,
        ),
        queued=True,
    )


def queue_effects(store: Store, effects: Effects) -> None:
    """Queue the mail an event owes, after the event's own record."""
    for outgoing, text in effects.outgoing:
        _enqueue(store, outgoing, text=text)


def notify_agents(
    desk: Desk,
    ticket: Ticket,
    event: str,
    effects: Effects,
    *,
    recipients: list[str] | None = None,
    kind: MessageKind = MessageKind.NOTICE,
    thread: tuple[str, ...] = (),
    attachments: Sequence[Attachment] = (),
    **context: object,
) -> None:
    """Queue a note about `ticket` for `recipients` (default: every configured agent), with
    `attachments` (their bytes in `payload`)."""
    agents = recipients or desk.config.agents.addresses
    if not agents:
        effects.notes.append(f"agents not told ({event}): no [agents] addresses configured")
        log.warning("%s: %s, but no agents are configured to tell", ticket.id, event)
        return
    outgoing, text = compose.agent_notice(
        desk.templates,
        desk.identity,
        ticket,
        event=event,
        agents=list(agents),
        outbox_id=next_outbox_id(desk.store),
        now=desk.clock(),
        kind=kind,
        thread=thread,
        attachments=attachments,
        **context,
    )
    effects.outgoing.append((outgoing, text))


Sender = Callable[[Sequence[Envelope], SendHooks], dict[str, DeliveryError | None]]


def smtp_sender(config: Config) -> Sender:
    settings = SmtpSettings(
        host=config.smtp.host,
        port=config.smtp.port,
        security=config.smtp.security,
        username=config.smtp.username,
        password=config.password("smtp") if config.smtp.username else "",
        timeout=config.smtp.timeout,
        verify_tls=config.smtp.tls_verify,
        auth=config.smtp.auth,
        tokens=section_tokens(config, "smtp"),
    )
    return functools.partial(send_batch, settings)


@dataclass
class DrainResult:
    sent: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reclaimed: list[str] = field(default_factory=list)  # `sending` mail of a gone sender, resent

    def add(self, other: DrainResult) -> None:
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed
        self.reclaimed += other.reclaimed


def drain_outbox(desk: Desk, send: Sender, *, me: Holder | None = None) -> DrainResult:
    """Send what is due, at least once and at most once more after a crash.

    Each mail is marked `sending` (with this process as its lease holder) just before its own
    SMTP transaction and `sent` just after it, over one connection per batch: a crash leaves
    one mail in doubt, which is sent again with the same Message-ID as soon as its holder is
    known to be gone (see `lease.abandoned`), so a duplicate is recognisable.
    """
    me = me or current_process()
    result = DrainResult()
    # PostgreSQL: hold our presence lock before taking any lease, so other daemons can tell
    # a mail we are sending from one whose sender is gone.
    desk.store.presence(me.token, desk.config.storage.failover_seconds)
    while True:
        batch = _due(desk, me, result)
        if not batch:
            return result
        run = _BatchRun(desk, me, result, {m.id: m for m in batch})
        envelopes = [Envelope(m.id, m.mail_from, m.rcpt_to, m.raw.encode("ascii")) for m in batch]
        run.finish(send(envelopes, SendHooks(run.start, run.done)))
        if result.deferred:  # the server is unwell: leave the rest for the next drain
            return result


def _due(desk: Desk, me: Holder, result: DrainResult) -> list[OutgoingMail]:
    """The next batch: queued mail whose time came, and `sending` mail of a gone sender."""
    store, now = desk.store, desk.clock()
    single = store.engine.dialect.name == "sqlite"
    gone = None if single else store.holder_gone
    due = {m.id: m for m in store.due_outgoing(now)}
    for mail in store.outbox(OutboxState.SENDING):
        if mail.id not in due and abandoned(mail, me, now, single_daemon=single, session_gone=gone):
            due[mail.id] = mail
    for mail in due.values():
        if mail.state == OutboxState.SENDING:
            result.reclaimed.append(mail.id)
            log.warning("%s: its sender %s is gone, sending it again", mail.id, mail.lease_holder)
    ordered = sorted(due.values(), key=lambda m: (m.created, m.id))
    return ordered[: desk.config.smtp.batch_size]


@dataclass
class _BatchRun:
    """One batch's bookkeeping, called back by the sender around each mail."""

    desk: Desk
    me: Holder
    result: DrainResult
    pending: dict[str, OutgoingMail]
    skipped: set[str] = field(default_factory=set)

    def start(self, envelope: Envelope) -> bool:
        """Take the mail's lease just before its transaction; False when another has it."""
        seen = self.pending[envelope.key]
        now = self.desk.clock()
        sending = replace(
            seen,
            state=OutboxState.SENDING,
            attempts=seen.attempts + 1,
            next_attempt=now + timedelta(seconds=self.desk.config.outbox.stale_sending_seconds),
            lease_holder=self.me.text(),
            lease_taken=now,
        )
        if not self.desk.store.claim_outgoing(sending, seen):
            self.skipped.add(envelope.key)
            del self.pending[envelope.key]
            return False
        self.pending[envelope.key] = sending
        return True

    def done(self, envelope: Envelope, error: DeliveryError | None) -> None:
        """Record the outcome just after the transaction. Not waiting for the disk (see
        `Store.transaction`): a power cut before the next durable commit (the next intake
        batch) re-sends the mails marked since, each with its own Message-ID."""
        with self.desk.store.transaction(durable=False):
            _record(self.desk, self.pending.pop(envelope.key), error, self.result)

    def finish(self, outcomes: dict[str, DeliveryError | None]) -> None:
        """Mail the sender reported only at the end (or not at all): never started, so its
        attempt is counted here."""
        with self.desk.store.transaction():
            for key, mail in self.pending.items():
                if mail.state != OutboxState.SENDING:
                    mail = replace(mail, attempts=mail.attempts + 1)
                error = outcomes.get(key)
                if key not in outcomes:
                    error = TemporaryDeliveryError("no result from the sender")
                _record(self.desk, mail, error, self.result)
        self.pending.clear()


def _record(
    desk: Desk, mail: OutgoingMail, error: DeliveryError | None, result: DrainResult
) -> None:
    """Save one mail's outcome: sent, failed for good (noted on its ticket), or retried later."""
    store, outbox, now = desk.store, desk.config.outbox, desk.clock()
    mail = replace(mail, lease_holder="", lease_taken=None)
    if error is None:
        store.save_outgoing(replace(mail, state=OutboxState.SENT, sent_at=now, last_error=""))
        result.sent.append(mail.id)
    elif isinstance(error, PermanentDeliveryError):
        store.save_outgoing(replace(mail, state=OutboxState.FAILED, last_error=str(error)))
        result.failed.append(mail.id)
        log.error("%s to %s failed for good: %s", mail.id, mail.rcpt_to, error)
        _record_refusal(desk, mail, str(error))
    else:
        delay = min(outbox.retry_base_seconds * 2 ** (mail.attempts - 1), outbox.retry_max_seconds)
        store.save_outgoing(
            replace(
                mail,
                state=OutboxState.QUEUED,
                next_attempt=now + timedelta(seconds=delay),
                last_error=str(error),
            )
        )
        result.deferred.append(mail.id)
        # a refused login (535) is kept and retried too, but only a person fixes it
        level = logging.ERROR if isinstance(error, LoginRefusedError) else logging.WARNING
        log.log(level, "%s deferred %ss: %s", mail.id, delay, error)


def _record_refusal(desk: Desk, mail: OutgoingMail, error: str) -> None:
    """A 5xx for one of our mails: note it on the ticket and tell the agents (never for a
    notice to the agents itself, which would only be refused again)."""
    ticket = desk.store.find_ticket(mail.ticket_id)
    if ticket is None or mail.kind == MessageKind.NOTICE:
        return
    effects = Effects()
    if ADDRESS_FAILURE.search(error):
        dead = tuple(dict.fromkeys((*ticket.undeliverable, *mail.rcpt_to)))
        ticket = save_ticket(desk, replace(ticket, undeliverable=dead, updated=desk.clock()))
    for recipient in mail.rcpt_to:
        notify_agents(
            desk,
            ticket,
            "delivery_failed",
            effects,
            recipient=recipient,
            detail=error,
            original_subject=mail.subject,
        )
    queue_effects(desk.store, effects)
    for note in effects.notes:
        log.warning("%s: %s", ticket.id, note)


# Enhanced status 5.1.x: the address itself is bad (no such user, bad domain).
ADDRESS_FAILURE = re.compile(r"\b5\.1\.\d+\b")


def retry_outgoing(desk: Desk, outbox_id: str) -> OutgoingMail:
    """Make a failed or waiting mail due now (an admin fixed the address or the server)."""
    with desk.store.transaction():
        mail = desk.store.get_outgoing(outbox_id)
        if mail.state == OutboxState.SENT:
            return mail
        mail = replace(mail, state=OutboxState.QUEUED, next_attempt=None)
        desk.store.save_outgoing(mail)
    return mail
