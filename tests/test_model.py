"""Records: dataclasses to JSON-safe dicts and back, and `replaced`, against the plain
definitions they speed up."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest

from mailticket.model import (
    Attachment,
    Direction,
    FieldChange,
    MessageKind,
    OutboxState,
    OutgoingMail,
    Priority,
    Ticket,
    TicketMessage,
    TicketStatus,
    from_record,
    replaced,
    to_record,
)

NOW = datetime(2026, 9, 30, 2, 0, 0, 123456, tzinfo=UTC)


def plain_record(obj: Any) -> Any:
    """What `to_record` is defined as, written the slow and obvious way."""
    if isinstance(obj, StrEnum):
        return obj.value
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, tuple | list):
        return [plain_record(v) for v in obj]
    if isinstance(obj, dict):
        return {k: plain_record(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: plain_record(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.metadata.get("stored", True)
        }
    return obj


TICKET = Ticket(
    id="OKW-2026-000001",
    status=TicketStatus.PENDING,
    customer="li.wei@example.com",
    customer_name="李伟",
    subject="充值未到账",
    language="zh",
    created=NOW,
    updated=NOW + timedelta(hours=1),
    due=(NOW + timedelta(days=9)).astimezone(timezone(timedelta(hours=8))),
    sla_working_days=7,
    category="topup_not_credited",
    category_confidence=0.75,
    score=60,
    missing=("order_id", "amount"),
    fields={"amount": "500"},
    field_history=(FieldChange("amount", "500", "", "<m1@example.com>", NOW),),
    flags=("abusive language: 废物",),
    priority=Priority.HIGH,
    sla_fired=("remind-50",),
    next_check=NOW,
)
MESSAGE = TicketMessage(
    ticket_id=TICKET.id,
    direction=Direction.IN,
    kind=MessageKind.FOLLOWUP,
    message_id="<m2@example.com>",
    from_addr="li.wei@example.com",
    to=("desk@example.com",),
    subject="Re: 充值未到账",
    date=NOW,
    text="订单号 123",
    attachments=(
        Attachment("a.png", "image/png", 3, "0" * 64, payload=b"png", sniffed_type="image/png"),
    ),
    extracted={"order_id": "123"},
)
OUTGOING = OutgoingMail(
    id="M000001",
    ticket_id=TICKET.id,
    kind=MessageKind.ACKNOWLEDGEMENT,
    message_id="<a@desk.example>",
    mail_from="desk@example.com",
    rcpt_to=("li.wei@example.com",),
    subject="[OKW-2026-000001] Re: 充值未到账",
    raw="...",
    created=NOW,
    state=OutboxState.SENT,
    sent_at=NOW,
)


@pytest.mark.parametrize("obj", [TICKET, MESSAGE, OUTGOING])
def test_records_are_what_the_definition_says(obj: Any) -> None:
    assert json.dumps(to_record(obj)) == json.dumps(plain_record(obj))


def test_values_of_any_kind_are_written_as_the_definition_says() -> None:
    class Sub(str):
        pass

    values = [1, 2.5, True, None, "x", Sub("y"), Priority.LOW, (NOW,), [TICKET.field_history]]
    values += [{"k": [Priority.HIGH, NOW]}, {Priority.LOW: 1}, b"bytes", TicketStatus]
    for value in values:
        assert to_record(value) == plain_record(value)
        assert type(to_record(value)) is type(plain_record(value))


@pytest.mark.parametrize("obj", [TICKET, MESSAGE, OUTGOING])
def test_a_record_reads_back_as_the_same_object(obj: Any) -> None:
    back = from_record(type(obj), json.loads(json.dumps(to_record(obj))))
    if obj is MESSAGE:  # attachment bytes are not part of the record
        kept = dataclasses.replace(obj.attachments[0], payload=b"")
        obj = dataclasses.replace(obj, attachments=(kept,))
    assert back == obj
    assert repr(back) == repr(obj)  # enums as enums, tuples as tuples, the same time zones
    assert list(vars(back)) == [f.name for f in dataclasses.fields(obj)]


def test_a_record_missing_fields_gets_their_defaults_and_unknown_keys_are_ignored() -> None:
    record = {k: v for k, v in to_record(TICKET).items() if k not in ("fields", "flags")}
    back = from_record(Ticket, {**record, "from_a_newer_version": 1})
    assert back == replaced(TICKET, fields={}, flags=())
    assert back.fields is not from_record(Ticket, record).fields  # a fresh default each time


def test_replaced_is_dataclasses_replace() -> None:
    changes = {"status": TicketStatus.OPEN, "sla_fired": ("remind-50", "remind-80")}
    new = replaced(TICKET, **changes)
    assert new == dataclasses.replace(TICKET, **changes)
    assert list(vars(new)) == list(vars(TICKET))
    assert TICKET.status is TicketStatus.PENDING  # the original is untouched
    assert replaced(TICKET) == TICKET and replaced(TICKET) is not TICKET
    with pytest.raises(TypeError):
        replaced(TICKET, no_such_field=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.status = TicketStatus.CLOSED  # type: ignore[misc]


def test_classes_with_their_own_init_work_go_through_it() -> None:
    @dataclass(frozen=True)
    class Derived:
        a: int
        b: int = field(init=False, default=0)

        def __post_init__(self) -> None:
            object.__setattr__(self, "b", self.a * 2)

    assert from_record(Derived, {"a": 2}).b == 4
    assert replaced(Derived(1), a=3).b == 6


def test_classes_with_their_own_init_or_slots_go_through_it() -> None:
    @dataclass(frozen=True, init=False)
    class OwnInit:
        a: int

        def __init__(self, a: int) -> None:
            object.__setattr__(self, "a", a + 1)

    @dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    assert from_record(OwnInit, {"a": 1}).a == 2
    assert replaced(OwnInit(1), a=5).a == 6
    assert from_record(Slotted, {"a": 1}) == Slotted(1)
    assert replaced(Slotted(1), a=2) == Slotted(2)
