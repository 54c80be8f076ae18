from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailticket.desk.match import find_ticket, ticket_tag
from mailticket.model import Direction, InboundMail, MessageKind, TicketMessage
from mailticket.store import Store

PREFIX = "PFX"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[PFX-2026-000123] 充值未到账", "PFX-2026-000123"),
        ("Re: 充值未到账 [PFX-2026-000123]", "PFX-2026-000123"),
        ("回复：[pfx-2026-000123] 充值未到账", "PFX-2026-000123"),
        ("Re: [ PFX-2026-000123 ] still waiting", "PFX-2026-000123"),
        ("Re: [\tPFX-2026-000123\t]", "PFX-2026-000123"),
        ("[OTH-2026-000001] Re: [PFX-2026-000002] both", "PFX-2026-000002"),
        ("[OTH-2026-000001] someone else's desk", None),
        ("[PFXA-2026-000001] a longer prefix", None),
        ("[XPFX-2026-000001] a prefix that ends like ours", None),
        ("PFX-2026-000123 without brackets", None),
        ("[PFX-2026-00012] too few digits", None),
        ("[PFX-26-000123] short year", None),
        ("", None),
    ],
)
def test_ticket_tag(subject: str, expected: str | None) -> None:
    assert ticket_tag(subject, PREFIX) == expected


def inbound(**changes: Any) -> InboundMail:
    base = InboundMail(
        raw_sha256="d" * 64,
        size=100,
        message_id="<new@163.example>",
        in_reply_to=(),
        references=(),
        from_addr="li.wei@163.example",
        from_name="",
        to=("desk@pfx.example",),
        cc=(),
        subject="no tag here",
        date=None,
        text="",
    )
    return replace(base, **changes)


KNOWN = {
    "<irt@pfx.example>": "PFX-2026-000001",
    "<ref-new@pfx.example>": "PFX-2026-000002",
    "<ref-old@pfx.example>": "PFX-2026-000003",
}
EXISTING = {"PFX-2026-000001", "PFX-2026-000002", "PFX-2026-000003", "PFX-2026-000004"}


class Lookups:
    """Plain lookups that record what they were asked; the first known id wins, like the store."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.checked: list[str] = []

    def by_ids(self, ids: list[str]) -> str | None:
        self.asked.append(list(ids))
        return next((KNOWN[i] for i in ids if i in KNOWN), None)

    def exists(self, ticket_id: str) -> bool:
        self.checked.append(ticket_id)
        return ticket_id in EXISTING

    def find(self, mail: InboundMail) -> str | None:
        return find_ticket(mail, PREFIX, self.by_ids, self.exists)


def test_the_tag_wins_over_headers() -> None:
    """The issue's order: our subject tag, then In-Reply-To/References."""
    lookups = Lookups()
    mail = inbound(
        in_reply_to=("<irt@pfx.example>",),
        references=("<ref-old@pfx.example>", "<ref-new@pfx.example>"),
        subject="Re: [PFX-2026-000004]",
    )
    assert lookups.find(mail) == "PFX-2026-000004"
    assert lookups.asked == []


def test_in_reply_to_wins_over_references() -> None:
    lookups = Lookups()
    mail = inbound(
        in_reply_to=("<irt@pfx.example>",),
        references=("<ref-old@pfx.example>", "<ref-new@pfx.example>"),
        subject="Re: no tag here",
    )
    assert lookups.find(mail) == "PFX-2026-000001"
    assert lookups.asked == [
        ["<irt@pfx.example>", "<ref-new@pfx.example>", "<ref-old@pfx.example>"]
    ]


def test_newest_reference_wins_over_older_ones() -> None:
    lookups = Lookups()
    mail = inbound(
        in_reply_to=("<unknown@163.example>",),
        references=("<ref-old@pfx.example>", "<ref-new@pfx.example>"),
        subject="Re: no tag here",
    )
    assert lookups.find(mail) == "PFX-2026-000002"


def test_tag_is_used_when_headers_match_nothing() -> None:
    lookups = Lookups()
    mail = inbound(references=("<unknown@163.example>",), subject="Re: [pfx-2026-000004] more")
    assert lookups.find(mail) == "PFX-2026-000004"
    assert lookups.checked == ["PFX-2026-000004"]


def test_tag_is_used_without_any_headers_and_no_id_lookup_happens() -> None:
    lookups = Lookups()
    assert lookups.find(inbound(subject="[PFX-2026-000003] 补充截图")) == "PFX-2026-000003"
    assert lookups.asked == []


def test_tag_of_a_ticket_that_does_not_exist_is_ignored() -> None:
    lookups = Lookups()
    assert lookups.find(inbound(subject="Re: [PFX-2026-999999] made up")) is None
    assert lookups.checked == ["PFX-2026-999999"]


def test_other_prefix_tag_is_ignored() -> None:
    lookups = Lookups()
    assert lookups.find(inbound(subject="Re: [OTH-2026-000001]")) is None
    assert lookups.checked == []


def test_nothing_matches() -> None:
    assert Lookups().find(inbound(in_reply_to=("<unknown@163.example>",))) is None


def test_with_lambdas() -> None:
    mail = inbound(in_reply_to=("<a@x.example>",), subject="[PFX-2026-000009]")
    assert find_ticket(mail, PREFIX, lambda ids: "PFX-2026-000007", lambda t: True) == (
        "PFX-2026-000009"
    )
    assert find_ticket(mail, PREFIX, lambda ids: "PFX-2026-000007", lambda t: False) == (
        "PFX-2026-000007"
    )
    assert find_ticket(mail, PREFIX, lambda ids: None, lambda t: False) is None


def test_with_the_store_in_reply_to_wins_over_an_older_reference(tmp_path: Path) -> None:
    # The store as the pipeline uses it: rows of the older ticket come first in its tables.
    store = Store(tmp_path / "store")
    now = datetime(2026, 3, 2, tzinfo=UTC)
    for ticket_id, message_id in (
        ("PFX-2026-000001", "<old-thread@163.example>"),
        ("PFX-2026-000002", "<second@163.example>"),
    ):
        store.add_message(
            TicketMessage(
                ticket_id=ticket_id,
                direction=Direction.IN,
                kind=MessageKind.COMPLAINT,
                message_id=message_id,
                from_addr="li.wei@163.example",
                to=("desk@pfx.example",),
                subject="s",
                date=now,
            )
        )
    mail = inbound(
        in_reply_to=("<second@163.example>",),
        references=("<old-thread@163.example>", "<second@163.example>"),
    )
    found = find_ticket(
        mail, PREFIX, store.ticket_for_message_ids, lambda t: store.find_ticket(t) is not None
    )
    assert found == "PFX-2026-000002"
