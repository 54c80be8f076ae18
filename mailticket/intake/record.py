"""Taking in one raw mail from any source: keep the raw bytes, parse, and record it in one
store transaction, or put it in quarantine with the reason. `_record` reads top to bottom
as the decision sequence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mailticket.budget import BudgetExceeded, Deadline
from mailticket.completeness import guard
from mailticket.completeness.score import Assessment
from mailticket.desk import agents
from mailticket.desk.agent_mail import (
    act_on_agent_mail,
    agent_claim,
    answer_unmatched_agent,
    notify_assignee,
    refuse_agent,
)
from mailticket.desk.context import Desk, log
from mailticket.desk.customer_mail import hold_as_loop, reply_automatically
from mailticket.desk.decide import (
    Action,
    Decision,
    decide_inbound,
    wants_information_reply,
    with_status,
)
from mailticket.desk.match import (
    find_ticket,
    forged_references,
    signed_ticket,
)
from mailticket.desk.tickets import (
    CUSTOMER_KINDS,
    Effects,
    close_continued,
    continuation,
    new_ticket,
    rescore,
    save_ticket,
)
from mailticket.errors import StoreBusyError, StoreError
from mailticket.intake.bounces import apply_bounce, returned_mail
from mailticket.intake.standing import forwarded_customer, stranger
from mailticket.mail.dsn import DeliveryReport, looks_like_bounce, read_report
from mailticket.mail.parse import ParseError, parse
from mailticket.model import (
    Direction,
    InboundMail,
    MessageKind,
    QuarantineRecord,
    Ticket,
    TicketMessage,
    TicketStatus,
)
from mailticket.outbound.outbox import queue_effects
from mailticket.store.leader import FencedError

PROCESSED = "processed"


QUARANTINED = "quarantine"


@dataclass(frozen=True)
class IntakeResult:
    outcome: str  # created | appended | duplicate | quarantined
    destination: str  # PROCESSED or QUARANTINED: where the IMAP message belongs now
    ticket_id: str = ""
    reason: str = ""
    quarantine_id: str = ""  # the record a quarantined mail went to


def take_in(desk: Desk, raw: bytes, source: str) -> IntakeResult:
    """Ticket or quarantine one raw mail; raises only `StoreError` (nothing written: retry).

    One savepoint a mail: inside a caller's batch a failure undoes this mail alone. A mail
    that fails while being recorded is undone whole and then kept in quarantine, so the
    common case pays for one savepoint, not two."""
    try:
        with desk.store.savepoint():
            return _take_in(desk, raw, source)
    except _Failed as failed:  # its writes were undone with the savepoint
        with desk.store.savepoint():
            desk.store.put_blob(failed.sha, raw)
            return _quarantine(
                desk,
                failed.sha,
                failed.reason,
                source,
                dedupe_key=failed.dedupe_key,
                mail=failed.mail,
            )


class _Failed(Exception):
    """Recording a parsed mail failed (not the store): it goes to quarantine instead."""

    def __init__(self, sha: str, reason: str, mail: InboundMail) -> None:
        super().__init__(reason)
        self.sha, self.reason, self.mail, self.dedupe_key = sha, reason, mail, mail.dedupe_key


def take_in_alone(
    desk: Desk, raw: bytes, source: str, writing: Callable[[], AbstractContextManager[Any]]
) -> IntakeResult:
    """`take_in` in a transaction of its own (`writing`), for a mail whose batch failed: a
    mail the store still refuses twice (a value it cannot keep, a failure at commit) is
    quarantined with the store's reason, so it cannot hold up the mails behind it. Raises
    `StoreError` only when the store is busy, another daemon leads (`FencedError`), or the
    quarantine record cannot be written either."""
    for attempt in (1, 2):
        try:
            with writing():
                return take_in(desk, raw, source)
        except (StoreBusyError, FencedError):
            raise
        except Exception as exc:  # whatever broke the commit: in the end, shunt the mail
            failure = exc
            log.warning("%s failed alone (attempt %d): %s", source, attempt, exc)
    reason = f"the store refused this mail: {type(failure).__name__}: {failure}"
    sha = hashlib.sha256(raw).hexdigest()
    with writing():
        desk.store.put_blob(sha, raw)
        return _quarantine(desk, sha, reason.splitlines()[0][:500], source, dedupe_key=f"sha:{sha}")


def _take_in(desk: Desk, raw: bytes, source: str) -> IntakeResult:
    sha = hashlib.sha256(raw).hexdigest()
    desk.store.put_blob(sha, raw)  # before parsing: any mail can be re-read later
    limits = desk.config.limits
    deadline = Deadline(desk.budget_clock, limits.mail_seconds)
    if len(raw) > limits.max_mail_bytes:
        reason = (
            f"mail of {len(raw)} bytes is over [limits] max_mail_bytes ({limits.max_mail_bytes})"
        )
        return _quarantine(desk, sha, reason, source, dedupe_key=f"sha:{sha}")
    try:
        mail = parse(raw, max_attachment_bytes=limits.max_attachment_bytes)
        deadline.check("parsing")
    except BudgetExceeded as exc:
        return _quarantine(desk, sha, str(exc), source, dedupe_key=f"sha:{sha}")
    except ParseError as exc:
        return _quarantine(desk, sha, str(exc), source, dedupe_key=f"sha:{sha}")
    except Exception as exc:
        log.exception("parsing %s failed", source)
        reason = f"parser failed: {type(exc).__name__}: {exc}"
        return _quarantine(desk, sha, reason, source, dedupe_key=f"sha:{sha}")
    try:
        for attachment in mail.attachments:
            if attachment.payload:
                desk.store.put_blob(attachment.sha256, attachment.payload)
        report = None
        if looks_like_bounce(mail.from_addr, mail.is_delivery_report):
            report = read_report(raw)
            mail = replace(mail, is_delivery_report=True)
        return _record(desk, mail, source, report, deadline)
    except StoreError:
        raise
    except BudgetExceeded as exc:
        raise _Failed(sha, str(exc), mail) from None
    except Exception as exc:
        log.exception("processing %s failed", source)
        raise _Failed(sha, f"processing failed: {type(exc).__name__}: {exc}", mail) from None


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
    log.warning("quarantined %s as %s: %s", source, record.id, reason,
                extra={"quarantine_id": record.id})  # fmt: skip
    return IntakeResult("quarantined", QUARANTINED, reason=reason, quarantine_id=record.id)


@dataclass
class Recording:
    """One mail on its way through `_record`'s steps (Mailman's message metadata): each step
    reads what earlier steps found and adds its own finding."""

    mail: InboundMail
    now: datetime
    redacted: tuple[str, ...]
    claim: agents.Verdict | None
    is_agent: bool
    ticket_id: str | None = None
    ticket: Ticket | None = None
    forwarded_by: str = ""
    stranger: bool = False
    before: Ticket | None = None
    outcome: str = ""
    kind: MessageKind = MessageKind.COMPLAINT
    assessment: Assessment | None = None
    flags: tuple[str, ...] = ()
    effects: Effects = field(default_factory=Effects)


def _record(
    desk: Desk,
    mail: InboundMail,
    source: str,
    report: DeliveryReport | None,
    deadline: Deadline,
) -> IntakeResult:
    """Record one parsed mail in one transaction: the decision sequence, top to bottom."""
    store = desk.store
    mail, redacted = guard.redact_mail(mail)  # before anything is stored or forwarded
    deadline.check("redaction")
    claim = agent_claim(desk, mail)
    case = Recording(
        mail, desk.clock(), redacted, claim, is_agent=claim is not None and claim.trusted
    )
    with store.transaction():
        previous = store.dedupe_destination(mail.dedupe_key)
        if previous is not None:
            return IntakeResult("duplicate", previous)
        _thread(desk, case, report)
        _take_over_forward(desk, case)
        _judge_stranger(desk, case, report)
        decision = decide_inbound(
            case.mail,
            case.ticket,
            is_agent=case.is_agent,
            own_addresses=desk.own_addresses,
            now=case.now,
            reopen_days=desk.config.agents.reopen_days,
        )
        if case.stranger:  # attached for the agents to see: it changes nothing on the ticket
            decision = replace(decision, reopen=False, resume=False)
        if decision.action == Action.QUARANTINE:
            mail = case.mail
            result = _quarantine(
                desk,
                mail.raw_sha256,
                decision.reason,
                source,
                dedupe_key=mail.dedupe_key,
                mail=mail,
            )
            if case.is_agent and decision.acknowledge and result.outcome == "quarantined":
                answer_unmatched_agent(desk, mail)
            return result
        case.effects = Effects(notes=list(decision.notes))
        _note_provenance(desk, case)
        _open_or_update(desk, case, decision, report)
        _read_content(desk, case, decision)
        deadline.check("scoring")
        assert case.ticket is not None
        case.ticket = save_ticket(desk, case.ticket, new=case.outcome == "created")
        _answer(desk, case, decision)
        _keep_message(desk, case, decision)
        queue_effects(store, case.effects)
    assert case.ticket is not None
    ticket_id, where = case.ticket.id, {"ticket_id": case.ticket.id}  # a field in JSON logs
    for note in case.effects.notes:
        log.info("%s: %s", ticket_id, note, extra=where)
    log.info(
        "%s %s from %s (%s)", case.outcome, ticket_id, case.mail.from_addr, source, extra=where
    )
    return IntakeResult(case.outcome, PROCESSED, ticket_id=case.ticket.id)


def _thread(desk: Desk, case: Recording, report: DeliveryReport | None) -> None:
    """Which ticket the mail belongs to: tag, references, our signed Message-IDs; a delivery
    report only by the signed Message-ID of a mail we sent (`returned_mail`), never by a tag
    or a Message-ID anyone could quote."""
    store, config = desk.store, desk.config
    if report is not None:
        returned = returned_mail(desk, report)
        case.ticket_id = returned[0].ticket_id if returned else None
        case.ticket = store.find_ticket(case.ticket_id) if case.ticket_id else None
        return
    case.ticket_id = find_ticket(
        case.mail,
        config.desk.ticket_prefix,
        store.ticket_for_message_ids,
        lambda candidate: store.find_ticket(candidate) is not None,
        lambda message_id: signed_ticket(message_id, config.desk_domain, desk.secret),
    )
    case.ticket = store.find_ticket(case.ticket_id) if case.ticket_id else None


def _take_over_forward(desk: Desk, case: Recording) -> None:
    """An agent's forward of a customer's mail becomes that customer's mail."""
    mail = case.mail
    if not case.is_agent or case.ticket is not None:
        return
    origin = forwarded_customer(desk, mail)
    if origin is None:
        return
    case.forwarded_by, case.is_agent = mail.from_addr, False
    case.mail = replace(
        mail,
        from_addr=origin.address,
        from_name=origin.name,
        subject=origin.subject or mail.subject,
        text=origin.text or mail.text,
    )


def _judge_stranger(desk: Desk, case: Recording, report: DeliveryReport | None) -> None:
    """A stranger quoting a ticket's tag or Message-IDs opens their own ticket (or joins,
    flagged, changing nothing)."""
    case.stranger = stranger(desk, case.mail, case.ticket, case.is_agent, report is not None)
    if case.stranger and desk.config.desk.stranger_tag == "new_ticket":
        case.ticket = None
    if case.ticket is not None and not case.is_agent:
        case.ticket = continuation(desk, case.ticket)


def _note_provenance(desk: Desk, case: Recording) -> None:
    """Notes on where the mail came from: forwards, strangers, forged references, agents."""
    notes, mail = case.effects.notes, case.mail
    if case.forwarded_by:
        notes.append(f"forwarded in by agent {case.forwarded_by} for {mail.from_addr}")
    if case.stranger:
        handled = "a new ticket" if case.ticket is None else "attached: agents, please check"
        notes.append(
            f"claims {case.ticket_id} by its subject tag or references but is not in its "
            f"conversation: {handled}"
        )
    forged = forged_references(mail, desk.config.desk_domain, desk.secret)
    if forged:
        notes.append(f"forged reference to our mail, ignored: {', '.join(forged[:3])}")
    if case.claim is not None and case.claim.trusted:
        notes.append(f"agent authenticated: {case.claim.reason}")


def _open_or_update(
    desk: Desk, case: Recording, decision: Decision, report: DeliveryReport | None
) -> None:
    """A new ticket (closing the one it continues), or the found one updated and reopened."""
    now = case.now
    if decision.action == Action.NEW_TICKET:
        answered = case.ticket if decision.continues else None
        case.ticket = case.before = new_ticket(desk, case.mail, continues=answered)
        if answered is not None:
            close_continued(desk, answered, case.ticket.id)
        case.outcome = "created"
        return
    assert case.ticket is not None
    case.before = case.ticket
    ticket = replace(case.ticket, updated=now)
    if decision.reopen or decision.resume:
        ticket = with_status(ticket, TicketStatus.OPEN, now)
    if decision.kind == MessageKind.BOUNCE and report is not None:
        ticket = apply_bounce(desk, ticket, report, case.effects)
    case.ticket, case.outcome = ticket, "appended"


def _read_content(desk: Desk, case: Recording, decision: Decision) -> None:
    """A customer's words are scored and flagged; an agent's are obeyed."""
    assert case.ticket is not None
    case.kind = decision.kind
    if case.kind in CUSTOMER_KINDS and case.claim is not None and not case.claim.trusted:
        refuse_agent(desk, case.ticket, case.mail, case.claim, case.effects)
    if case.kind in CUSTOMER_KINDS and case.stranger:
        case.flags = guard.flags(f"{case.mail.subject}\n{case.mail.text}", case.redacted)
        case.effects.notes.extend(case.flags)  # recorded, never scored into the ticket
    elif case.kind in CUSTOMER_KINDS:
        mail, claim = case.mail, case.claim
        flags = guard.flags(f"{mail.subject}\n{mail.text}", case.redacted)
        if claim is not None and not claim.trusted:
            flags += (f"not authenticated as agent {mail.from_addr}: {claim.reason}",)
        case.effects.notes.extend(flags)
        case.flags = flags
        case.ticket, case.assessment = rescore(
            desk,
            case.ticket,
            case.effects,
            mail=mail,
            kind=case.kind,
            flags=flags,
            fresh=case.outcome == "created",
        )
    elif case.kind == MessageKind.AGENT:
        case.ticket, case.kind = act_on_agent_mail(desk, case.ticket, case.mail, case.effects)


def _answer(desk: Desk, case: Recording, decision: Decision) -> None:
    """The acknowledgement, or a request for what is still missing."""
    assert case.ticket is not None and case.before is not None
    assessment = case.assessment
    if decision.machine:  # nothing scheduled will go to it either
        hold_as_loop(desk, case.ticket.customer, decision.machine)
    if decision.acknowledge:
        category = assessment.category if assessment else None
        reply_automatically(
            desk, case.ticket, case.mail, case.effects, category=category, redacted=case.redacted
        )
    elif assessment and wants_information_reply(case.before, case.ticket, decision.kind):
        reply_automatically(
            desk,
            case.ticket,
            case.mail,
            case.effects,
            category=assessment.category,
            received=assessment.received,
            redacted=case.redacted,
        )


def _keep_message(desk: Desk, case: Recording, decision: Decision) -> None:
    """The message itself, with its notes, then the assignee told of a customer's mail."""
    assert case.ticket is not None
    assessment = case.assessment
    desk.store.add_message(
        _inbound_message(
            case.ticket.id,
            case.mail,
            case.kind,
            tuple(case.effects.notes),
            case.now,
            extracted=assessment.extracted if assessment else {},
            flags=case.flags,
        )
    )
    if case.kind in CUSTOMER_KINDS:
        event = "new" if case.kind == MessageKind.COMPLAINT else "followup"
        event = "reopened" if decision.reopen else event
        notify_assignee(
            desk, case.ticket, event, case.effects, case.mail.attachments, text=case.mail.text
        )


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
