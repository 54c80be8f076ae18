"""Agents working a ticket by email, through a real Dovecot and a real SMTP server:
complaint -> the team is notified -> an agent takes it and answers -> the customer gets the
answer from the desk -> an internal note (nothing sent) -> the resolution -> the customer
answers it -> reopened and the agent told. Plus a forged agent mail whose commands are only
text, a command that is not understood, a reply written to the customer directly, and an
answer that comes after the reopening window."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path

import pytest
from helpers import complaint, cycle, load, run_cli, write_config
from servers import ImapAccount, SmtpSink

from mailticket.config_sections import BUILTIN_RULES
from mailticket.desk.context import Desk
from mailticket.model import Direction, MessageKind, TicketStatus

pytestmark = pytest.mark.integration

DESK = "complaints@okwallet.example"
CUSTOMER = "zhang.wei@qq.example"
ALICE = "alice@okwallet.example"
TEAM = "support@okwallet.example"
AGENTS = f"""
[rules]
path = "{BUILTIN_RULES}"

[agents]
addresses = ["{ALICE}", "bob@okwallet.example"]
team_address = "{TEAM}"
trusted_authserv_ids = ["mx.okwallet.example"]
reopen_days = 7
"""
ESCALATION = "中国人民银行金融消费权益保护局 12363"
AUTHENTICATED = (
    "mx.okwallet.example; dkim=pass header.d=okwallet.example; "
    "spf=pass smtp.mailfrom=okwallet.example"
)
COMPLETE = (
    "我在11月24日充值了500元，银行已扣款但余额没有变化。"
    "账号13812345678，交易单号TX2026112415300001。"
)


class Desktop:
    """The mail servers, the desk and its clock, and the mail received so far."""

    def __init__(
        self, tmp_path: Path, account: ImapAccount, sink: SmtpSink, *, agents: str = ""
    ) -> None:
        """`agents`: more TOML for the [agents] table (and any after it)."""
        path = write_config(tmp_path, account, sink, extra=AGENTS + agents)
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("[desk]\n", f'[desk]\nescalation_path = "{ESCALATION}"\n', 1),
            encoding="utf-8",
        )
        self.path, self.account, self.sink = path, account, sink
        self.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # the complaint's Date
        self.desk = Desk.open(load(path), clock=lambda: self.now)
        self.seen = 0

    def deliver(self, *mails: bytes) -> list[EmailMessage]:
        """Put mails in the inbox, run one cycle a minute later, and return the mail the desk
        sent."""
        for raw in mails:
            self.account.dovecot.append(self.account.username, self.account.password, raw)
        self.now += timedelta(minutes=1)
        cycle(self.desk.config, self.desk)
        received = self.sink.messages[self.seen :]
        self.seen += len(received)
        return [email.message_from_bytes(m.data, policy=default_policy) for m in received]

    def answer(
        self,
        message: EmailMessage,
        body: str,
        message_id: str,
        *,
        sender: str = ALICE,
        authentication: str | None = AUTHENTICATED,
        recipients: tuple[str, ...] = (DESK,),
        cc: tuple[str, ...] = (),
    ) -> bytes:
        """A reply written now, as a mail client writes it: the text on top, the mail it
        answers quoted below."""
        reply = EmailMessage(policy=SMTP_POLICY)
        if authentication:
            reply["Authentication-Results"] = authentication
        reply["From"] = sender
        reply["To"] = ", ".join(recipients)
        if cc:
            reply["Cc"] = ", ".join(cc)
        reply["Subject"] = f"Re: {message['Subject']}"
        reply["Date"] = format_datetime(self.now)
        reply["Message-ID"] = message_id
        reply["In-Reply-To"] = message["Message-ID"]
        reply["References"] = f"{message['References'] or ''} {message['Message-ID']}".strip()
        quoted = "\n".join(f"> {line}" for line in plain(message).splitlines())
        attribution = f"On {message['Date']}, OK钱包客服 <{DESK}> wrote:"
        reply.set_content(f"{body}\n\n{attribution}\n{quoted}\n", charset="utf-8")
        return reply.as_bytes()


def only(messages: list[EmailMessage], address: str) -> EmailMessage:
    """The one mail among `messages` to `address`."""
    [message] = [m for m in messages if m["To"].addresses[0].addr_spec == address]
    return message


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_a_whole_ticket_worked_by_email(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    desktop = Desktop(tmp_path, imap_account, smtp_sink)
    store = desktop.desk.store

    # The complaint: the customer's receipt, and the team is told.
    sent = desktop.deliver(complaint(body=COMPLETE))
    [ticket] = store.tickets()
    only(sent, CUSTOMER)
    notice = only(sent, TEAM)
    assert notice["Subject"] == f"[{ticket.id}] 充值500元一直没到账"
    assert notice["Reply-To"].addresses[0].addr_spec == DESK
    assert notice["Auto-Submitted"] == "auto-generated"
    text = plain(notice)
    assert "新工单 / New ticket" in text
    assert "充值不到账 / Top-up not credited" in text
    assert "80/100；资料齐全 / complete" in text
    assert COMPLETE in text

    # Alice takes it and answers; the customer gets her words, from the desk, in the thread.
    sent = desktop.deliver(
        desktop.answer(
            notice,
            "#assign me\n\n张先生您好，我们已查到这笔充值，正在与银行核对，今天内给您结果。"
            "\n\nAlice",
            "<a1@okwallet.example>",
        )
    )
    reply = only(sent, CUSTOMER)
    assert len(sent) == 1
    assert reply["From"].addresses[0].addr_spec == DESK
    assert reply["Subject"] == f"[{ticket.id}] Re: 充值500元一直没到账"
    assert reply["In-Reply-To"] == "<c1@qq.example>"
    assert reply["Auto-Submitted"] == "no"
    words = plain(reply)
    assert words.startswith("张先生您好，我们已查到这笔充值")
    assert "#assign" not in words and "新工单" not in words and "wrote:" not in words
    assert ticket.id in words
    ticket = store.get_ticket(ticket.id)
    assert ticket.assignee == ALICE
    assert ticket.first_response_at == desktop.now

    # An internal note: recorded, never sent.
    assert (
        desktop.deliver(
            desktop.answer(
                notice, "#note\n客户此前也投诉过一次，注意语气。", "<a2@okwallet.example>"
            )
        )
        == []
    )
    [note] = [m for m in store.messages(ticket.id) if m.kind == MessageKind.NOTE]
    assert note.text.endswith("客户此前也投诉过一次，注意语气。")

    # `#note text` on one line, as the notice suggests (issue 17): a note too, never sent.
    one_line = desktop.answer(notice, "#note 已电话联系客户，稍后回电。", "<a2b@okwallet.example>")
    assert desktop.deliver(one_line) == []
    notes = [m for m in store.messages(ticket.id) if m.kind == MessageKind.NOTE]
    assert [m.message_id for m in notes] == ["<a2@okwallet.example>", "<a2b@okwallet.example>"]
    assert notes[-1].text.endswith("已电话联系客户，稍后回电。")

    # A forged mail in Alice's name: its commands are text, nothing reaches the customer, and
    # the ticket is flagged; Alice (now the assignee) hears of it, and is told in a reply to
    # that mail that it was not authenticated and nothing in it was done.
    forged = desktop.answer(
        notice,
        "#status closed\n#assign me\n请忽略此工单。",
        "<forged@attacker.example>",
        authentication="mail.attacker.example; dkim=pass header.d=okwallet.example",
    )
    sent = desktop.deliver(forged)
    assert [m["To"].addresses[0].addr_spec for m in sent] == [ALICE, ALICE]
    told = next(m for m in sent if m["In-Reply-To"] == "<forged@attacker.example>")
    assert "Your mail was not authenticated: nothing was done" in told["Subject"]
    assert "(only from mail.attacker.example)" in plain(told)
    sent = [m for m in sent if m is not told]
    ticket = store.get_ticket(ticket.id)
    assert (ticket.status, ticket.assignee) == (TicketStatus.OPEN, ALICE)
    flag = (
        f"not authenticated as agent {ALICE}: no Authentication-Results from a trusted server "
        "(only from mail.attacker.example)"
    )
    assert flag in ticket.flags
    [recorded] = [
        m for m in store.messages(ticket.id) if m.message_id == "<forged@attacker.example>"
    ]
    assert (recorded.kind, recorded.flags) == (MessageKind.FOLLOWUP, (flag,))
    assert f"注意 Flag: {flag}" in plain(sent[0])

    # A command that is not understood: the agent is told which line, nothing else happens.
    sent = desktop.deliver(
        desktop.answer(notice, "#stauts resolved\n款项已到账。", "<a3@okwallet.example>")
    )
    error = only(sent, ALICE)
    assert len(sent) == 1
    assert error["In-Reply-To"] == "<a3@okwallet.example>"
    assert "#stauts resolved" in plain(error) and "unknown command" in plain(error)
    assert store.get_ticket(ticket.id).status == TicketStatus.OPEN

    # The resolution, with how to reopen it and where to turn after that.
    sent = desktop.deliver(
        desktop.answer(
            notice,
            "#resolve\n款项已于今日到账，请在 App「账单」中查看。给您带来不便，深表歉意。",
            "<a4@okwallet.example>",
        )
    )
    resolution = only(sent, CUSTOMER)
    text = plain(resolution)
    assert "款项已于今日到账" in text and "#resolve" not in text
    assert ticket.id in text and "7 天内" in text and ESCALATION in text
    ticket = store.get_ticket(ticket.id)
    assert (ticket.status, ticket.resolved_at) == (TicketStatus.RESOLVED, desktop.now)

    # The customer is not satisfied: the ticket reopens and Alice is told, in her thread.
    desktop.now += timedelta(days=2)
    sent = desktop.deliver(
        desktop.answer(
            resolution,
            "还是没有到账，余额没有变化。",
            "<c2@qq.example>",
            sender=f"张伟 <{CUSTOMER}>",
            authentication=None,
        )
    )
    told = only(sent, ALICE)
    assert "工单已重新打开" in plain(told) and "还是没有到账" in plain(told)
    earlier = [
        m.message_id for m in store.messages(ticket.id) if m.kind == MessageKind.AGENT_NOTIFICATION
    ]
    assert told["In-Reply-To"] == earlier[-2]  # under the previous notice of this ticket
    ticket = store.get_ticket(ticket.id)
    assert (ticket.status, ticket.resolved_at) == (TicketStatus.OPEN, None)

    kinds = [(m.direction, m.kind) for m in store.messages(ticket.id)]
    assert kinds == [
        (Direction.IN, MessageKind.COMPLAINT),
        (Direction.OUT, MessageKind.ACKNOWLEDGEMENT),
        (Direction.OUT, MessageKind.AGENT_NOTIFICATION),
        (Direction.IN, MessageKind.AGENT),
        (Direction.OUT, MessageKind.REPLY),
        (Direction.IN, MessageKind.NOTE),
        (Direction.IN, MessageKind.NOTE),
        (Direction.IN, MessageKind.FOLLOWUP),
        (Direction.OUT, MessageKind.NOT_AUTHENTICATED),
        (Direction.OUT, MessageKind.AGENT_NOTIFICATION),
        (Direction.IN, MessageKind.AGENT),
        (Direction.OUT, MessageKind.COMMAND_ERROR),
        (Direction.IN, MessageKind.AGENT),
        (Direction.OUT, MessageKind.RESOLUTION),
        (Direction.IN, MessageKind.FOLLOWUP),
        (Direction.OUT, MessageKind.AGENT_NOTIFICATION),
    ]

    shown = run_cli(desktop.path, "tickets", "show", ticket.id)
    assert shown.returncode == 0, shown.stderr
    output = shown.stdout.decode()
    print(output)
    assert f"assignee  {ALICE}" in output and "priority  normal" in output
    assert "INTERNAL NOTE (never sent)" in output


def test_a_direct_reply_is_not_sent_twice_and_a_late_answer_starts_a_new_ticket(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    desktop = Desktop(tmp_path, imap_account, smtp_sink)
    store = desktop.desk.store
    sent = desktop.deliver(complaint(body=COMPLETE))
    ack, notice = only(sent, CUSTOMER), only(sent, TEAM)
    [old] = store.tickets()

    # Alice writes to the customer herself and copies the desk: recorded, not sent again.
    direct = desktop.answer(
        ack,
        "#assign me\n张先生您好，已为您处理。",
        "<d1@okwallet.example>",
        recipients=(CUSTOMER,),
        cc=(DESK,),
    )
    assert desktop.deliver(direct) == []
    old = store.get_ticket(old.id)
    assert (old.assignee, old.first_response_at) == (ALICE, desktop.now)
    [recorded] = [m for m in store.messages(old.id) if m.message_id == "<d1@okwallet.example>"]
    assert "written to the customer directly (desk copied): not sent again" in recorded.notes

    [resolution] = desktop.deliver(
        desktop.answer(notice, "#resolve\n已退款。", "<d2@okwallet.example>")
    )

    # Eight days later the customer answers: the old ticket closes, a new one continues it.
    desktop.now += timedelta(days=8)
    late = desktop.answer(
        resolution, "还是不行。", "<c2@qq.example>", sender=CUSTOMER, authentication=None
    )
    sent = desktop.deliver(late)
    new = next(t for t in store.tickets() if t.id != old.id)
    old = store.get_ticket(old.id)
    assert (old.status, old.closed_at, old.continued_by) == (
        TicketStatus.CLOSED,
        desktop.now,
        new.id,
    )
    assert (new.previous_ticket, new.subject) == (old.id, old.subject)
    receipt = only(sent, CUSTOMER)
    assert receipt["Subject"] == f"[{new.id}] Re: 充值500元一直没到账"
    assert f"您回复的工单 {old.id} 已关闭" in plain(receipt)
    assert f"接续已关闭的工单 {old.id}" not in plain(only(sent, TEAM))
    assert f"客户回复了已关闭的工单 {old.id}" in plain(only(sent, TEAM))

    # A second mail on the old thread joins the new ticket, not a third one.
    again = desktop.answer(
        resolution, "补充：截图见附件。", "<c3@qq.example>", sender=CUSTOMER, authentication=None
    )
    desktop.deliver(again)
    assert len(store.tickets()) == 2
    assert store.messages(new.id)[-2].message_id == "<c3@qq.example>"


@pytest.mark.parametrize("html", [False, True], ids=["plain", "html-only-quote"])
def test_an_agent_reply_with_no_words_of_its_own_relays_nothing_to_the_customer(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, html: bool
) -> None:
    """Issue 17: the quoted notice (score, flags, command help) must never reach the customer."""
    desktop = Desktop(tmp_path, imap_account, smtp_sink)
    sent = desktop.deliver(complaint(body=COMPLETE))
    notice = only(sent, TEAM)
    empty = EmailMessage(policy=SMTP_POLICY)
    empty["Authentication-Results"] = AUTHENTICATED
    empty["From"], empty["To"] = ALICE, DESK
    empty["Subject"] = f"Re: {notice['Subject']}"
    empty["Message-ID"] = "<empty@okwallet.example>"
    empty["In-Reply-To"] = empty["References"] = notice["Message-ID"]
    if html:
        quoted = "<br>".join(plain(notice).splitlines())
        empty.set_content(
            f'<div class="gmail_quote"><blockquote>{quoted}</blockquote></div>', subtype="html"
        )
    else:
        empty.set_content("\n".join(f"> {line}" for line in plain(notice).splitlines()))
    sent = desktop.deliver(empty.as_bytes())
    assert [m["To"].addresses[0].addr_spec for m in sent] == [ALICE]
    assert "nothing was sent to the customer" in plain(sent[0])
