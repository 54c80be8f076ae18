"""Plain data passed between the pipeline's stages, and its conversion to and from store records."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import operator
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
    # to an agent: a mail in their name that nothing vouched for, so nothing in it was done
    NOT_AUTHENTICATED = "not_authenticated"
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
    # False when `from_addr` is no valid address (`MAILER-DAEMON`, spaces in the local part):
    # kept for the agents to see, but never answered automatically nor trusted as an agent.
    from_valid: bool = True
    quoted: str = ""  # the history below `text`: quotes, signatures, forwarded mails' text
    # No new words: `text` is the history (or a forwarded mail), promoted so a customer's
    # forward-only mail still reads. An agent's such mail says nothing to the customer.
    text_is_history: bool = False
    # Every Authentication-Results header, in order: `agents.verify_sender` reads them.
    authentication_results: tuple[str, ...] = ()
    # Exchange's own verdict on the sender, (lower-case header name, value) in order:
    # X-MS-Exchange-Organization-AuthAs / -AuthSource (`agents.verify_exchange_internal`).
    exchange_auth: tuple[tuple[str, str], ...] = ()

    @property
    def dedupe_key(self) -> str:
        """Same Message-ID (or, without one, same bytes) means the same mail delivered twice.
        A Message-ID too long for the store's key column (128; a Message-ID may have 900
        characters, and PostgreSQL refuses a longer value) is kept by its SHA-256."""
        if not self.message_id:
            return f"sha:{self.raw_sha256}"
        if len(self.message_id) <= 124:
            return f"mid:{self.message_id}"
        return f"mid-sha256:{hashlib.sha256(self.message_id.encode()).hexdigest()}"


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
    lease_holder: str = ""  # `sending`: the process sending it ("host pid token")
    lease_taken: datetime | None = None  # `sending`: when that process took it


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
    # `quarantine release`: when the mail was taken in again (once), and what it became: a
    # ticket id, or the quarantine record it went back to with a new reason
    released_at: datetime | None = None
    released_as: str = ""


# --- records: dataclass <-> JSON-safe dict -------------------------------------------------

T = TypeVar("T")


def to_record(obj: Any) -> Any:
    """A JSON-safe copy of a dataclass tree; fields marked `stored: False` are left out."""
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    return (_WRITERS.get(kind) or _writer(kind))(obj)


# Exactly these types are their own record (a StrEnum is a `str` but is written as its value).
_PLAIN = frozenset({str, int, float, bool, type(None)})
# How to write a value of each type met so far (`_writer`): a store writes thousands.
_WRITERS: dict[type, Callable[[Any], Any]] = {}


def _writer(kind: type) -> Callable[[Any], Any]:
    """How `to_record` writes a value of this type: worked out once per type."""
    write: Callable[[Any], Any]
    if issubclass(kind, StrEnum):
        write = operator.attrgetter("value")
    elif issubclass(kind, str | int | float | bool | types.NoneType):
        write = _same
    elif issubclass(kind, datetime):
        write = operator.methodcaller("isoformat")
    elif issubclass(kind, tuple | list):
        write = _list_record
    elif issubclass(kind, dict):
        write = _dict_record
    elif dataclasses.is_dataclass(kind) and not issubclass(kind, type):
        write = functools.partial(_dataclass_record, names=_stored_fields(kind))
    else:
        write = _same
    _WRITERS[kind] = write
    return write


def _same(value: Any) -> Any:
    return value


def _list_record(values: tuple | list) -> list:
    return [v if type(v) in _PLAIN else to_record(v) for v in values]


def _dict_record(values: dict) -> dict:
    return {k: v if type(v) in _PLAIN else to_record(v) for k, v in values.items()}


def _dataclass_record(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    record = {}
    for name in names:  # the values of most fields are plain: no call for those
        value = getattr(obj, name)
        record[name] = value if type(value) in _PLAIN else to_record(value)
    return record


@functools.cache
def _stored_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("stored", True))


def from_record(cls: type[T], record: dict[str, Any]) -> T:
    """Rebuild a dataclass from `to_record` output; unknown keys (newer schema) are ignored."""
    values = {}
    for name, convert in _readers(cls):  # type: ignore[arg-type]  # classes are hashable
        if name in record:
            value = record[name]
            values[name] = value if convert is None else convert(value)
    return _build(cls, values)


def replaced(obj: T, **changes: Any) -> T:
    """`dataclasses.replace`, several times faster for the classes here (see `_build`): the
    SLA clock and the sweep change a field or two of a ticket several times each."""
    names = _plain_init_fields(type(obj))  # type: ignore[arg-type]
    if names is not None and obj.__dict__.keys() == names and changes.keys() <= names:
        new = object.__new__(type(obj))
        new.__dict__.update(obj.__dict__)
        new.__dict__.update(changes)
        return new
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]


def _build(cls: type[T], values: dict[str, Any]) -> T:
    """`cls(**values)`. When `values` names every field of a plain frozen dataclass (no
    `__post_init__`, no init-only or derived fields: every class here), the instance is made
    directly instead of by the generated `__init__`, which sets each field through
    `object.__setattr__`: the same instance in a fraction of the time."""
    names = _plain_init_fields(cls)  # type: ignore[arg-type]  # classes are hashable
    if names is not None and values.keys() == names:
        obj = object.__new__(cls)
        obj.__dict__.update(values)
        return obj
    return cls(**values)


@functools.cache
def _plain_init_fields(cls: type) -> Any:
    """The field names, in order, of a dataclass `_build` may make without `__init__`; None
    for any other class."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    if not (params.init and params.frozen) or cls.__new__ is not object.__new__:
        return None  # its own __init__ or __new__, or one that may set attributes freely
    if any("__slots__" in vars(c) for c in cls.__mro__):
        return None
    declared = cls.__dataclass_fields__  # type: ignore[attr-defined]
    fields = dataclasses.fields(cls)
    if len(fields) != len(declared) or not all(f.init for f in fields):
        return None  # an InitVar or ClassVar, or a field __init__ does not take
    return {f.name: None for f in fields}.keys()


@functools.cache
def _readers(cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Each field's name and a function reading its stored value (None: the value as it is),
    worked out once per class: resolving type hints is slow, and a store reads thousands of
    records."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _reader(hints[f.name])) for f in dataclasses.fields(cls))


def _reader(hint: Any) -> Callable[[Any], Any] | None:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = _reader(next(a for a in typing.get_args(hint) if a is not type(None)))
        if inner is None:
            return None
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        item = _reader(typing.get_args(hint)[0])
        if item is None:
            return tuple
        return lambda value: tuple([item(v) for v in value])
    if hint is datetime:
        return datetime.fromisoformat
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda value: from_record(hint, value)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        members = hint._value2member_map_

        def member(value: Any) -> Any:
            try:
                return members[value]
            except (KeyError, TypeError):  # not a value of it: raise as the enum does
                return hint(value)

        return member
    return None
