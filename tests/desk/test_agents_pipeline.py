"""Agents' mail through the pipeline, in process: what the commands change on the ticket and
what is queued (the whole dialogue through real servers is in test_agents_servers.py)."""

from __future__ import annotations

import email
import logging
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from pathlib import Path

import pytest

from mailticket import config as config_module
from mailticket.config_sections import BUILTIN_RULES
from mailticket.desk.context import Desk
from mailticket.intake.record import take_in
from mailticket.model import MessageKind, OutgoingMail

PROJECT = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # Tuesday, 16:00 in Shanghai
ALICE = "alice@okwallet.example"
AUTHENTICATED = "mx.okwallet.example; dkim=pass header.d=okwallet.example"


def open_desk(tmp_path: Path, agents: str = "") -> Desk:
    path = tmp_path / "mailticket.toml"
    path.write_text(
        '[desk]\naddress = "complaints@okwallet.example"\nticket_prefix = "OKW"\n'
        f'[storage]\npath = "store"\n[rules]\npath = "{BUILTIN_RULES}"\n'
        '[agents]\naddresses = ["alice@okwallet.example", "bob@okwallet.example"]\n'
        'team_address = "support@okwallet.example"\n'
        f'trusted_authserv_ids = ["mx.okwallet.example"]\n{agents}',
        encoding="utf-8",
    )
    return Desk.open(config_module.load(path, environ={}), clock=lambda: START)


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return open_desk(tmp_path)


def send(
    desk: Desk,
    body: str,
    number: int,
    *,
    sender: str = "张伟 <zhang.wei@qq.example>",
    headers: dict[str, str] | None = None,
) -> str:
    message = EmailMessage(policy=SMTP)
    for name, value in (headers or {}).items():
        message[name] = value
    message["From"] = sender
    message["To"] = "complaints@okwallet.example"
    message["Subject"] = "充值500元一直没到账" if number == 1 else "Re: [OKW-2026-000001] 充值"
    message["Message-ID"] = f"<m{number}@example>"
    if number > 1:
        message["In-Reply-To"] = "<m1@example>"
    message.set_content(body, charset="utf-8")
    return take_in(desk, message.as_bytes(), source=f"test:{number}").ticket_id


def from_alice(desk: Desk, body: str, number: int, **headers: str) -> str:
    return send(
        desk,
        body,
        number,
        sender=ALICE,
        headers={"Authentication-Results": AUTHENTICATED} | headers,
    )


def queued(desk: Desk, kind: MessageKind) -> list[OutgoingMail]:
    return [m for m in sorted(desk.store.outbox(), key=lambda m: m.id) if m.kind == kind]


def test_an_agents_category_is_kept_and_brings_its_deadline(desk: Desk) -> None:
    ticket_id = send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    before = desk.store.get_ticket(ticket_id)
    assert (before.category, before.sla_working_days) == ("topup_not_credited", 3)

    from_alice(desk, "#category withdrawal_delayed\n#priority high", 2)
    ticket = desk.store.get_ticket(ticket_id)
    assert (ticket.category, ticket.category_set_by, ticket.priority.value) == (
        "withdrawal_delayed",
        ALICE,
        "high",
    )
    assert ticket.sla_working_days == 3  # the category's 5 days, at high priority (50%)
    assert ticket.due == desk.config.business_calendar.add_working_days(ticket.created, 3)
    assert ticket.category_confidence == 1.0

    send(desk, "还是没有到账，充值的钱去哪了？", 3)  # top-up words again
    assert desk.store.get_ticket(ticket_id).category == "withdrawal_delayed"
    assert queued(desk, MessageKind.REPLY) == []  # commands alone say nothing to the customer


def test_assigning_someone_else_tells_them(desk: Desk) -> None:
    ticket_id = send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    from_alice(desk, "#assign bob@okwallet.example", 2)
    assert desk.store.get_ticket(ticket_id).assignee == "bob@okwallet.example"
    new, assigned = queued(desk, MessageKind.AGENT_NOTIFICATION)
    assert new.rcpt_to == ("support@okwallet.example",)
    assert assigned.rcpt_to == ("bob@okwallet.example",)
    message = email.message_from_string(assigned.raw, policy=default_policy)
    assert "工单已由 alice@okwallet.example 分配给您" in message.get_content()
    assert message["In-Reply-To"] == new.message_id


def test_an_agents_out_of_office_is_recorded_never_relayed(desk: Desk) -> None:
    ticket_id = send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    from_alice(
        desk, "#status closed\nI am away until Monday.", 2, **{"Auto-Submitted": "auto-replied"}
    )
    assert desk.store.get_ticket(ticket_id).status.value == "open"
    assert desk.store.messages(ticket_id)[-1].kind == MessageKind.AUTOMATED
    assert queued(desk, MessageKind.REPLY) == []


def test_nothing_goes_to_an_undeliverable_customer(desk: Desk) -> None:
    ticket_id = send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    ticket = desk.store.get_ticket(ticket_id)
    desk.store.update_ticket(replace(ticket, undeliverable=(ticket.customer,)))
    from_alice(desk, "#resolve\n已退款。", 2)
    ticket = desk.store.get_ticket(ticket_id)
    assert ticket.status.value == "resolved"
    assert queued(desk, MessageKind.RESOLUTION) == []
    assert (
        "not sent: zhang.wei@qq.example is marked undeliverable"
        in desk.store.messages(ticket_id)[-1].notes
    )


def test_without_required_authentication_the_from_is_taken_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mailticket"):
        desk = open_desk(tmp_path, "require_authentication = false\n")
    assert [r.getMessage() for r in caplog.records] == [
        "[agents] require_authentication is off: anyone who puts an agent's address in From "
        "can run commands and write to customers from the desk"
    ]
    ticket_id = send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    send(desk, "#assign me\n您好，已收到。", 2, sender=ALICE)  # no Authentication-Results
    assert desk.store.get_ticket(ticket_id).assignee == ALICE
    [reply] = queued(desk, MessageKind.REPLY)
    assert reply.rcpt_to == ("zhang.wei@qq.example",)


def test_an_unauthenticated_agent_mail_is_answered_saying_nothing_was_done(desk: Desk) -> None:
    """Sent through authenticated submission with no DKIM signature: no Authentication-Results
    from our server. The agent hears why, in both languages, threaded under their mail."""
    ticket_id = send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    # Not in the ticket's conversation yet and not vouched for: a stranger's mail, which
    # opens a ticket of its own (the customer's stays as it was).
    recorded_on = send(desk, "#resolve\n款项已到账。", 2, sender=ALICE)
    ticket = desk.store.get_ticket(ticket_id)
    assert ticket.status.value == "open" and queued(desk, MessageKind.RESOLUTION) == []
    [notice] = queued(desk, MessageKind.NOT_AUTHENTICATED)
    assert notice.rcpt_to == (ALICE,)
    message = email.message_from_string(notice.raw, policy=default_policy)
    assert message["Subject"] == (
        f"[{recorded_on}] 邮件未通过验证，未执行任何操作 / Your mail was not authenticated: "
        "nothing was done"
    )
    assert message["In-Reply-To"] == "<m2@example>"
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_content()
    assert "no Authentication-Results from a trusted server" in text
    assert "因此其中的命令没有执行" in text and "none of its commands were carried out" in text


def test_the_notice_to_an_agent_is_rate_limited(tmp_path: Path) -> None:
    desk = open_desk(tmp_path)
    limit = desk.config.limits.auto_replies_per_sender_per_hour
    send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    for number in range(2, limit + 4):  # limit + 2 mails in Alice's name within the hour
        send(desk, f"#note 第{number}封", number, sender=ALICE)
    assert len(queued(desk, MessageKind.NOT_AUTHENTICATED)) == limit
    notes = [n for t in desk.store.tickets() for m in desk.store.messages(t.id) for n in m.notes]
    assert sum("agent not told the mail was not authenticated" in n for n in notes) == 2


EXCHANGE_INTERNAL = {
    "X-MS-Exchange-Organization-AuthAs": "Internal",
    "X-MS-Exchange-Organization-AuthSource": "SN6PR11MB3456.namprd11.prod.outlook.com",
    "X-MS-Exchange-Organization-AuthMechanism": "04",
}


@pytest.mark.parametrize(
    ("headers", "trusted"),
    [
        (EXCHANGE_INTERNAL, True),
        ({**EXCHANGE_INTERNAL, "X-MS-Exchange-Organization-AuthAs": "Anonymous"}, False),
        ({"X-MS-Exchange-Organization-AuthAs": "Internal"}, False),  # no AuthSource
        ({}, False),
    ],
)
def test_exchange_online_internal_mail_counts_only_when_opted_in(
    tmp_path: Path, headers: dict[str, str], trusted: bool
) -> None:
    """Exchange Online writes Authentication-Results without an authserv-id; with
    `trust_exchange_internal` its own AuthAs/AuthSource stamp vouches for a tenant's user."""
    desk = open_desk(tmp_path, "trust_exchange_internal = true\n")
    ticket_id = send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    send(desk, "#priority high", 2, sender=ALICE, headers=headers)
    ticket = desk.store.get_ticket(ticket_id)
    assert (ticket.priority.value == "high") is trusted
    assert bool(queued(desk, MessageKind.NOT_AUTHENTICATED)) is not trusted
    notes = [n for m in desk.store.messages(ticket_id) for n in m.notes]
    if trusted:
        assert (
            "agent authenticated: Exchange: AuthAs Internal "
            "(AuthSource SN6PR11MB3456.namprd11.prod.outlook.com)" in notes
        )


def test_exchange_internal_is_ignored_unless_opted_in(desk: Desk) -> None:
    ticket_id = send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    send(desk, "#priority high", 2, sender=ALICE, headers=EXCHANGE_INTERNAL)
    assert desk.store.get_ticket(ticket_id).priority.value == "normal"


def test_two_exchange_stamps_that_disagree_are_not_trusted(tmp_path: Path) -> None:
    """A forger's own AuthAs: Internal below Exchange's Anonymous (had one slipped through)."""
    desk = open_desk(tmp_path, "trust_exchange_internal = true\n")
    ticket_id = send(desk, "我昨天充值了500元，银行已扣款但余额没变。", 1)
    raw = (
        "X-MS-Exchange-Organization-AuthAs: Anonymous\r\n"
        "X-MS-Exchange-Organization-AuthSource: DM6PR02MB1234.namprd02.prod.outlook.com\r\n"
        "X-MS-Exchange-Organization-AuthAs: Internal\r\n"
        f"From: {ALICE}\r\nTo: complaints@okwallet.example\r\n"
        f"Subject: Re: [{ticket_id}] x\r\nMessage-ID: <x2@example>\r\n"
        "In-Reply-To: <m1@example>\r\n\r\n#priority high\r\n"
    ).encode()
    take_in(desk, raw, source="test:x2")
    assert desk.store.get_ticket(ticket_id).priority.value == "normal"
    [notice] = queued(desk, MessageKind.NOT_AUTHENTICATED)
    text = email.message_from_string(notice.raw, policy=default_policy).get_content()
    assert "X-MS-Exchange-Organization-AuthAs disagrees: Anonymous, Internal" in text


def test_trusting_exchange_without_reading_from_exchange_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mailticket"):
        open_desk(tmp_path, "trust_exchange_internal = true\n")
    assert any("[imap] host is not Exchange Online" in r.getMessage() for r in caplog.records)
