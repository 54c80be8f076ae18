from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailticket.desk.commands import parse_commands
from mailticket.desk.decide import (
    Action,
    AgentDecision,
    Decision,
    autoreply_block_reason,
    decide_agent_mail,
    decide_inbound,
    with_status,
)
from mailticket.model import InboundMail, MessageKind, Priority, Ticket, TicketStatus

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


def test_an_invalid_sender_opens_a_ticket_that_is_never_acknowledged() -> None:
    odd = mail(from_addr="wang wei@163.example", from_valid=False)
    assert autoreply_block_reason(odd, OWN) == (
        "the sender address 'wang wei@163.example' is not a valid address"
    )
    decision = decide_inbound(odd, None, is_agent=False, own_addresses=OWN, now=NOW, reopen_days=14)
    assert decision.action is Action.NEW_TICKET
    assert not decision.acknowledge
    assert decision.notes == (
        "no automatic reply: the sender address 'wang wei@163.example' is not a valid address",
    )


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


def test_an_agent_mail_that_matches_no_ticket_opens_none_and_the_agent_is_told() -> None:
    decision = decide_inbound(
        mail(from_addr="alice@pfx.example"),
        None,
        is_agent=True,
        own_addresses=OWN,
        now=NOW,
        reopen_days=7,
    )
    assert (decision.action, decision.kind) == (Action.QUARANTINE, MessageKind.AGENT)
    assert decision.reason == "an agent's mail that matches no ticket"
    assert decision.acknowledge is True  # the agent is told
    out_of_office = mail(
        from_addr="alice@pfx.example", auto_headers={"auto-submitted": "auto-replied"}
    )
    decision = decide_inbound(
        out_of_office, None, is_agent=True, own_addresses=OWN, now=NOW, reopen_days=7
    )
    assert (decision.action, decision.acknowledge) == (Action.QUARANTINE, False)


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
    assert decision.reason == "delivery status notification that returns no mail we sent"


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


def test_an_agents_out_of_office_on_a_ticket_is_automated_never_agent_mail() -> None:
    decision = decide_inbound(
        mail(from_addr="alice@pfx.example", auto_headers={"auto-submitted": "auto-replied"}),
        ticket(),
        is_agent=True,
        own_addresses=OWN,
        now=NOW,
        reopen_days=7,
    )
    assert decision.kind is MessageKind.AUTOMATED


# --- resolved and closed tickets --------------------------------------------------------------


def answer(on: Ticket, *, days_later: float, is_agent: bool = False, **changes: Any) -> Decision:
    return decide_inbound(
        mail(**changes),
        on,
        is_agent=is_agent,
        own_addresses=OWN,
        now=NOW + timedelta(days=days_later),
        reopen_days=7,
    )


def resolved() -> Ticket:
    return replace(ticket(), status=TicketStatus.RESOLVED, resolved_at=NOW)


def test_a_customer_answering_a_resolution_in_time_reopens_the_ticket() -> None:
    decision = answer(resolved(), days_later=7)
    assert decision == Decision(
        Action.APPEND,
        MessageKind.FOLLOWUP,
        reopen=True,
        notes=("reopened: the customer answered within 7 days of the resolution",),
    )


def test_a_late_answer_to_a_resolution_starts_a_new_ticket_that_continues_it() -> None:
    decision = answer(resolved(), days_later=7.01)
    assert decision == Decision(
        Action.NEW_TICKET,
        MessageKind.COMPLAINT,
        acknowledge=True,
        continues="PFX-2026-000001",
        notes=(
            "a new ticket: the customer answered PFX-2026-000001, which is resolved more than "
            "7 days ago: closed",
        ),
    )


def test_any_answer_to_a_closed_ticket_starts_a_new_one() -> None:
    closed = replace(ticket(), status=TicketStatus.CLOSED, closed_at=NOW)
    decision = answer(closed, days_later=0)
    assert (decision.action, decision.continues, decision.acknowledge) == (
        Action.NEW_TICKET,
        "PFX-2026-000001",
        True,
    )


def test_machines_and_agents_do_not_reopen_or_restart_tickets() -> None:
    auto = answer(resolved(), days_later=1, auto_headers={"auto-submitted": "auto-replied"})
    assert (auto.action, auto.kind, auto.reopen) == (Action.APPEND, MessageKind.AUTOMATED, False)
    closed = replace(ticket(), status=TicketStatus.CLOSED)
    agent = answer(closed, days_later=30, is_agent=True, from_addr="alice@pfx.example")
    assert (agent.action, agent.kind, agent.continues) == (Action.APPEND, MessageKind.AGENT, "")


def test_an_open_ticket_just_takes_the_follow_up() -> None:
    decision = answer(replace(ticket(), status=TicketStatus.OPEN), days_later=100)
    assert decision == Decision(Action.APPEND, MessageKind.FOLLOWUP)


def test_status_changes_carry_their_times() -> None:
    later = NOW + timedelta(hours=5)
    done = with_status(ticket(), TicketStatus.RESOLVED, NOW)
    assert (done.status, done.resolved_at, done.closed_at, done.updated) == (
        TicketStatus.RESOLVED,
        NOW,
        None,
        NOW,
    )
    closed = with_status(done, TicketStatus.CLOSED, later)
    assert (closed.resolved_at, closed.closed_at) == (NOW, later)
    reopened = with_status(closed, TicketStatus.OPEN, later)
    assert (reopened.status, reopened.resolved_at, reopened.closed_at) == (
        TicketStatus.OPEN,
        None,
        None,
    )
    assert with_status(reopened, TicketStatus.OPEN, NOW + timedelta(days=9)) is reopened


# --- an agent's mail --------------------------------------------------------------------------

AGENTS = {"alice@pfx.example", "bob@pfx.example"}


def agent_mail(
    text: str, *, on: Ticket | None = None, addressed: bool = False, files: int = 0
) -> AgentDecision:
    return decide_agent_mail(
        parse_commands(text),
        on or ticket(),
        sender="Alice@pfx.example",
        addressed_customer=addressed,
        is_agent=lambda address: address.lower() in AGENTS,
        categories=["topup_not_credited", "other"],
        files=files,
    )


def test_an_agents_file_alone_is_sent_with_no_words_and_never_with_a_note() -> None:
    decision = agent_mail("", files=2)
    assert (decision.send, decision.text, decision.files, decision.public) == (
        MessageKind.REPLY,
        "",
        True,
        True,
    )
    assert decision.notes == ("2 file(s) of the agent's, no words: sent with the desk's line",)
    noted = agent_mail("#note\n内部文件。", files=1)
    assert (noted.kind, noted.send, noted.files) == (MessageKind.NOTE, None, False)
    assert agent_mail("", files=0).send is None
    assert agent_mail("", files=1, addressed=True).send is None


def test_attachments_asks_for_the_customers_files_and_sends_nothing_to_the_customer() -> None:
    decision = agent_mail("#attachments")
    assert (decision.fetch, decision.send, decision.problems) == (True, None, ())
    assert agent_mail("#attachments all").problems[0].line == "#attachments all"


def test_plain_words_are_relayed_as_a_reply() -> None:
    decision = agent_mail("您好，已为您查询，款项将在今天到账。")
    assert decision == AgentDecision(
        MessageKind.AGENT,
        send=MessageKind.REPLY,
        text="您好，已为您查询，款项将在今天到账。",
        public=True,
    )


def test_commands_are_applied_and_left_out_of_the_reply() -> None:
    decision = agent_mail("#assign me\n#priority urgent\n#category topup_not_credited\n您好。")
    assert (decision.assignee, decision.priority, decision.category) == (
        "alice@pfx.example",
        Priority.URGENT,
        "topup_not_credited",
    )
    assert (decision.send, decision.text) == (MessageKind.REPLY, "您好。")
    assert decision.notes == (
        "#assign me by Alice@pfx.example",
        "#priority urgent by Alice@pfx.example",
        "#category topup_not_credited by Alice@pfx.example",
    )


def test_commands_alone_send_nothing() -> None:
    decision = agent_mail("#assign bob@pfx.example\n#status pending")
    assert (decision.assignee, decision.status) == ("bob@pfx.example", TicketStatus.PENDING)
    assert (decision.send, decision.public) == (None, False)


def test_a_note_is_recorded_as_a_note_and_never_sent() -> None:
    decision = agent_mail("#note\n客户情绪激动，建议电话联系。")
    assert (decision.kind, decision.send, decision.text, decision.public) == (
        MessageKind.NOTE,
        None,
        "",
        False,
    )


@pytest.mark.parametrize("text", ["#resolve\n已退款。", "#status resolved\n已退款。"])
def test_resolving_with_words_sends_the_resolution(text: str) -> None:
    decision = agent_mail(text)
    assert (decision.status, decision.send, decision.text) == (
        TicketStatus.RESOLVED,
        MessageKind.RESOLUTION,
        "已退款。",
    )


def test_resolving_without_words_by_status_is_silent() -> None:
    decision = agent_mail("#status resolved")
    assert (decision.status, decision.send) == (TicketStatus.RESOLVED, None)


def test_a_reply_the_agent_wrote_to_the_customer_directly_is_not_sent_again() -> None:
    decision = agent_mail("您好，已处理。", addressed=True)
    assert (decision.send, decision.public) == (None, True)
    assert decision.notes == ("written to the customer directly (desk copied): not sent again",)


def test_nothing_goes_to_an_undeliverable_customer() -> None:
    dead = replace(ticket(), undeliverable=("LI.WEI@163.example",))
    decision = agent_mail("#resolve\n已退款。", on=dead)
    assert (decision.status, decision.send, decision.public) == (
        TicketStatus.RESOLVED,
        None,
        False,
    )
    assert decision.notes[-1] == "not sent: li.wei@163.example is marked undeliverable"


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("#stauts closed\n已处理。", "#stauts closed", "unknown command"),
        ("#assign carol@elsewhere.example\nhi", "#assign carol@elsewhere.example", "not an agent"),
        ("#category fees\nhi", "#category fees", "unknown category (known: topup_not_credited"),
    ],
)
def test_a_problem_means_nothing_is_done(text: str, line: str, why: str) -> None:
    decision = agent_mail(text)
    [problem] = decision.problems
    assert problem.line == line and why in problem.why
    assert decision == AgentDecision(MessageKind.AGENT, problems=decision.problems)


def test_without_rules_no_category_is_known() -> None:
    decision = decide_agent_mail(
        parse_commands("#category other"),
        ticket(),
        sender="alice@pfx.example",
        addressed_customer=False,
        is_agent=lambda address: True,
        categories=[],
    )
    assert decision.problems[0].why == "unknown category (known: none: no [rules] configured)"


def test_a_customer_answer_opens_a_pending_ticket_again() -> None:
    decision = answer(replace(ticket(), status=TicketStatus.PENDING), days_later=100)
    assert (decision.action, decision.kind, decision.resume, decision.reopen) == (
        Action.APPEND,
        MessageKind.FOLLOWUP,
        True,
        False,
    )
