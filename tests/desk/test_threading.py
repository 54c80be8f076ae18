"""Threading beyond plain headers: signed Message-IDs, forged references, strangers who
quote a ticket's tag. On a real store; no servers needed."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from mailticket import config as config_module
from mailticket.desk.agent_mail import agent_claim
from mailticket.desk.context import Desk
from mailticket.desk.match import sender_in_conversation, signed_ticket
from mailticket.intake.record import take_in
from mailticket.mail.parse import parse
from mailticket.model import MessageKind
from mailticket.outbound.compose import new_message_id

CONFIG = '[desk]\naddress = "complaints@okwallet.example"\nticket_prefix = "OKW"\n'


def desk_for(tmp_path: Path, extra: str = "") -> Desk:
    no_rules = '[rules]\npath = ""\n'  # notes here are threading's alone
    (tmp_path / "mailticket.toml").write_text(CONFIG + extra + no_rules, encoding="utf-8")
    return Desk.open(config_module.load(tmp_path / "mailticket.toml", environ={}))


def mail(sender: str, subject: str, message_id: str, references: str = "") -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = "complaints@okwallet.example"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if references:
        message["In-Reply-To"] = references
        message["References"] = references
    message.set_content("我的充值还没到账，请尽快处理。", charset="utf-8")
    return message.as_bytes()


def inbound_notes(desk: Desk, ticket_id: str) -> list[str]:
    return [n for m in desk.store.messages(ticket_id) if m.direction.value == "in" for n in m.notes]


def test_our_message_ids_are_signed_and_verified(tmp_path: Path) -> None:
    desk = desk_for(tmp_path)
    signed = new_message_id(
        "OKW-2026-000001", MessageKind.ACKNOWLEDGEMENT, "okwallet.example", desk.secret
    )
    assert signed_ticket(signed, "okwallet.example", desk.secret) == "OKW-2026-000001"
    assert signed_ticket(signed, "elsewhere.example", desk.secret) is None
    assert signed_ticket(signed, "okwallet.example", b"another secret") is None
    assert Desk.open(desk.config).secret == desk.secret  # kept in the store


def test_a_reply_finds_its_ticket_by_a_signed_reference_alone(tmp_path: Path) -> None:
    desk = desk_for(tmp_path)
    first = take_in(desk, mail("c@qq.example", "充值没到账", "<a@qq.example>"), "t")
    # A reference to one of our mails the store never indexed (e.g. restored from a backup),
    # and a subject whose tag the customer's client dropped.
    ours = new_message_id(first.ticket_id, MessageKind.REPLY, "okwallet.example", desk.secret)
    reply = take_in(desk, mail("c@qq.example", "回复：进展？", "<b@qq.example>", ours), "t")
    assert (reply.outcome, reply.ticket_id) == ("appended", first.ticket_id)


def test_a_forged_reference_joins_nothing_and_is_noted(tmp_path: Path) -> None:
    desk = desk_for(tmp_path)
    first = take_in(desk, mail("c@qq.example", "充值没到账", "<a@qq.example>"), "t")
    forged = f"<{first.ticket_id}.rep.0badc0de.000000000000@okwallet.example>"
    other = take_in(desk, mail("x@evil.example", "hello", "<c@evil.example>", forged), "t")
    assert other.outcome == "created" and other.ticket_id != first.ticket_id
    assert any(
        n.startswith("forged reference to our mail") for n in inbound_notes(desk, other.ticket_id)
    )


@pytest.mark.parametrize(("mode", "joins"), [("new_ticket", False), ("attach", True)])
def test_a_stranger_quoting_a_tag_does_not_silently_join(
    tmp_path: Path, mode: str, joins: bool
) -> None:
    desk = desk_for(tmp_path, f'stranger_tag = "{mode}"\n')
    first = take_in(desk, mail("c@qq.example", "充值没到账", "<a@qq.example>"), "t")
    tag = f"[{first.ticket_id}] 我也有同样的问题"
    stranger = take_in(desk, mail("x@163.example", tag, "<s@163.example>"), "t")
    assert (stranger.ticket_id == first.ticket_id) is joins
    notes = inbound_notes(desk, stranger.ticket_id)
    assert any(f"claims {first.ticket_id} by its subject tag" in n for n in notes)
    # The customer quoting their own tag joins as ever, without a note.
    own = take_in(desk, mail("c@qq.example", tag, "<d@qq.example>"), "t")
    assert own.ticket_id == first.ticket_id
    [own_mail] = [m for m in desk.store.messages(own.ticket_id) if m.message_id == "<d@qq.example>"]
    assert own_mail.notes == ()


AGENT_CONFIG = '[agents]\naddresses = ["alice@okwallet.example"]\nrequire_authentication = false\n'


def test_an_agents_forward_becomes_the_customers_ticket(tmp_path: Path) -> None:
    desk = desk_for(tmp_path, AGENT_CONFIG)
    message = EmailMessage(policy=SMTP)
    message["From"] = "Alice <alice@okwallet.example>"
    message["To"] = "complaints@okwallet.example"
    message["Subject"] = "Fwd: 提现三天没到账"
    message["Message-ID"] = "<fwd-1@okwallet.example>"
    message.set_content(
        "请建工单。\n\n"
        "---------- Forwarded message ---------\n"
        "From: 王芳 <WangFang@163.example>\n"
        "Date: Tue, 24 Nov 2026 10:00:00 +0800\n"
        "Subject: 提现三天没到账\n"
        "To: alice@okwallet.example\n\n"
        "我11月21日提现2000元到工商银行卡，至今未到账。\n",
        charset="utf-8",
    )
    result = take_in(desk, message.as_bytes(), "t")
    ticket = desk.store.get_ticket(result.ticket_id)
    assert (ticket.customer, ticket.customer_name, ticket.subject) == (
        "WangFang@163.example",
        "王芳",
        "提现三天没到账",
    )
    [record] = [m for m in desk.store.messages(ticket.id) if m.direction.value == "in"]
    assert "forwarded in by agent alice@okwallet.example for WangFang@163.example" in record.notes
    assert record.text.startswith("我11月21日提现2000元")
    [ack] = desk.store.outbox()
    assert ack.rcpt_to == ("WangFang@163.example",)


INVALID = "王伟 <wang wei@163.example>"  # best effort '"wang wei"@163.example', marked invalid


@pytest.mark.parametrize(("mode", "joins"), [("new_ticket", False), ("attach", True)])
def test_an_invalid_sender_address_never_joins_a_ticket_on_its_own(
    tmp_path: Path, mode: str, joins: bool
) -> None:
    desk = desk_for(tmp_path, f'stranger_tag = "{mode}"\n')
    first = take_in(desk, mail(INVALID, "转账失败", "<w1@163.example>"), "t")
    ticket = desk.store.get_ticket(first.ticket_id)
    assert ticket.customer == '"wang wei"@163.example'
    # The same best-effort address again, with the tag and a reference: it names nobody for
    # sure (many senders' broken headers read the same), so it is judged a stranger.
    again = take_in(
        desk,
        mail(INVALID, f"Re: [{ticket.id}] 转账失败", "<w2@163.example>", "<w1@163.example>"),
        "t",
    )
    assert (again.ticket_id == ticket.id) is joins
    assert any("stranger" in n or "claims" in n for n in inbound_notes(desk, again.ticket_id))
    # A valid sender who is in the conversation still joins silently.
    valid = take_in(desk, mail("c@qq.example", "充值没到账", "<c1@qq.example>"), "t")
    own = take_in(desk, mail("c@qq.example", f"[{valid.ticket_id}]", "<c2@qq.example>"), "t")
    assert own.ticket_id == valid.ticket_id
    assert [m.notes for m in desk.store.messages(own.ticket_id) if m.direction.value == "in"] == [
        (),
        (),
    ]


def test_an_invalid_sender_is_never_an_agent(tmp_path: Path) -> None:
    desk = desk_for(tmp_path, AGENT_CONFIG)
    raw = mail("Alice <alice@okwallet.example>", "#note 已处理", "<a1@okwallet.example>")
    valid = parse(raw)
    assert agent_claim(desk, valid) is not None  # the control: a valid From is an agent's
    invalid = replace(valid, from_valid=False)  # as the parser marks a best-effort address
    assert agent_claim(desk, invalid) is None
    assert not sender_in_conversation(invalid, {"alice@okwallet.example"})
    assert sender_in_conversation(valid, {"alice@okwallet.example"})
