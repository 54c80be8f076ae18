from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from mailticket.decide import Action, Decision, autoreply_block_reason, decide_inbound
from mailticket.model import InboundMail, MessageKind, Ticket, TicketStatus

DESK = "desk@pfx.example"
OWN = {DESK}
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def mail(**changes: Any) -> InboundMail:
    base = InboundMail(
        raw_sha256="c" * 64,
        size=1200,
        message_id="<m1@163.example>",
        in_reply_to=(),
        references=(),
        from_addr="li.wei@163.example",
        from_name="李伟",
        to=(DESK,),
        cc=(),
        subject="充值未到账",
        date=NOW,
        text="我昨天充值了100元，至今没有到账。",
    )
    return replace(base, **changes)


def ticket() -> Ticket:
    return Ticket(
        id="PFX-2026-000001",
        status=TicketStatus.OPEN,
        customer="li.wei@163.example",
        customer_name="李伟",
        subject="充值未到账",
        language="zh",
        created=NOW,
        updated=NOW,
    )


# --- autoreply_block_reason -------------------------------------------------------------------


def test_ordinary_customer_may_get_an_answer() -> None:
    assert autoreply_block_reason(mail(), OWN) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"auto-submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
        ({"auto-submitted": "Auto-Generated"}, "Auto-Submitted: auto-generated"),
        ({"precedence": "bulk"}, "Precedence: bulk"),
        ({"precedence": "Junk"}, "Precedence: junk"),
        ({"precedence": " list "}, "Precedence: list"),
        ({"list-id": "<offers.shop.example>"}, "mailing list mail (list-id)"),
        ({"list-unsubscribe": "<mailto:u@shop.example>"}, "mailing list mail (list-unsubscribe)"),
        ({"x-auto-response-suppress": "All"}, "X-Auto-Response-Suppress: All"),
        ({"x-auto-response-suppress": "DR, OOF"}, "X-Auto-Response-Suppress: DR, OOF"),
        ({"x-autoreply": "yes"}, "x-autoreply header"),
        ({"return-path": "<>"}, "empty Return-Path (a bounce or notification)"),
        ({"return-path": " <> "}, "empty Return-Path (a bounce or notification)"),
    ],
)
def test_headers_that_block_an_automatic_answer(headers: dict[str, str], expected: str) -> None:
    assert autoreply_block_reason(mail(auto_headers=headers), OWN) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"auto-submitted": "no"},
        {"auto-submitted": "No"},
        {"precedence": "first-class"},
        {"x-auto-response-suppress": "DR, RN"},
        {"return-path": "<li.wei@163.example>"},
        {"content-type": "text/plain; charset=utf-8"},
    ],
)
def test_headers_that_do_not_block(headers: dict[str, str]) -> None:
    assert autoreply_block_reason(mail(auto_headers=headers), OWN) is None


def test_delivery_report_is_blocked() -> None:
    reason = autoreply_block_reason(mail(is_delivery_report=True), OWN)
    assert reason == "delivery status notification"


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.163.example",
        "mailer-daemon@mx.163.example",
        "postmaster@163.example",
        "Postmaster@163.example",
        "noreply@shop.example",
        "no-reply@shop.example",
        "no-reply+tag123@shop.example",
        "no_reply.orders@shop.example",
        "donotreply@bank.example",
        "bounces+abc=163.example@lists.example",
    ],
)
def test_robot_senders_are_blocked(sender: str) -> None:
    assert autoreply_block_reason(mail(from_addr=sender), OWN) == f"automated sender {sender}"


@pytest.mark.parametrize(
    "sender", ["noreplyfan@163.example", "postmasters.fan@x.example", "norepl@163.example"]
)
def test_people_whose_names_start_like_robots_are_not_blocked(sender: str) -> None:
    assert autoreply_block_reason(mail(from_addr=sender), OWN) is None


@pytest.mark.parametrize("sender", ["desk@pfx.example", "DESK@PFX.example", "Desk@Pfx.Example"])
def test_our_own_address_is_blocked_case_insensitively(sender: str) -> None:
    reason = autoreply_block_reason(mail(from_addr=sender), OWN)
    assert reason == "sent from the desk's own address"


def test_missing_sender_is_blocked() -> None:
    assert autoreply_block_reason(mail(from_addr=""), OWN) == "no sender address"


# --- decide_inbound ---------------------------------------------------------------------------


def test_new_complaint_opens_a_ticket_and_is_acknowledged() -> None:
    decision = decide_inbound(
        mail(), None, is_agent=False, own_addresses=OWN, now=NOW, reopen_days=7
    )
    assert decision == Decision(Action.NEW_TICKET, MessageKind.COMPLAINT, acknowledge=True)


def test_auto_reply_without_a_ticket_opens_one_silently() -> None:
    decision = decide_inbound(
        mail(auto_headers={"auto-submitted": "auto-replied"}),
        None,
        is_agent=False,
        own_addresses=OWN,
        now=NOW,
        reopen_days=7,
    )
    assert decision.action is Action.NEW_TICKET
    assert decision.kind is MessageKind.COMPLAINT
    assert decision.acknowledge is False
    assert decision.notes == ("no automatic reply: Auto-Submitted: auto-replied",)


def test_agent_opening_a_ticket_gets_no_acknowledgement() -> None:
    decision = decide_inbound(
        mail(from_addr="alice@pfx.example"),
        None,
        is_agent=True,
        own_addresses=OWN,
        now=NOW,
        reopen_days=7,
    )
    assert decision.action is Action.NEW_TICKET
    assert decision.acknowledge is False
    assert "no automatic reply: the sender is an agent" in decision.notes


def test_follow_up_on_a_ticket_is_appended() -> None:
    decision = decide_inbound(
        mail(in_reply_to=("<ack@pfx.example>",)),
        ticket(),
        is_agent=False,
        own_addresses=OWN,
        now=NOW,
        reopen_days=7,
    )
    assert decision == Decision(Action.APPEND, MessageKind.FOLLOWUP)
    assert decision.acknowledge is False


def test_agent_mail_on_a_ticket_is_appended_as_agent() -> None:
    decision = decide_inbound(
        mail(from_addr="alice@pfx.example"),
        ticket(),
        is_agent=True,
        own_addresses=OWN,
        now=NOW,
        reopen_days=7,
    )
    assert decision.action is Action.APPEND
    assert decision.kind is MessageKind.AGENT
    assert decision.acknowledge is False


def test_auto_reply_on_a_ticket_is_appended_as_automated() -> None:
    decision = decide_inbound(
        mail(auto_headers={"x-auto-response-suppress": "All"}),
        ticket(),
        is_agent=False,
        own_addresses=OWN,
        now=NOW,
        reopen_days=7,
    )
    assert decision.action is Action.APPEND
    assert decision.kind is MessageKind.AUTOMATED
    assert decision.notes == ("no automatic reply: X-Auto-Response-Suppress: All",)


def test_bounce_matching_a_ticket_is_appended() -> None:
    bounce = mail(
        from_addr="MAILER-DAEMON@mx.163.example",
        is_delivery_report=True,
        auto_headers={"return-path": "<>"},
    )
    decision = decide_inbound(
        bounce, ticket(), is_agent=False, own_addresses=OWN, now=NOW, reopen_days=7
    )
    assert decision.action is Action.APPEND
    assert decision.kind is MessageKind.BOUNCE
    assert decision.acknowledge is False
    assert len(decision.notes) == 1
    assert decision.notes[0].startswith("no automatic reply:")


def test_bounce_matching_no_ticket_is_quarantined() -> None:
    bounce = mail(from_addr="MAILER-DAEMON@mx.163.example", is_delivery_report=True)
    decision = decide_inbound(
        bounce, None, is_agent=False, own_addresses=OWN, now=NOW, reopen_days=7
    )
    assert decision.action is Action.QUARANTINE
    assert decision.kind is MessageKind.BOUNCE
    assert decision.acknowledge is False
    assert decision.reason == "delivery status notification that matches no ticket"


@pytest.mark.parametrize("sender", [DESK, "DESK@pfx.example"])
def test_own_mail_matching_no_ticket_is_quarantined(sender: str) -> None:
    decision = decide_inbound(
        mail(from_addr=sender), None, is_agent=False, own_addresses=OWN, now=NOW, reopen_days=7
    )
    assert decision.action is Action.QUARANTINE
    assert decision.acknowledge is False
    assert "own address" in decision.reason


def test_mail_without_sender_is_quarantined() -> None:
    decision = decide_inbound(
        mail(from_addr=""), None, is_agent=False, own_addresses=OWN, now=NOW, reopen_days=7
    )
    assert decision.action is Action.QUARANTINE
    assert decision.acknowledge is False
    assert decision.reason == "no sender address to answer"


@pytest.mark.parametrize(
    "changes",
    [
        {"auto_headers": {"precedence": "bulk"}},
        {"auto_headers": {"list-id": "<news.shop.example>"}},
        {"from_addr": "noreply@shop.example"},
        {"auto_headers": {"return-path": "<>"}},
    ],
)
def test_no_new_ticket_is_ever_acknowledged_when_blocked(changes: dict[str, Any]) -> None:
    decision = decide_inbound(
        mail(**changes), None, is_agent=False, own_addresses=OWN, now=NOW, reopen_days=7
    )
    assert decision.action is Action.NEW_TICKET
    assert decision.acknowledge is False
    assert decision.notes and decision.notes[0].startswith("no automatic reply:")
