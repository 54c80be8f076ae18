"""Orchestration of one mail (parse -> thread -> decide -> one store write), of an IMAP intake
cycle, and of draining the outbox. The edges (store, mailbox, SMTP sender, clock) come in as
arguments, so every path here runs in tests against real servers or plain objects alike.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from pathlib import Path

from mailticket.completeness import guard
from mailticket.completeness.rules import Category, LiveRules
from mailticket.completeness.score import Assessment, ThreadMail, assess
from mailticket.config import Config
from mailticket.desk import agents, sla
from mailticket.desk.commands import USAGE, parse_commands
from mailticket.desk.decide import (
    Action,
    decide_agent_mail,
    decide_inbound,
    throttle_reason,
    wants_information_reply,
    with_status,
)
from mailticket.desk.match import find_ticket, forged_references, signed_ticket, ticket_tag
from mailticket.errors import ConfigError, DeliveryError, PermanentDeliveryError, StoreError
from mailticket.intake.imap import ImapSettings, Mailbox
from mailticket.mail.dsn import DeliveryReport, looks_like_bounce, read_report
from mailticket.mail.forwards import Origin, forwarded_origin
from mailticket.mail.parse import ParseError, detect_language, parse
from mailticket.model import (
    Clock,
    Direction,
    InboundMail,
    MessageKind,
    OutboxState,
    OutgoingMail,
    QuarantineRecord,
    Ticket,
    TicketMessage,
    TicketStatus,
    replaced,
    system_clock,
)
from mailticket.outbound import compose
from mailticket.outbound.compose import DeskIdentity, Templates
from mailticket.outbound.smtp import Envelope, SmtpSettings, send_batch
from mailticket.store import Store, open_store

log = logging.getLogger("mailticket")

Sender = Callable[[Sequence[Envelope]], dict[str, DeliveryError | None]]

PROCESSED = "processed"
QUARANTINED = "quarantine"


@dataclass
class Desk:
    """What every pipeline step needs: the configuration, the store and the clock."""

    config: Config
    store: Store
    clock: Clock = system_clock

    templates: Templates = field(default_factory=Templates)
    rules: LiveRules | None = None  # completeness rules; None: no scoring, plain receipts

    secret: bytes = b""  # signs our Message-IDs

    @classmethod
    def open(cls, config: Config, clock: Clock = system_clock) -> Desk:
        """Raises `RuleError` on broken rules: a desk does not start without its rules."""
        rules = LiveRules.open(config.rules_path) if config.rules_path else None
        store = open_store(config)
        _warn_about_agents(config)
        return cls(
            config=config,
            store=store,
            clock=clock,
            templates=Templates(config.templates_path),
            rules=rules,
            secret=_message_id_secret(config, store),
        )

    @property
    def sla_policy(self) -> sla.Policy:
        part = self.config.sla
        return sla.Policy(
            first_response_hours=part.first_response_hours,
            reminder_percents=tuple(part.reminder_percents),
            pause_while_pending=part.pause_while_pending,
            delay_extension_days=part.delay_extension_days,
            info_reminder_days=part.info_reminder_days,
            auto_close_days=part.auto_close_days,
            reopen_days=self.config.agents.reopen_days,
            priority_percent=(
                ("urgent", part.urgent_percent),
                ("high", part.high_percent),
                ("low", part.low_percent),
            ),
        )

    @property
    def identity(self) -> DeskIdentity:
        desk = self.config.desk
        return DeskIdentity(desk.address, desk.name, self.config.zone, self.secret)

    @property
    def own_addresses(self) -> set[str]:
        return {self.config.desk.address.lower()}


def _warn_about_agents(config: Config) -> None:
    """Said once when a desk opens: settings that let a forger act as an agent, that trust no
    agent at all, or that leave new tickets unannounced."""
    part = config.agents
    if not (part.addresses or part.domains):
        return
    if not part.require_authentication:
        log.warning(
            "[agents] require_authentication is off: anyone who puts an agent's address in "
            "From can run commands and write to customers from the desk"
        )
    elif not part.trusted_authserv_ids:
        log.warning(
            "[agents] trusted_authserv_ids is empty: no agent's mail can be authenticated, "
            "so all of it is treated as outsiders' mail"
        )
    if not part.team_address and not part.teams:
        log.warning("no [agents] team_address: unassigned tickets are announced to no one")


@dataclass(frozen=True)
class IntakeResult:
    outcome: str  # created | appended | duplicate | quarantined
    destination: str  # PROCESSED or QUARANTINED: where the IMAP message belongs now
    ticket_id: str = ""
    reason: str = ""


# --- one mail ---------------------------------------------------------------------------------


def take_in(desk: Desk, raw: bytes, source: str) -> IntakeResult:
    """Ticket or quarantine one raw mail; raises only `StoreError` (nothing written: retry)."""
    with desk.store.transaction():  # inside a caller's batch: a savepoint
        return _take_in(desk, raw, source)


def _take_in(desk: Desk, raw: bytes, source: str) -> IntakeResult:
    sha = hashlib.sha256(raw).hexdigest()
    desk.store.put_blob(sha, raw)  # before parsing: any mail can be re-read later
    try:
        mail = parse(raw, max_attachment_bytes=desk.config.limits.max_attachment_bytes)
    except ParseError as exc:
        return _quarantine(desk, sha, str(exc), source, dedupe_key=f"sha:{sha}")
    except Exception as exc:
        log.exception("parsing %s failed", source)
        reason = f"parser failed: {type(exc).__name__}: {exc}"
        return _quarantine(desk, sha, reason, source, dedupe_key=f"sha:{sha}")
    try:
        with desk.store.transaction():  # a savepoint: a failure undoes this mail's writes
            for attachment in mail.attachments:
                if attachment.payload:
                    desk.store.put_blob(attachment.sha256, attachment.payload)
            report = None
            if looks_like_bounce(mail.from_addr, mail.is_delivery_report):
                report = read_report(raw)
                mail = replace(mail, is_delivery_report=True)
            return _record(desk, mail, source, report)
    except StoreError:
        raise
    except Exception as exc:
        log.exception("processing %s failed", source)
        reason = f"processing failed: {type(exc).__name__}: {exc}"
        return _quarantine(desk, sha, reason, source, dedupe_key=mail.dedupe_key, mail=mail)


def _quarantine(
    desk: Desk,
    sha: str,
    reason: str,
    source: str,
    *,
    dedupe_key: str,
    mail: InboundMail | None = None,
) -> IntakeResult:
    store = desk.store
    with store.transaction():
        if store.dedupe_destination(dedupe_key) is not None:
            return IntakeResult("duplicate", QUARANTINED, reason=reason)
        record = QuarantineRecord(
            id=f"Q{store.next_serial('quarantine'):06d}",
            raw_sha256=sha,
            reason=reason,
            source=source,
            created=desk.clock(),
            message_id=mail.message_id if mail else "",
            from_addr=mail.from_addr if mail else "",
            subject=mail.subject if mail else "",
        )
        store.add_quarantine(record, dedupe_key)
    log.warning("quarantined %s as %s: %s", source, record.id, reason)
    return IntakeResult("quarantined", QUARANTINED, reason=reason)


def _record(
    desk: Desk, mail: InboundMail, source: str, report: DeliveryReport | None = None
) -> IntakeResult:
    store, config = desk.store, desk.config
    now = desk.clock()
    mail, redacted = guard.redact_mail(mail)  # before anything is stored or forwarded
    claim = _agent_claim(desk, mail)
    is_agent = claim is not None and claim.trusted
    with store.transaction():
        previous = store.dedupe_destination(mail.dedupe_key)
        if previous is not None:
            return IntakeResult("duplicate", previous)
        ticket_id = find_ticket(
            mail,
            config.desk.ticket_prefix,
            store.ticket_for_message_ids,
            lambda candidate: store.find_ticket(candidate) is not None,
            lambda message_id: signed_ticket(message_id, config.desk_domain, desk.secret),
        )
        if ticket_id is None and report is not None and report.message_ids:
            ticket_id = store.ticket_for_message_ids(list(report.message_ids))
        ticket = store.find_ticket(ticket_id) if ticket_id else None
        forwarded_by = ""
        if is_agent and ticket is None and (origin := _forwarded_customer(desk, mail)):
            forwarded_by, is_agent = mail.from_addr, False
            mail = replace(
                mail,
                from_addr=origin.address,
                from_name=origin.name,
                subject=origin.subject or mail.subject,
                text=origin.text or mail.text,
            )
        stranger = _stranger_by_tag(desk, mail, ticket, is_agent)
        if stranger and config.desk.stranger_tag == "new_ticket":
            ticket = None
        if ticket is not None and not is_agent:
            ticket = _continuation(desk, ticket)
        decision = decide_inbound(
            mail,
            ticket,
            is_agent=is_agent,
            own_addresses=desk.own_addresses,
            now=now,
            reopen_days=config.agents.reopen_days,
        )
        if decision.action == Action.QUARANTINE:
            return _quarantine(
                desk,
                mail.raw_sha256,
                decision.reason,
                source,
                dedupe_key=mail.dedupe_key,
                mail=mail,
            )
        effects = Effects(notes=list(decision.notes))
        if forwarded_by:
            effects.notes.append(f"forwarded in by agent {forwarded_by} for {mail.from_addr}")
        if stranger:
            handled = "a new ticket" if ticket is None else "attached: agents, please check"
            effects.notes.append(
                f"claims {ticket_id} by its subject tag but is not in its conversation: {handled}"
            )
        forged = forged_references(mail, config.desk_domain, desk.secret)
        if forged:
            effects.notes.append(f"forged reference to our mail, ignored: {', '.join(forged[:3])}")
        if claim is not None and claim.trusted:
            effects.notes.append(f"agent authenticated: {claim.reason}")
        if decision.action == Action.NEW_TICKET:
            answered = ticket if decision.continues else None
            ticket = before = _new_ticket(desk, mail, continues=answered)
            if answered is not None:
                _close_continued(desk, answered, ticket.id)
            outcome = "created"
        else:
            assert ticket is not None
            before = ticket
            ticket = replace(ticket, updated=now)
            if decision.reopen or decision.resume:
                ticket = with_status(ticket, TicketStatus.OPEN, now)
            if decision.kind == MessageKind.BOUNCE and report is not None:
                ticket = _apply_bounce(desk, ticket, report, effects)
            outcome = "appended"
        assessment: Assessment | None = None
        flags: tuple[str, ...] = ()
        kind = decision.kind
        if kind in CUSTOMER_KINDS:
            flags = guard.flags(f"{mail.subject}\n{mail.text}", redacted)
            if claim is not None and not claim.trusted:
                flags += (f"not authenticated as agent {mail.from_addr}: {claim.reason}",)
            effects.notes.extend(flags)
            ticket, assessment = _rescore(desk, ticket, effects, mail=mail, kind=kind, flags=flags)
        elif kind == MessageKind.AGENT:
            ticket, kind = _act_on_agent_mail(desk, ticket, mail, effects)
        ticket = save_ticket(desk, ticket, new=outcome == "created")
        if decision.acknowledge:
            category = assessment.category if assessment else None
            _reply_automatically(desk, ticket, mail, effects, category=category, redacted=redacted)
        elif assessment and wants_information_reply(before, ticket, decision.kind):
            _reply_automatically(
                desk,
                ticket,
                mail,
                effects,
                category=assessment.category,
                received=assessment.received,
                redacted=redacted,
            )
        store.add_message(
            _inbound_message(
                ticket.id,
                mail,
                kind,
                tuple(effects.notes),
                now,
                extracted=assessment.extracted if assessment else {},
                flags=flags,
            )
        )
        if kind in CUSTOMER_KINDS:
            event = "new" if kind == MessageKind.COMPLAINT else "followup"
            _notify_assignee(
                desk, ticket, "reopened" if decision.reopen else event, effects, text=mail.text
            )
        effects.enqueue(store)
    for note in effects.notes:
        log.info("%s: %s", ticket.id, note)
    log.info("%s %s from %s (%s)", outcome, ticket.id, mail.from_addr, source)
    return IntakeResult(outcome, PROCESSED, ticket_id=ticket.id)


CUSTOMER_KINDS = (MessageKind.COMPLAINT, MessageKind.FOLLOWUP)


def _rescore(
    desk: Desk,
    ticket: Ticket,
    effects: Effects,
    *,
    mail: InboundMail | None = None,
    kind: MessageKind = MessageKind.FOLLOWUP,
    flags: tuple[str, ...] = (),
    category: str = "",
) -> tuple[Ticket, Assessment | None]:
    """The ticket scored again on its whole thread with this customer `mail` (when there are
    rules), its flags gathered from every customer mail; a new category brings its deadline.
    The `category` an agent chose (now, or earlier: `category_set_by`) is kept, not guessed."""
    zone = desk.config.zone
    earlier = [
        m
        for m in desk.store.messages(ticket.id)
        if m.direction == Direction.IN and m.kind in CUSTOMER_KINDS
    ]
    thread_flags = [f for m in earlier for f in m.flags] + list(flags)
    if desk.rules is None:
        return replace(ticket, flags=tuple(dict.fromkeys(thread_flags))), None
    thread = [
        ThreadMail(
            m.message_id,
            m.date.astimezone(zone),
            m.subject if m.kind == MessageKind.COMPLAINT else "",  # replies repeat it
            m.text,
            m.attachments,
        )
        for m in earlier
    ]
    if mail is not None:
        thread.append(
            ThreadMail(
                mail.message_id,
                (mail.date or desk.clock()).astimezone(zone),
                mail.subject if kind == MessageKind.COMPLAINT else "",
                mail.text,
                mail.attachments,
            )
        )
    chosen = category or (ticket.category if ticket.category_set_by else "")
    forced = desk.rules.current.get(chosen) if chosen else None
    assessment = assess(desk.rules.current, thread, category=forced)
    effects.notes.append(assessment.explanation())
    classification = assessment.classification
    scored = replace(
        ticket,
        category=assessment.category.id,
        category_confidence=classification.confidence,
        score=assessment.score,
        complete=assessment.complete,
        missing=assessment.missing,
        fields=assessment.fields,
        field_history=assessment.history,
        flags=tuple(dict.fromkeys([*filter(None, [classification.flag]), *thread_flags])),
    )
    if scored.category != ticket.category:
        scored = _with_deadline(desk, scored, assessment.category)
    return scored, assessment


def _with_deadline(desk: Desk, ticket: Ticket, category: Category | None) -> Ticket:
    """The promise in working days for the category (else the desk's) and the priority,
    counted from when the complaint arrived; the first-response target is set anew too."""
    base = category.sla_working_days if category else desk.config.desk.sla_working_days
    days = desk.sla_policy.scaled(base, ticket.priority)
    due = desk.config.business_calendar.add_working_days(ticket.created, days)
    first_response_due = None if ticket.first_response_at is None else ticket.first_response_due
    return replace(ticket, sla_working_days=days, due=due, first_response_due=first_response_due)


@dataclass
class Effects:
    """What handling one event adds besides the ticket: notes on it, and mail to queue after
    the event's own record (so a ticket's history reads in order)."""

    notes: list[str] = field(default_factory=list)
    outgoing: list[tuple[OutgoingMail, str]] = field(default_factory=list)

    def enqueue(self, store: Store) -> None:
        for outgoing, text in self.outgoing:
            _enqueue(store, outgoing, text=text)


AUTOMATIC_CUSTOMER_KINDS = {
    MessageKind.ACKNOWLEDGEMENT.value,
    MessageKind.INFORMATION_REQUEST.value,
}


def _reply_automatically(
    desk: Desk,
    ticket: Ticket,
    mail: InboundMail,
    effects: Effects,
    *,
    category: Category | None,
    redacted: tuple[str, ...],
    received: tuple[str, ...] | None = None,
) -> None:
    """Queue the acknowledgement (or, with `received`, the answer to a follow-up) unless the
    address is dead, the sender is storming us, or the same reply went out recently."""
    store, limits, now = desk.store, desk.config.limits, desk.clock()
    what = "acknowledgement" if received is None else "information request"
    if _undeliverable(ticket, ticket.customer):
        effects.notes.append("no automatic reply: the address is marked undeliverable")
        return
    outbox_id = _next_outbox_id(store)
    try:
        outgoing, text = compose.customer_reply(
            desk.templates,
            desk.identity,
            ticket,
            mail,
            MessageKind.ACKNOWLEDGEMENT if received is None else MessageKind.INFORMATION_REQUEST,
            outbox_id=outbox_id,
            now=now,
            category=category,
            received=received or (),
            redacted=redacted,
        )
    except Exception as exc:
        log.exception("%s: the %s could not be composed", ticket.id, what)
        effects.notes.append(f"no {what}: composing it failed: {type(exc).__name__}: {exc}")
        return
    held = throttle_reason(
        store.automatic_replies_since(
            ticket.customer, AUTOMATIC_CUSTOMER_KINDS, now - timedelta(hours=1)
        ),
        limits.auto_replies_per_sender_per_hour,
        store.has_identical_since(
            ticket.id, outgoing.fingerprint, now - timedelta(hours=limits.identical_reply_hours)
        ),
    )
    if held:
        effects.notes.append(f"no automatic reply: {held}")
        return
    effects.outgoing.append((outgoing, text))


def _next_outbox_id(store: Store) -> str:
    return f"M{store.next_serial('outbox'):06d}"


def _apply_bounce(desk: Desk, ticket: Ticket, report: DeliveryReport, effects: Effects) -> Ticket:
    """Mark the addresses a bounce proves dead, and tell the agents."""
    failed = dict(report.failed)
    returned = [m for m in desk.store.outbox_of(ticket.id) if m.message_id in report.message_ids]
    if not failed and not report.delayed:  # an old-style bounce: it is about our recipients
        for outgoing in returned:
            failed.update((r, "returned to sender") for r in outgoing.rcpt_to)
    if not failed:
        delayed = ", ".join(report.delayed) or "unknown recipients"
        effects.notes.append(f"delivery delayed to {delayed}")
        return ticket
    dead = tuple(dict.fromkeys((*ticket.undeliverable, *failed)))
    ticket = replace(ticket, undeliverable=dead)
    original = returned[0].subject if returned else ""
    for recipient, detail in failed.items():
        effects.notes.append(f"bounce: {recipient} marked undeliverable ({detail})")
        _notify_agents(
            desk,
            ticket,
            "bounced",
            effects,
            recipient=recipient,
            detail=detail,
            original_subject=original,
        )
    return ticket


def save_ticket(desk: Desk, ticket: Ticket, *, new: bool = False) -> Ticket:
    """Store a ticket with its SLA clock brought up to date: every ticket write goes here, so
    the sweep's index of next checks is never stale."""
    ticket = sla.plan(ticket, desk.config.business_calendar, desk.sla_policy, desk.clock())
    if new:
        desk.store.add_ticket(ticket)
    else:
        desk.store.update_ticket(ticket)
    return ticket


def _message_id_secret(config: Config, store: Store) -> bytes:
    """`[desk] secret_env` names it; else one made for this store, once, and kept there."""
    if config.desk.secret_env:
        value = os.environ.get(config.desk.secret_env, "")
        if not value:
            raise ConfigError(
                f"environment variable {config.desk.secret_env} is not set",
                path=config.source,
                key="desk.secret_env",
            )
        return value.encode("utf-8")
    with store.transaction():
        secret = store.mark("message_id_secret")
        if not secret:
            secret = secrets.token_hex(32)
            store.set_mark("message_id_secret", secret)
    return secret.encode("ascii")


def _forwarded_customer(desk: Desk, mail: InboundMail) -> Origin | None:
    """The customer whose mail an agent forwarded to the desk: the ticket is theirs."""
    origin = forwarded_origin(f"{mail.text}\n{mail.quoted}")
    if origin is None or desk.config.is_agent(origin.address):
        return None
    return None if origin.address.lower() in desk.own_addresses else origin


def _stranger_by_tag(desk: Desk, mail: InboundMail, ticket: Ticket | None, is_agent: bool) -> bool:
    """A mail that joins `ticket` only by its subject tag, from someone who is neither its
    customer, nor in its conversation, nor an agent: it must not silently join."""
    if ticket is None or is_agent:
        return False
    if ticket_tag(mail.subject, desk.config.desk.ticket_prefix) != ticket.id:
        return False  # found by headers or by a bounce's report, not by the tag
    referenced = [*mail.in_reply_to, *mail.references]
    if desk.store.ticket_for_message_ids(referenced) == ticket.id:
        return False
    domain, secret = desk.config.desk_domain, desk.secret
    if any(signed_ticket(m, domain, secret) == ticket.id for m in referenced):
        return False
    sender = mail.from_addr.lower()
    participants = {ticket.customer.lower()}
    for message in desk.store.messages(ticket.id):
        if message.direction == Direction.IN:
            participants.update(a.lower() for a in (message.from_addr, *message.to, *message.cc))
    participants.discard(desk.config.desk.address.lower())
    return sender not in participants


def _notify_agents(
    desk: Desk,
    ticket: Ticket,
    event: str,
    effects: Effects,
    *,
    recipients: list[str] | None = None,
    kind: MessageKind = MessageKind.NOTICE,
    thread: tuple[str, ...] = (),
    **context: object,
) -> None:
    """Queue a note about `ticket` for `recipients` (default: every configured agent)."""
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
        outbox_id=_next_outbox_id(desk.store),
        now=desk.clock(),
        kind=kind,
        thread=thread,
        **context,
    )
    effects.outgoing.append((outgoing, text))


def _new_ticket(desk: Desk, mail: InboundMail, continues: Ticket | None = None) -> Ticket:
    """A ticket for a new complaint, or for a customer's answer to a closed ticket (which it
    `continues`: same subject, and the old one named as `previous_ticket`)."""
    config, now = desk.config, desk.clock()
    local_now = now.astimezone(config.zone)
    days = config.desk.sla_working_days
    return Ticket(
        id=desk.store.next_ticket_id(config.desk.ticket_prefix, local_now.year),
        status=TicketStatus.OPEN,
        customer=mail.from_addr,
        customer_name=mail.from_name,
        subject=continues.subject if continues else mail.subject,
        language=detect_language(mail.subject, mail.text),
        created=now,
        updated=now,
        due=config.business_calendar.add_working_days(now, days),
        sla_working_days=days,
        previous_ticket=continues.id if continues else "",
    )


def _close_continued(desk: Desk, ticket: Ticket, successor: str) -> None:
    """The answered ticket is closed (if it was only resolved) and points at its successor,
    where the customer's further mail on the old thread goes."""
    now = desk.clock()
    closed = with_status(ticket, TicketStatus.CLOSED, now)
    save_ticket(desk, replace(closed, continued_by=successor, updated=now))


def _continuation(desk: Desk, ticket: Ticket) -> Ticket:
    """The newest ticket that continues a closed one: a customer's second mail on the old
    thread joins the ticket their first one started instead of starting another."""
    seen = {ticket.id}
    while ticket.status == TicketStatus.CLOSED and ticket.continued_by not in seen:
        successor = desk.store.find_ticket(ticket.continued_by) if ticket.continued_by else None
        if successor is None:
            break
        seen.add(successor.id)
        ticket = successor
    return ticket


def _inbound_message(
    ticket_id: str,
    mail: InboundMail,
    kind: MessageKind,
    notes: tuple[str, ...],
    now: datetime,
    *,
    extracted: dict[str, str],
    flags: tuple[str, ...],
) -> TicketMessage:
    return TicketMessage(
        ticket_id=ticket_id,
        direction=Direction.IN,
        kind=kind,
        message_id=mail.message_id,
        from_addr=mail.from_addr,
        to=mail.to,
        cc=mail.cc,
        subject=mail.subject,
        date=mail.date or now,
        text=mail.text,
        in_reply_to=mail.in_reply_to,
        references=mail.references,
        raw_sha256=mail.raw_sha256,
        dedupe_key=mail.dedupe_key,
        attachments=mail.attachments,
        defects=mail.defects,
        notes=notes,
        quoted=mail.quoted,
        extracted=extracted,
        flags=flags,
    )


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
        )
    )


# --- agents -----------------------------------------------------------------------------------


def _agent_claim(desk: Desk, mail: InboundMail) -> agents.Verdict | None:
    """For mail from an agent's address, whether it may act as that agent: vouched for by a
    trusted server, or taken on its From when `require_authentication` is off. None for
    everyone else."""
    part = desk.config.agents
    if not desk.config.is_agent(mail.from_addr):
        return None
    if not part.require_authentication:
        return agents.Verdict(True, "not checked ([agents] require_authentication = false)")
    return agents.verify_sender(
        mail.authentication_results, mail.from_addr, part.trusted_authserv_ids
    )


def _act_on_agent_mail(
    desk: Desk, ticket: Ticket, mail: InboundMail, effects: Effects
) -> tuple[Ticket, MessageKind]:
    """An authenticated agent's mail on a ticket: its commands applied and its words relayed
    to the customer; or, when a command line is not understood, nothing done and the agent
    told which line. Returns the ticket and how the mail is recorded (AGENT or NOTE)."""
    now, sender, assigned = desk.clock(), mail.from_addr, ticket.assignee
    rules = desk.rules.current if desk.rules else None
    decision = decide_agent_mail(
        parse_commands(mail.text),
        ticket,
        sender=sender,
        addressed_customer=ticket.customer.lower() in (a.lower() for a in (*mail.to, *mail.cc)),
        is_agent=desk.config.is_agent,
        categories=[c.id for c in rules.categories] if rules else [],
    )
    effects.notes.extend(decision.notes)
    if decision.problems:
        problems = "; ".join(str(p) for p in decision.problems)
        effects.notes.append(f"not understood, nothing done: {problems}")
        _notify_agents(
            desk,
            ticket,
            "command_error",
            effects,
            recipients=[sender],
            kind=MessageKind.COMMAND_ERROR,
            thread=(*mail.references, mail.message_id),
            problems=list(decision.problems),
            usages=list(USAGE.values()),
        )
        return ticket, decision.kind
    if decision.status is not None:
        ticket = with_status(ticket, decision.status, now)
    if decision.priority is not None and decision.priority != ticket.priority:
        prioritised = replace(ticket, priority=decision.priority)
        ticket = _with_deadline(desk, prioritised, _category(desk, ticket))
    if decision.assignee:
        ticket = replace(ticket, assignee=decision.assignee)
    if decision.category:
        ticket, _ = _rescore(
            desk, replace(ticket, category_set_by=sender), effects, category=decision.category
        )
    if decision.public and ticket.first_response_at is None:
        ticket = replace(ticket, first_response_at=now)
    if decision.send is not None:
        terms = (
            _resolution_terms(desk, ticket, now) if decision.send == MessageKind.RESOLUTION else {}
        )
        _tell_customer(desk, ticket, decision.send, effects, now, text=decision.text, **terms)
    if decision.assignee not in ("", sender.lower(), assigned):
        last = _last_customer_mail(desk, ticket)
        _notify_assignee(
            desk, ticket, "assigned", effects, assigned_by=sender, text=last.text if last else ""
        )
    return ticket, decision.kind


def _resolution_terms(desk: Desk, ticket: Ticket, now: datetime) -> dict[str, object]:
    """What the resolution mail says about not being satisfied: reply by when to reopen the
    ticket, and where to turn after that."""
    days = desk.config.agents.reopen_days
    until = compose.format_due(now + timedelta(days=days), ticket.language, desk.config.zone)
    return {
        "reopen_days": days,
        "reopen_until": until,
        "escalation_path": desk.config.desk.escalation_path,
    }


def _notify_assignee(
    desk: Desk, ticket: Ticket, occasion: str, effects: Effects, **context: object
) -> None:
    """Tell the assignee, or the team while nobody is assigned, what happened on a ticket.
    Each notice answers the ticket's previous one and has Reply-To the desk, so an agent's
    answer comes back here, on this ticket."""
    to = ticket.assignee or desk.config.team_for(ticket.category)
    if not to:
        return
    if _undeliverable(ticket, to):
        effects.notes.append(f"agents not told ({occasion}): {to} is marked undeliverable")
        return
    earlier = [
        m.message_id
        for m in desk.store.messages(ticket.id)
        if m.kind == MessageKind.AGENT_NOTIFICATION
    ]
    _notify_agents(
        desk,
        ticket,
        "agent_notification",
        effects,
        recipients=[to],
        kind=MessageKind.AGENT_NOTIFICATION,
        thread=tuple(earlier[-10:]),
        occasion=occasion,
        **compose.ticket_facts(ticket, _category(desk, ticket), desk.config.zone),
        **context,
    )


def _category(desk: Desk, ticket: Ticket) -> Category | None:
    rules = desk.rules.current if desk.rules else None
    return rules.get(ticket.category) if rules and ticket.category else None


def _last_customer_mail(desk: Desk, ticket: Ticket, *, bodies: bool = True) -> TicketMessage | None:
    """The customer's latest mail on the ticket: what our mail to them answers (without its
    texts read back from the packs when only its Message-IDs are needed)."""
    mails = [
        m
        for m in desk.store.messages(ticket.id, bodies=bodies)
        if m.direction == Direction.IN and m.kind in CUSTOMER_KINDS
    ]
    return mails[-1] if mails else None


def _undeliverable(ticket: Ticket, address: str) -> bool:
    return address.lower() in (a.lower() for a in ticket.undeliverable)


# --- the outbox -------------------------------------------------------------------------------


def smtp_sender(config: Config) -> Sender:
    settings = SmtpSettings(
        host=config.smtp.host,
        port=config.smtp.port,
        security=config.smtp.security,
        username=config.smtp.username,
        password=config.password("smtp") if config.smtp.username else "",
        timeout=config.smtp.timeout,
        verify_tls=config.smtp.tls_verify,
    )
    return functools.partial(send_batch, settings)


@dataclass
class DrainResult:
    sent: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def add(self, other: DrainResult) -> None:
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed


def drain_outbox(desk: Desk, send: Sender) -> DrainResult:
    """Send what is due, at least once and at most once more after a crash.

    Each mail is marked `sending` (with the time after which it counts as abandoned) before the
    SMTP transaction and `sent` after it; a crash in between re-sends it later with the same
    Message-ID, so a duplicate is recognisable.
    """
    store, outbox = desk.store, desk.config.outbox
    result = DrainResult()
    while True:
        now = desk.clock()
        with store.transaction():
            due = store.due_outgoing(now)[: desk.config.smtp.batch_size]
            abandoned_after = now + timedelta(seconds=outbox.stale_sending_seconds)
            batch = [
                replace(
                    m,
                    state=OutboxState.SENDING,
                    attempts=m.attempts + 1,
                    next_attempt=abandoned_after,
                )
                for m in due
            ]
            for mail in batch:
                store.save_outgoing(mail)
        if not batch:
            return result
        outcomes = send(
            [Envelope(m.id, m.mail_from, m.rcpt_to, m.raw.encode("ascii")) for m in batch]
        )
        now = desk.clock()
        with store.transaction():
            for mail in batch:
                error = outcomes.get(mail.id)
                if error is None and mail.id in outcomes:
                    store.save_outgoing(
                        replace(mail, state=OutboxState.SENT, sent_at=now, last_error="")
                    )
                    result.sent.append(mail.id)
                elif isinstance(error, PermanentDeliveryError):
                    store.save_outgoing(
                        replace(mail, state=OutboxState.FAILED, last_error=str(error))
                    )
                    result.failed.append(mail.id)
                    log.error("%s to %s failed for good: %s", mail.id, mail.rcpt_to, error)
                    _record_refusal(desk, mail, str(error))
                else:
                    delay = min(
                        outbox.retry_base_seconds * 2 ** (mail.attempts - 1),
                        outbox.retry_max_seconds,
                    )
                    store.save_outgoing(
                        replace(
                            mail,
                            state=OutboxState.QUEUED,
                            next_attempt=now + timedelta(seconds=delay),
                            last_error=str(error or "no result from the sender"),
                        )
                    )
                    result.deferred.append(mail.id)
                    log.warning("%s deferred %ss: %s", mail.id, delay, error)
        if result.deferred:  # the server is unwell: leave the rest for the next drain
            return result


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
        _notify_agents(
            desk,
            ticket,
            "delivery_failed",
            effects,
            recipient=recipient,
            detail=error,
            original_subject=mail.subject,
        )
    effects.enqueue(desk.store)
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


# --- IMAP intake ------------------------------------------------------------------------------


def imap_settings(config: Config) -> ImapSettings:
    return ImapSettings(
        host=config.imap.host,
        port=config.imap.port,
        security=config.imap.security,
        username=config.imap.username,
        password=config.password("imap"),
        folder=config.imap.folder,
        timeout=config.imap.timeout,
        tls_verify=config.imap.tls_verify,
    )


def open_mailbox(config: Config) -> Mailbox:
    """A connected mailbox with the processed and quarantine folders in place."""
    mailbox = Mailbox(imap_settings(config))
    try:
        mailbox.ensure_folder(config.imap.processed_folder)
        mailbox.ensure_folder(config.imap.quarantine_folder)
    except Exception:
        mailbox.close()
        raise
    return mailbox


def intake_cycle(
    desk: Desk, mailbox: Mailbox, after_batch: Callable[[], None] | None = None
) -> Counter[str]:
    """Take in every message of the intake folder not yet taken in, then move it out.

    The position (UIDVALIDITY, last UID, moves still owed) is stored, so a crash between storing
    a ticket and moving its message costs one MOVE on the next cycle, never a second ticket.
    `after_batch` runs once each batch is durable (and moved).
    """
    config, store = desk.config, desk.store
    folders = {PROCESSED: config.imap.processed_folder, QUARANTINED: config.imap.quarantine_folder}
    key = f"{config.imap.username}@{config.imap.host}/{config.imap.folder}"
    position = store.imap_position(key)
    if position.get("uidvalidity") != mailbox.uidvalidity:
        if position:
            log.warning("UIDVALIDITY of %s changed: reading the folder again", key)
        position = {"uidvalidity": mailbox.uidvalidity, "last_uid": 0, "pending": {}}
    counts: Counter[str] = Counter()
    present = mailbox.uids()
    owed = {int(u): d for u, d in position.get("pending", {}).items() if int(u) in set(present)}
    _move(mailbox, owed, folders)
    position["pending"] = {}
    store.save_imap_position(key, position)
    fresh = [u for u in present if u > position["last_uid"]]
    for start in range(0, len(fresh), config.imap.batch_size):
        done: dict[int, str] = {}
        failure: StoreError | None = None
        # One transaction per batch: its mails, blobs and position become durable together
        # (three fsyncs a batch, not a few a mail); a mail that fails is undone alone.
        with store.transaction():
            for fetched in mailbox.fetch(fresh[start : start + config.imap.batch_size]):
                try:
                    result = take_in(desk, fetched.raw, source=f"imap:{key}:{fetched.uid}")
                except StoreError as exc:
                    failure = exc
                    break
                done[fetched.uid] = result.destination
                counts[result.outcome] += 1
            if done:
                position = {
                    "uidvalidity": mailbox.uidvalidity,
                    "last_uid": max(done),
                    "pending": {str(u): d for u, d in done.items()},
                }
                store.save_imap_position(key, position)
        if done:
            _move(mailbox, done, folders)
            position["pending"] = {}
            store.save_imap_position(key, position)
            if after_batch is not None:
                after_batch()
        if failure is not None:
            raise failure
    return counts


def intake_and_send(desk: Desk, mailbox: Mailbox, send: Sender) -> tuple[Counter[str], DrainResult]:
    """`intake_cycle` with the outbox drained after each batch: a burst is answered batch by
    batch instead of after the whole inbox. (Draining in a thread beside the intake was
    measured too: no faster, as the GIL serialises the SMTP client's Python work.)"""
    result = DrainResult()
    counts = intake_cycle(desk, mailbox, after_batch=lambda: result.add(drain_outbox(desk, send)))
    return counts, result


def _move(mailbox: Mailbox, destinations: dict[int, str], folders: dict[str, str]) -> None:
    for destination, folder in folders.items():
        mailbox.move([u for u, d in destinations.items() if d == destination], folder)


# --- a local Maildir (the demo's inbox, or a server that delivers to disk) ----------------------

MAILDIR_FOLDERS = {PROCESSED: ".Processed", QUARANTINED: ".Quarantine"}


def maildir_cycle(desk: Desk, root: Path) -> Counter[str]:
    """Take in every mail in a Maildir's new/ and cur/, then rename it into .Processed or
    .Quarantine (Maildir++ folders); a crash before the rename only causes a dedupe hit."""
    for folder in ("", *MAILDIR_FOLDERS.values()):
        for part in ("new", "cur", "tmp"):
            (root / folder / part).mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    waiting = sorted((root / "new").iterdir()) + sorted((root / "cur").iterdir())
    for path in waiting:
        if not path.is_file():
            continue
        result = take_in(desk, path.read_bytes(), source=f"maildir:{path.name}")
        counts[result.outcome] += 1
        os.replace(path, root / MAILDIR_FOLDERS[result.destination] / "cur" / path.name)
    return counts


# --- the SLA sweep ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepAction:
    ticket_id: str
    threshold: str
    action: str
    to: tuple[str, ...]


class _DryRun(Exception):
    """Unwinds a sweep transaction so that nothing it did is kept."""


def sweep(desk: Desk, *, now: datetime | None = None, dry_run: bool = False) -> list[SweepAction]:
    """Act on every SLA threshold that has come, each exactly once per ticket, even across
    restarts: the mail and the record that it was sent land in one store transaction.

    Reads only tickets whose indexed next check has come. With `dry_run`, says what it would
    do and writes nothing.
    """
    now = now or desk.clock()
    done: list[SweepAction] = []
    due = [t.id for t in desk.store.tickets_to_check(now)]
    for start in range(0, len(due), SWEEP_BATCH):  # one durable write per batch, not per ticket
        actions: list[SweepAction] = []
        try:
            with desk.store.transaction():
                for ticket_id in due[start : start + SWEEP_BATCH]:
                    current = desk.store.get_ticket(ticket_id)  # as of now, under the lock
                    actions += _sweep_ticket(desk, current, now)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        done += actions
    return done


SWEEP_BATCH = 200


def _sweep_ticket(desk: Desk, ticket: Ticket, now: datetime) -> list[SweepAction]:
    calendar, policy = desk.config.business_calendar, desk.sla_policy
    effects = Effects()
    actions: list[SweepAction] = []
    for threshold in sla.due_now(ticket, calendar, policy, now):
        ticket, action = _act(desk, ticket, threshold, now, effects)
        ticket = replaced(ticket, sla_fired=(*ticket.sla_fired, threshold.name))
        actions.append(action)
        if ticket.status == TicketStatus.CLOSED:
            break
    save_ticket(desk, ticket)
    effects.enqueue(desk.store)
    for note in effects.notes:
        log.info("%s: %s", ticket.id, note)
    return actions


def _agents_for(desk: Desk, ticket: Ticket) -> list[str]:
    """The assignee, else the category's team, else every agent."""
    if ticket.assignee:
        return [ticket.assignee]
    team = desk.config.team_for(ticket.category)
    return [team] if team else list(desk.config.agents.addresses)


def _act(
    desk: Desk, ticket: Ticket, threshold: sla.Threshold, now: datetime, effects: Effects
) -> tuple[Ticket, SweepAction]:
    """Do what one threshold asks; returns the ticket as it changed and what was done."""
    zone, language = desk.config.zone, ticket.language
    due = compose.format_due(ticket.due, "zh", zone) if ticket.due else ""
    recipients: list[str] = []
    if threshold.action in ("first_response", "reminder"):
        recipients = _agents_for(desk, ticket)
        event = "sla_first_response" if threshold.action == "first_response" else "sla_reminder"
        _notify_agents(
            desk,
            ticket,
            event,
            effects,
            recipients=recipients,
            kind=MessageKind.REMINDER,
            percent=threshold.percent,
            due=due,
        )
    elif threshold.action == "escalation":
        supervisor = desk.config.agents.supervisor
        recipients = [supervisor] if supervisor else _agents_for(desk, ticket)
        _notify_agents(
            desk,
            ticket,
            "sla_escalation",
            effects,
            recipients=recipients,
            kind=MessageKind.ESCALATION,
            due=due,
            assignee=ticket.assignee or "(unassigned / 未分配)",
        )
    elif threshold.action == "delay":
        new_due = sla.extended_due(ticket, desk.config.business_calendar, desk.sla_policy, now)
        recipients = _tell_customer(
            desk,
            ticket,
            MessageKind.DELAY_NOTICE,
            effects,
            now,
            new_due=compose.format_due(new_due, language, zone),
            escalation_path=desk.config.desk.escalation_path,
        )
        ticket = replaced(ticket, due=new_due, updated=now)
    elif threshold.action == "info_reminder":
        recipients = _tell_customer(desk, ticket, MessageKind.INFO_REMINDER, effects, now)
    elif threshold.action == "auto_close":
        recipients = _tell_customer(desk, ticket, MessageKind.CLOSING_NOTICE, effects, now)
        ticket = replaced(ticket, status=TicketStatus.CLOSED, closed_at=now, updated=now)
    else:  # close_resolved: the reopening window has passed; nothing to send
        ticket = replaced(ticket, status=TicketStatus.CLOSED, closed_at=now, updated=now)
    return ticket, SweepAction(ticket.id, threshold.name, threshold.action, tuple(recipients))


def _tell_customer(
    desk: Desk,
    ticket: Ticket,
    kind: MessageKind,
    effects: Effects,
    now: datetime,
    **context: object,
) -> list[str]:
    """Queue a mail to the customer (scheduled, or an agent's words), threaded under their
    last mail."""
    if _undeliverable(ticket, ticket.customer):
        effects.notes.append(f"no {kind.value}: the address is marked undeliverable")
        return []
    last = _last_customer_mail(desk, ticket, bodies=False)
    outgoing, text = compose.scheduled_customer_mail(
        desk.templates,
        desk.identity,
        ticket,
        kind,
        outbox_id=_next_outbox_id(desk.store),
        now=now,
        in_reply_to=last.message_id if last else "",
        references=last.references if last else (),
        category=_category(desk, ticket),
        **context,
    )
    effects.outgoing.append((outgoing, text))
    return list(outgoing.rcpt_to)


def send_digests(desk: Desk, now: datetime | None = None) -> list[OutgoingMail]:
    """Once a day after `[sla] digest_time`: each assignee, and the team for unassigned
    tickets, gets their open tickets by time left, overdue first."""
    now = now or desk.clock()
    local = now.astimezone(desk.config.zone)
    if local.time() < time.fromisoformat(desk.config.sla.digest_time):
        return []
    store, today = desk.store, local.date().isoformat()
    sent: list[OutgoingMail] = []
    with store.transaction():
        if store.mark("digest") == today:
            return []
        waiting = store.tickets(TicketStatus.OPEN) + store.tickets(TicketStatus.PENDING)
        by_recipient: dict[str, list[Ticket]] = {}
        for ticket in waiting:
            for recipient in _agents_for(desk, ticket):
                by_recipient.setdefault(recipient, []).append(ticket)
        for recipient, tickets in sorted(by_recipient.items()):
            rows = [
                {
                    "id": t.id,
                    "status": t.status.value,
                    "left": _time_left(t, now),
                    "subject": compose.header_safe(t.subject, 60),
                }
                for t in sorted(tickets, key=lambda t: t.due or now)
            ]
            text, html = desk.templates.render(
                "digest", "agent", rows=rows, date=today, desk_name=desk.config.desk.name
            )
            outgoing = compose.build_mail(
                desk=desk.identity,
                outbox_id=_next_outbox_id(store),
                ticket_id=f"DIGEST-{today}",  # about no one ticket: replies match none
                kind=MessageKind.DIGEST,
                recipients=[("", recipient)],
                subject=text.strip().splitlines()[0],
                text=text,
                html=html,
                now=now,
                language="zh",
                auto_submitted="auto-generated",
            )
            store.enqueue(outgoing)
            sent.append(outgoing)
        store.set_mark("digest", today)
    return sent


def _time_left(ticket: Ticket, now: datetime) -> str:
    if ticket.due is None:
        return "-"
    hours = (ticket.due - now).total_seconds() / 3600
    if hours < 0:
        return f"overdue {-hours:.0f}h / 超期"
    return f"{hours / 24:.1f}d" if hours >= 48 else f"{hours:.0f}h"
