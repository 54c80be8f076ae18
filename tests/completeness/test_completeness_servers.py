"""Collecting a complaint's missing details through a real Dovecot and a real SMTP server:
complaint (incomplete) -> reply asking for exactly what is missing -> the customer answers some
of it -> reply asking only for the rest -> the customer answers the rest -> told it is complete."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from helpers import complaint, cycle, load, write_config
from servers import ImapAccount, SmtpSink

from mailticket.config_sections import BUILTIN_RULES
from mailticket.model import Direction, MessageKind

pytestmark = pytest.mark.integration

RULES = f'[rules]\npath = "{BUILTIN_RULES}"\n'


def asked_for(message: EmailMessage) -> list[str]:
    """The labels of the numbered items a reply asks for."""
    body = message.get_body(("plain",))
    assert body is not None
    lines = body.get_content().splitlines()
    return [line.split(". ", 1)[1] for line in lines if line.strip()[:2] in ("1.", "2.", "3.")]


def answer(to: EmailMessage, body: str, message_id: str) -> bytes:
    return complaint(
        subject=f"回复：{to['Subject']}",
        body=body,
        message_id=message_id,
        in_reply_to=to["Message-ID"],
    )


def test_the_desk_asks_until_the_complaint_is_complete(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink, extra=RULES))
    deliver = lambda raw: imap_account.dovecot.append(  # noqa: E731
        imap_account.username, imap_account.password, raw
    )
    deliver(complaint(body="我11月24日充值了500元，银行已扣款，但余额没有变化。"))
    desk = cycle(config)

    [ticket] = desk.store.tickets()
    assert (ticket.category, ticket.sla_working_days, ticket.complete) == (
        "topup_not_credited",
        3,
        False,
    )
    [received] = smtp_sink.wait_for(1)
    ack = email.message_from_bytes(received.data, policy=default_policy)
    assert ack["In-Reply-To"] == "<c1@qq.example>"
    assert asked_for(ack) == ["OK钱包账号（注册手机号）", "充值交易单号"]
    assert "充值金额" not in ack.get_content() and "充值时间" not in ack.get_content()

    deliver(answer(ack, "我的账号：138-1234-5678", "<c2@qq.example>"))
    cycle(config, desk)
    [_, received] = smtp_sink.wait_for(2)
    first_request = email.message_from_bytes(received.data, policy=default_policy)
    assert first_request["In-Reply-To"] == "<c2@qq.example>"
    assert first_request["Subject"] == f"[{ticket.id}] Re: 充值500元一直没到账"
    assert first_request["Auto-Submitted"] == "auto-replied"
    assert asked_for(first_request) == ["充值交易单号"]
    assert "感谢您补充OK钱包账号（注册手机号）" in first_request.get_content()

    deliver(
        answer(first_request, "交易单号是ＴＸ２０２６１１２４１５３００００１", "<c3@qq.example>")
    )
    cycle(config, desk)
    [*_, received] = smtp_sink.wait_for(3)
    done = email.message_from_bytes(received.data, policy=default_policy)
    assert asked_for(done) == []
    assert "您提供的资料已齐全" in done.get_content()

    ticket = desk.store.get_ticket(ticket.id)
    assert ticket.complete and ticket.score == 80
    assert ticket.fields == {
        "account": "+8613812345678",
        "transaction_id": "TX2026112415300001",
        "amount": "500.00",
        "time": "2026-11-24",
    }
    kinds = [(m.direction, m.kind) for m in desk.store.messages(ticket.id)]
    assert kinds == [
        (Direction.IN, MessageKind.COMPLAINT),
        (Direction.OUT, MessageKind.ACKNOWLEDGEMENT),
        (Direction.IN, MessageKind.FOLLOWUP),
        (Direction.OUT, MessageKind.INFORMATION_REQUEST),
        (Direction.IN, MessageKind.FOLLOWUP),
        (Direction.OUT, MessageKind.INFORMATION_REQUEST),
    ]
    assert len(smtp_sink.messages) == 3
