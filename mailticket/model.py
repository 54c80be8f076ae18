"""Plain data passed between the pipeline's stages, and its conversion to and from store records."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

Clock = Callable[[], datetime]
"""Every part that needs the time takes one of these: tests and `--now` fast-forward it."""


def system_clock() -> datetime:
    return datetime.now(UTC)


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class MessageKind(StrEnum):
    COMPLAINT = "complaint"  # the mail that opened the ticket
    FOLLOWUP = "followup"  # a later mail from the customer (or anyone outside the desk)
    AGENT = "agent"  # a mail from a configured agent address
    AUTOMATED = "automated"  # an auto-reply, list mail or other machine mail on a ticket
    BOUNCE = "bounce"  # a delivery status notification about one of our mails
    ACKNOWLEDGEMENT = "acknowledgement"  # our receipt for a new ticket
    INFORMATION_REQUEST = "information_request"  # our answer to a follow-up: what is still missing
    NOTICE = "notice"  # our note to the agents (delivery failed, bounce)
    NOTE = "note"  # an agent's internal note: never sent to the customer
    REPLY = "reply"  # an agent's public reply, relayed to the customer from the desk
    RESOLUTION = "resolution"  # the result (结果反馈) sent to the customer
    COMMAND_ERROR = "command_error"  # to an agent: a command line that was not understood
    AGENT_NOTIFICATION = "agent_notification"  # to the assignee/team: new ticket or follow-up
    REMINDER = "reminder"  # SLA: to the assignee or team before the deadline
    ESCALATION = "escalation"  # SLA: to the supervisor when the deadline passed
    DELAY_NOTICE = "delay_notice"  # SLA: to the customer, the deadline passed, new date
    INFO_REMINDER = "info_reminder"  # SLA: to the customer, information still missing
    CLOSING_NOTICE = "closing_notice"  # SLA: to the customer, closed after silence
    DIGEST = "digest"  # daily list of open tickets for an agent or team


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Attachment:
    """One attachment or inline image; its bytes live on disk by sha256, never in the database."""

    filename: str
    content_type: str
    size: int
    sha256: str
    content_id: str = ""
    inline: bool = False
    too_large: bool = False  # over `limits.max_attachment_bytes`: recorded, bytes not kept
    payload: bytes = field(default=b"", repr=False, compare=False, metadata={"stored": False})
    sniffed_type: str = ""  # what the bytes are by their magic numbers (`parse.sniff_type`)


@dataclass(frozen=True)
class InboundMail:
    """What the pipeline needs from one received mail, decoded once by `parse`."""

    raw_sha256: str
    size: int
    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_addr: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    text: str
    attachments: tuple[Attachment, ...] = ()
    auto_headers: dict[str, str] = field(default_factory=dict)
    is_delivery_report: bool = False
    defects: tuple[str, ...] = ()
    quoted: str = ""  # the history below `text`: quotes, signatures, forwarded mails' text
    # Every Authentication-Results header, in order: `agents.verify_sender` reads them.
    authentication_results: tuple[str, ...] = ()

    @property
    def dedupe_key(self) -> str:
        """Same Message-ID (or, without one, same bytes) means the same mail delivered twice."""
        return f"mid:{self.message_id}" if self.message_id else f"sha:{self.raw_sha256}"


@dataclass(frozen=True)
class FieldChange:
    """A value the customer gave for one of the ticket's fields; `previous` is the value it
    corrected ("" the first time), so the history of a ticket's details is never lost."""

    field_id: str
    value: str
    previous: str
    message_id: str
    date: datetime


@dataclass(frozen=True)
class Ticket:
    id: str
    status: TicketStatus
    customer: str
    customer_name: str
    subject: str
    language: str
    created: datetime
    updated: datetime
    due: datetime | None = None
    sla_working_days: int = 0
    undeliverable: tuple[str, ...] = ()  # addresses a bounce or a 5xx reply proved dead
    # What the completeness rules decided on the latest customer mail (empty without rules).
    category: str = ""
    category_confidence: float = 0.0  # 0 when the catch-all was chosen for want of a better one
    score: int = 0  # 0-100, from the weights of the fields present
    complete: bool = False  # every required field has a value
    missing: tuple[str, ...] = ()  # field ids without a value, required ones first
    fields: dict[str, str] = field(default_factory=dict)  # field id -> normalised value
    field_history: tuple[FieldChange, ...] = ()
    flags: tuple[str, ...] = ()  # for agents: unclear category, abusive language, secrets cut
    # Agents (email commands) and the SLA clock.
    assignee: str = ""
    priority: Priority = Priority.NORMAL
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    previous_ticket: str = ""  # the closed ticket a late reply continues
    first_response_due: datetime | None = None
    first_response_at: datetime | None = None
    paused_since: datetime | None = None  # waiting for the customer: the SLA clock stands
    sla_fired: tuple[str, ...] = ()  # thresholds already acted on, each exactly once
    next_check: datetime | None = None  # when the SLA sweep must look at it next (indexed)
    category_set_by: str = ""  # the agent who chose the category (#category): rescoring keeps it
    continued_by: str = ""  # the ticket a customer's reply after closing started


@dataclass(frozen=True)
class TicketMessage:
    """One mail on a ticket, in or out, as shown by `tickets show`."""

    ticket_id: str
    direction: Direction
    kind: MessageKind
    message_id: str
    from_addr: str
    to: tuple[str, ...]
    subject: str
    date: datetime
    text: str = ""
    cc: tuple[str, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    raw_sha256: str = ""
    dedupe_key: str = ""
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    quoted: str = ""  # what `text` leaves out: quoted history and signatures
    extracted: dict[str, str] = field(default_factory=dict)  # field values found in this mail
    flags: tuple[str, ...] = ()  # what the guards found in this mail (see `Ticket.flags`)


@dataclass(frozen=True)
class OutgoingMail:
    """An entry of the persistent outbox; `raw` is the complete message, fixed at enqueue."""

    id: str
    ticket_id: str
    kind: MessageKind
    message_id: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    subject: str
    raw: str
    created: datetime
    state: OutboxState = OutboxState.QUEUED
    attempts: int = 0
    next_attempt: datetime | None = None
    last_error: str = ""
    sent_at: datetime | None = None
    fingerprint: str = ""  # same kind, ticket and text: an identical reply


@dataclass(frozen=True)
class QuarantineRecord:
    id: str
    raw_sha256: str
    reason: str
    source: str
    created: datetime
    message_id: str = ""
    from_addr: str = ""
    subject: str = ""


# --- records: dataclass <-> JSON-safe dict -------------------------------------------------

T = TypeVar("T")


def to_record(obj: Any) -> Any:
    """A JSON-safe copy of a dataclass tree; fields marked `stored: False` are left out."""
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj.value if isinstance(obj, StrEnum) else obj
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, tuple | list):
        return [to_record(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_record(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {name: to_record(getattr(obj, name)) for name in _stored_fields(type(obj))}
    return obj


@functools.cache
def _stored_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("stored", True))


def from_record(cls: type[T], record: dict[str, Any]) -> T:
    """Rebuild a dataclass from `to_record` output; unknown keys (newer schema) are ignored."""
    readers = _readers(cls)  # type: ignore[arg-type]  # classes are hashable
    return cls(**{name: convert(record[name]) for name, convert in readers if name in record})


@functools.cache
def _readers(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Each field's name and a function reading its stored value, worked out once per class:
    resolving type hints is slow, and a store reads thousands of records."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _reader(hints[f.name])) for f in dataclasses.fields(cls))


def _reader(hint: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = _reader(next(a for a in typing.get_args(hint) if a is not type(None)))
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        item = _reader(typing.get_args(hint)[0])
        return lambda value: tuple(item(v) for v in value)
    if hint is datetime:
        return datetime.fromisoformat
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda value: from_record(hint, value)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return hint
    return lambda value: value
