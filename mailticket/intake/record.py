"""Taking in one raw mail from any source: keep the raw bytes, parse, and record it in one
store transaction, or put it in quarantine with the reason. `_record` reads top to bottom
as the decision sequence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mailticket.budget import BudgetExceeded, Deadline
from mailticket.completeness import guard
from mailticket.completeness.rules import Category
from mailticket.completeness.score import Assessment
from mailticket.desk.agent_mail import act_on_agent_mail, agent_claim, notify_assignee
from mailticket.desk.context import Desk, log
from mailticket.desk.decide import (
    Action,
    decide_inbound,
    throttle_reason,
    wants_information_reply,
    with_status,
)
from mailticket.desk.match import find_ticket, forged_references, signed_ticket
from mailticket.desk.tickets import (
    CUSTOMER_KINDS,
    Effects,
    close_continued,
    continuation,
    new_ticket,
    rescore,
    save_ticket,
    undeliverable,
)
from mailticket.errors import StoreError
from mailticket.intake.bounces import apply_bounce
from mailticket.mail.dsn import DeliveryReport, looks_like_bounce, read_report
from mailticket.mail.forwards import Origin, forwarded_origin
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
from mailticket.outbound import compose
from mailticket.outbound.outbox import next_outbox_id, queue_effects

PROCESSED = "processed"


QUARANTINED = "quarantine"


@dataclass(frozen=True)
class IntakeResult:
    outcome: str  # created | appended | duplicate | quarantined
    destination: str  # PROCESSED or QUARANTINED: where the IMAP message belongs now
    ticket_id: str = ""
    reason: str = ""


def take_in(desk: Desk, raw: bytes, source: str) -> IntakeResult:
    """Ticket or quarantine one raw mail; raises only `StoreError` (nothing written: retry)."""
    with desk.store.transaction():  # inside a caller's batch: a savepoint
        return _take_in(desk, raw, source)


def _take_in(desk: Desk, raw: bytes, source: str) -> IntakeResult:
    sha = hashlib.sha256(raw).hexdigest()
    desk.store.put_blob(sha, raw)  # before parsing: any mail can be re-read later
    limits = desk.config.limits
    deadline = Deadline(desk.clock, limits.mail_seconds)
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
        with desk.store.transaction():  # a savepoint: a failure undoes this mail's writes
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
    except BudgetExceeded as exc:  # the savepoint undid this mail's writes
        return _quarantine(desk, sha, str(exc), source, dedupe_key=mail.dedupe_key, mail=mail)
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
    desk: Desk,
    mail: InboundMail,
    source: str,
    report: DeliveryReport | None,
    deadline: Deadline,
) -> IntakeResult:
    store, config = desk.store, desk.config
    now = desk.clock()
    mail, redacted = guard.redact_mail(mail)  # before anything is stored or forwarded
    deadline.check("redaction")
    claim = agent_claim(desk, mail)
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
        stranger = _stranger(desk, mail, ticket, is_agent, report is not None)
        if stranger and config.desk.stranger_tag == "new_ticket":
            ticket = None
        if ticket is not None and not is_agent:
            ticket = continuation(desk, ticket)
        decision = decide_inbound(
            mail,
            ticket,
            is_agent=is_agent,
            own_addresses=desk.own_addresses,
            now=now,
            reopen_days=config.agents.reopen_days,
        )
        if stranger:  # attached for the agents to see: it changes nothing on the ticket
            decision = replace(decision, reopen=False, resume=False)
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
                f"claims {ticket_id} by its subject tag or references but is not in its "
                f"conversation: {handled}"
            )
        forged = forged_references(mail, config.desk_domain, desk.secret)
        if forged:
            effects.notes.append(f"forged reference to our mail, ignored: {', '.join(forged[:3])}")
        if claim is not None and claim.trusted:
            effects.notes.append(f"agent authenticated: {claim.reason}")
        if decision.action == Action.NEW_TICKET:
            answered = ticket if decision.continues else None
            ticket = before = new_ticket(desk, mail, continues=answered)
            if answered is not None:
                close_continued(desk, answered, ticket.id)
            outcome = "created"
        else:
            assert ticket is not None
            before = ticket
            ticket = replace(ticket, updated=now)
            if decision.reopen or decision.resume:
                ticket = with_status(ticket, TicketStatus.OPEN, now)
            if decision.kind == MessageKind.BOUNCE and report is not None:
                ticket = apply_bounce(desk, ticket, report, effects)
            outcome = "appended"
        assessment: Assessment | None = None
        flags: tuple[str, ...] = ()
        kind = decision.kind
        if kind in CUSTOMER_KINDS and stranger:
            flags = guard.flags(f"{mail.subject}\n{mail.text}", redacted)
            effects.notes.extend(flags)  # recorded, never scored into the ticket's fields
        elif kind in CUSTOMER_KINDS:
            flags = guard.flags(f"{mail.subject}\n{mail.text}", redacted)
            if claim is not None and not claim.trusted:
                flags += (f"not authenticated as agent {mail.from_addr}: {claim.reason}",)
            effects.notes.extend(flags)
            ticket, assessment = rescore(desk, ticket, effects, mail=mail, kind=kind, flags=flags)
        elif kind == MessageKind.AGENT:
            ticket, kind = act_on_agent_mail(desk, ticket, mail, effects)
        deadline.check("scoring")
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
            notify_assignee(
                desk, ticket, "reopened" if decision.reopen else event, effects, text=mail.text
            )
        queue_effects(store, effects)
    for note in effects.notes:
        log.info("%s: %s", ticket.id, note)
    log.info("%s %s from %s (%s)", outcome, ticket.id, mail.from_addr, source)
    return IntakeResult(outcome, PROCESSED, ticket_id=ticket.id)


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
    if undeliverable(ticket, ticket.customer):
        effects.notes.append("no automatic reply: the address is marked undeliverable")
        return
    outbox_id = next_outbox_id(store)
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


def _forwarded_customer(desk: Desk, mail: InboundMail) -> Origin | None:
    """The customer whose mail an agent forwarded to the desk: the ticket is theirs."""
    origin = forwarded_origin(f"{mail.text}\n{mail.quoted}")
    if origin is None or desk.config.is_agent(origin.address):
        return None
    return None if origin.address.lower() in desk.own_addresses else origin


def _stranger(
    desk: Desk, mail: InboundMail, ticket: Ticket | None, is_agent: bool, is_bounce: bool
) -> bool:
    """A mail that joins `ticket` (by its subject tag, or by In-Reply-To/References) from
    someone who is neither its customer, nor in its conversation, nor an agent: it must not
    silently join, nor change the ticket's fields or status. A delivery report is matched
    against our own sent mail elsewhere (`apply_bounce`)."""
    if ticket is None or is_agent or is_bounce:
        return False
    sender = mail.from_addr.lower()
    participants = {ticket.customer.lower()}
    for message in desk.store.messages(ticket.id):
        if message.direction == Direction.IN:
            participants.update(a.lower() for a in (message.from_addr, *message.to, *message.cc))
    participants.discard(desk.config.desk.address.lower())
    return sender not in participants


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
