from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailticket.model import InboundMail, MessageKind, OutgoingMail, Ticket, TicketStatus
from mailticket.outbound.compose import (
    SAMPLE_CONTEXT,
    DeskIdentity,
    Templates,
    agent_notice,
    customer_reply,
    format_due,
    reply_subject,
    scheduled_customer_mail,
    ticket_facts,
)
from mailticket.outbound.headers import CRLF, _encoded_words, header_safe, raw_message

SHANGHAI = ZoneInfo("Asia/Shanghai")
TID = "PFX-2026-000001"
DESK = "desk@pfx.example"
NOW = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DUE = datetime(2026, 10, 15, 18, 0, tzinfo=SHANGHAI)

# --- reply_subject ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("充值未到账", "充值未到账"),
        ("Re: 充值未到账", "充值未到账"),
        ("Re: Re: RE: re: 充值未到账", "充值未到账"),
        ("回复：充值未到账", "充值未到账"),
        ("回复: 回复：答复: 充值未到账", "充值未到账"),
        ("答复:充值未到账", "充值未到账"),
        ("RE：Re[2]: 充值未到账", "充值未到账"),
        ("Fwd: Re: 充值未到账", "充值未到账"),
        (f"[{TID}] Re: 充值未到账", "充值未到账"),
        (f"Re: [{TID}] Re: 充值未到账", "充值未到账"),
        (f"回复：[ {TID} ] 充值未到账", "充值未到账"),
        (f"[{TID}] [{TID}] 充值未到账", "充值未到账"),
        (f"Re: [{TID.lower()}] 充值未到账", "充值未到账"),
        ("充值未到账 [OTH-2026-000009]", "充值未到账 [OTH-2026-000009]"),
        ("  Re:   spaced    out  ", "spaced out"),
        ("Re: regarding your reply", "regarding your reply"),
    ],
)
def test_reply_subject_does_not_stack(original: str, expected: str) -> None:
    assert reply_subject(TID, original, "zh") == f"[{TID}] Re: {expected}"


@pytest.mark.parametrize("original", ["", "   ", "Re:", "回复：", f"[{TID}]", f"Re: [{TID}] Re:"])
def test_empty_subject_gets_a_default(original: str) -> None:
    assert reply_subject(TID, original, "zh") == f"[{TID}] Re: 您的投诉已受理"
    assert reply_subject(TID, original, "en") == f"[{TID}] Re: Your complaint has been received"


def test_reply_subject_is_one_line() -> None:
    subject = reply_subject(TID, "help\r\nBcc: evil@x", "en")
    assert subject == f"[{TID}] Re: help Bcc: evil@x"
    assert reply_subject(TID, subject, "en") == subject  # a reply to our reply: unchanged


# --- header_safe ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("help\r\nBcc: evil@x", "help Bcc: evil@x"),
        ("a\nb\rc", "a b c"),
        ("tab\tand\x0bvtab", "tab and vtab"),
        ("nul\x00bell\x07esc\x1bdel\x7fend", "nul bell esc del end"),
        ("line\u2028separator\x85next", "line separator next"),
        ("  lots   of    space  ", "lots of space"),
        ("\r\n", ""),
        ("中文\r\n主题", "中文 主题"),
    ],
)
def test_header_safe(value: str, expected: str) -> None:
    cleaned = header_safe(value)
    assert cleaned == expected
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in cleaned)
    assert cleaned.splitlines() in ([cleaned], [])


def test_header_safe_limits_length() -> None:
    assert header_safe("x" * 500) == "x" * 200
    assert header_safe("x" * 500, limit=80) == "x" * 80


# --- format_due and the calendar --------------------------------------------------------------


def test_format_due_zh() -> None:
    assert format_due(DUE, "zh", SHANGHAI) == "2026年10月15日（星期四，北京时间）"
    # The same instant given in UTC is still read as a date in the desk's zone.
    assert format_due(DUE.astimezone(UTC), "zh", SHANGHAI) == "2026年10月15日（星期四，北京时间）"
    sunday = datetime(2026, 10, 11, 12, tzinfo=SHANGHAI)
    assert format_due(sunday, "zh", SHANGHAI) == "2026年10月11日（星期日，北京时间）"


def test_format_due_en() -> None:
    assert format_due(DUE, "en", SHANGHAI) == "Thursday, 15 October 2026 (Asia/Shanghai time)"
    berlin = ZoneInfo("Europe/Berlin")
    assert format_due(DUE, "en", berlin) == "Thursday, 15 October 2026 (Europe/Berlin time)"
    assert format_due(DUE, "zh", berlin) == "2026年10月15日（星期四，Europe/Berlin）"


# --- acknowledgement --------------------------------------------------------------------------


def make_ticket(language: str, **changes: Any) -> Ticket:
    zh = language == "zh"
    ticket = Ticket(
        id=TID,
        status=TicketStatus.OPEN,
        customer="li.wei@163.example" if zh else "jane@mail.example",
        customer_name="李伟" if zh else "Jane Doe",
        subject="充值未到账" if zh else "Card payment failed",
        language=language,
        created=NOW,
        updated=NOW,
        due=DUE,
        sla_working_days=7,
    )
    return replace(ticket, **changes)


def make_mail(ticket: Ticket, **changes: Any) -> InboundMail:
    mail = InboundMail(
        raw_sha256="e" * 64,
        size=900,
        message_id="<cust-1@mail.example>",
        in_reply_to=("<cust-0@mail.example>",),
        references=("<cust-00@mail.example>", "<cust-0@mail.example>"),
        from_addr=ticket.customer,
        from_name=ticket.customer_name,
        to=(DESK,),
        cc=(),
        subject=f"Re: {ticket.subject}",
        date=NOW,
        text="...",
    )
    return replace(mail, **changes)


def build(
    ticket: Ticket, mail: InboundMail, desk_name: str
) -> tuple[OutgoingMail, str, EmailMessage]:
    outgoing, body = customer_reply(
        Templates(),
        DeskIdentity(DESK, desk_name, SHANGHAI),
        ticket,
        mail,
        MessageKind.ACKNOWLEDGEMENT,
        outbox_id="M000001",
        now=NOW,
    )
    parsed = email.message_from_string(outgoing.raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return outgoing, body, parsed


@pytest.mark.parametrize(
    ("language", "desk_name", "greeting", "other_greeting", "content_language"),
    [
        ("zh", "PFX 投诉受理中心", "李伟，您好", "Dear", "zh-CN"),
        ("en", "PFX Complaints Desk", "Dear Jane Doe", "您好", "en"),
    ],
)
def test_acknowledgement(
    language: str, desk_name: str, greeting: str, other_greeting: str, content_language: str
) -> None:
    ticket = make_ticket(language)
    mail = make_mail(ticket)
    outgoing, body, msg = build(ticket, mail, desk_name)

    sender = msg["From"].addresses
    assert len(sender) == 1
    assert sender[0].addr_spec == DESK
    assert sender[0].display_name == desk_name
    recipient = msg["To"].addresses
    assert [a.addr_spec for a in recipient] == [ticket.customer]
    assert recipient[0].display_name == ticket.customer_name
    assert msg["Subject"] == f"[{TID}] Re: {ticket.subject}"
    assert msg["In-Reply-To"] == "<cust-1@mail.example>"
    references = msg["References"].split()
    assert references == [
        "<cust-00@mail.example>",
        "<cust-0@mail.example>",
        "<cust-1@mail.example>",
    ]
    message_id = msg["Message-ID"]
    assert message_id.startswith(f"<{TID}.")
    assert message_id.endswith("@pfx.example>")
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Mailticket-Ticket"] == TID
    assert msg["Content-Language"] == content_language
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Date"] is not None
    assert msg["Date"].datetime == NOW
    assert msg["Bcc"] is None and msg["Cc"] is None

    text = msg.get_content().replace("\r\n", "\n")  # CRLF on the wire
    assert text.rstrip("\n") == body.rstrip("\n")
    assert TID in text
    assert format_due(DUE, language, SHANGHAI) in text
    assert greeting in text
    assert other_greeting not in text
    assert desk_name in text

    assert outgoing.id == "M000001"
    assert outgoing.ticket_id == TID
    assert outgoing.kind is MessageKind.ACKNOWLEDGEMENT
    assert outgoing.message_id == message_id
    assert outgoing.mail_from == DESK
    assert outgoing.rcpt_to == (ticket.customer,)
    assert outgoing.subject == msg["Subject"]
    assert outgoing.created == NOW
    assert outgoing.raw.isascii()
    assert all(len(line) <= 998 for line in outgoing.raw.split("\r\n"))


def test_each_acknowledgement_gets_its_own_message_id() -> None:
    ticket = make_ticket("en")
    first, _, _ = build(ticket, make_mail(ticket), "Desk")
    second, _, _ = build(ticket, make_mail(ticket), "Desk")
    assert first.message_id != second.message_id


def test_acknowledgement_without_customer_message_id_has_no_threading_headers() -> None:
    ticket = make_ticket("en")
    _, _, msg = build(ticket, make_mail(ticket, message_id="", references=()), "Desk")
    assert msg["In-Reply-To"] is None
    assert msg["References"] is None
    assert msg["Subject"] == f"[{TID}] Re: Card payment failed"


def test_references_are_capped() -> None:
    ticket = make_ticket("en")
    many = tuple(f"<r{n}@mail.example>" for n in range(30))
    _, _, msg = build(ticket, make_mail(ticket, references=many), "Desk")
    references = msg["References"].split()
    assert references[-1] == "<cust-1@mail.example>"
    assert references[:-1] == list(many[-10:])


@pytest.mark.parametrize("language", ["zh", "en"])
def test_customer_text_cannot_add_headers(language: str) -> None:
    evil_subject = "help\r\nBcc: evil@x"
    ticket = make_ticket(
        language,
        subject=evil_subject,
        customer_name="Li\r\nBcc: evil2@x\r\nX-Injected: 1",
    )
    _, body, msg = build(ticket, make_mail(ticket, subject=evil_subject), "Desk\nCc: evil3@x")
    assert msg["Bcc"] is None
    assert msg["Cc"] is None
    assert msg["X-Injected"] is None
    assert set(msg.keys()) == {
        "From",
        "To",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Auto-Submitted",
        "X-Auto-Response-Suppress",
        "X-Mailticket-Ticket",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
        "Content-Language",
    }
    assert msg["Subject"] == f"[{TID}] Re: help Bcc: evil@x"
    assert [a.addr_spec for a in msg["To"].addresses] == [ticket.customer]
    assert [a.addr_spec for a in msg["From"].addresses] == [DESK]
    assert msg.defects == []
    assert "help Bcc: evil@x" in body


# --- agents' words and notices ----------------------------------------------------------------


def test_an_acknowledgement_for_a_ticket_that_continues_a_closed_one() -> None:
    ticket = make_ticket("zh", id="PFX-2026-000009", previous_ticket=TID)
    mail = make_mail(ticket, subject=f"回复：[{TID}] 充值未到账")
    outgoing, body = customer_reply(
        Templates(),
        DeskIdentity(DESK, "PFX", SHANGHAI),
        ticket,
        mail,
        MessageKind.ACKNOWLEDGEMENT,
        outbox_id="M1",
        now=NOW,
    )
    assert outgoing.subject == "[PFX-2026-000009] Re: 充值未到账"  # the old tag is gone
    assert f"您回复的工单 {TID} 已关闭" in body


@pytest.mark.parametrize(
    ("kind", "auto_submitted"),
    [
        (MessageKind.REPLY, "no"),  # a person wrote it
        (MessageKind.RESOLUTION, "no"),
        (MessageKind.DELAY_NOTICE, "auto-generated"),
    ],
)
def test_an_agents_words_are_not_marked_automatic(kind: MessageKind, auto_submitted: str) -> None:
    ticket = make_ticket("en")
    outgoing, body = scheduled_customer_mail(
        Templates(),
        DeskIdentity(DESK, "PFX", SHANGHAI),
        ticket,
        kind,
        outbox_id="M1",
        now=NOW,
        in_reply_to="<cust-1@mail.example>",
        references=("<cust-0@mail.example>",),
        text="Your top-up was credited today.",
        reopen_days=7,
        reopen_until="Friday",
        new_due="Monday",
        escalation_path="",
    )
    msg = email.message_from_string(outgoing.raw, policy=email.policy.default)
    assert msg["Auto-Submitted"] == auto_submitted
    assert msg["In-Reply-To"] == "<cust-1@mail.example>"
    assert msg["Subject"] == f"[{TID}] Re: Card payment failed"
    if kind != MessageKind.DELAY_NOTICE:
        assert "Your top-up was credited today." in body


def test_agent_notices_answer_the_thread_they_are_given() -> None:
    ticket = make_ticket("zh")
    outgoing, body = agent_notice(
        Templates(),
        DeskIdentity(DESK, "PFX", SHANGHAI),
        ticket,
        event="agent_notification",
        agents=["support@pfx.example"],
        outbox_id="M1",
        now=NOW,
        kind=MessageKind.AGENT_NOTIFICATION,
        thread=("<n1@pfx.example>", "<n2@pfx.example>"),
        occasion="followup",
        text="还没到账！",
        **ticket_facts(ticket, None, SHANGHAI),
    )
    msg = email.message_from_string(outgoing.raw, policy=email.policy.default)
    assert msg["Subject"] == f"[{TID}] 充值未到账"  # the same for every notice of a ticket
    assert msg["In-Reply-To"] == "<n2@pfx.example>"
    assert msg["References"].split() == ["<n1@pfx.example>", "<n2@pfx.example>"]
    assert msg["Reply-To"].addresses[0].addr_spec == DESK
    assert "客户来信 / The customer wrote again" in body and "还没到账！" in body


def test_every_shipped_template_renders() -> None:
    assert Templates().check() == []


# --- writing messages out: the fast paths against the email package they stand in for ------

FOLD_VALUES = [
    "All",
    "<CA+TJKTEs9jXRMhC1uHsBUJQVL8KdQ4OeqkezrqKTFz@mail.icloud.example>",
    "<297255AD69ABA38298E17409F8036D41@PS2PR01MB1887.apcprd01.prod.sina.example>",
    " ".join(f"<reference-{n}.abcdef@mail.example>" for n in range(11)),
    ", ".join(f"=?utf-8?b?5byg5Lyf?= <agent{n}@okwallet.example>" for n in range(6)),
    "a;b " * 40,
    "x" * 120 + " y",
    "short  double  spaces",
    "word " * 30 + "x" * 100 + " end",
    "",
    " leading",
    "trailing ",
    "tab\there",
    "non-ascii 充值",
]


@pytest.mark.parametrize("value", FOLD_VALUES)
@pytest.mark.parametrize("name", ["To", "References", "X-Mailticket-Ticket", "H" * 70])
def test_header_folding_is_compat32s(name: str, value: str) -> None:
    expected = email.policy.compat32.clone(linesep="\r\n").fold_binary(name, value.strip())
    assert CRLF.fold_binary(name, value.strip()) == expected


SUBJECTS = [
    "充值500元未到账",
    "[OKW-2026-000123] Re: 为什么冻结我的账户？" * 3,
    "Ünïcödé subject with mostly ASCII words, so Q-encoding is the shorter one to use here",
    "emoji 😀 " * 12,
    "é" * 100,
    "a 中 b",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subject_encoded_words_are_the_email_packages(subject: str) -> None:
    expected = Header(subject, "utf-8").encode(linesep="\r\n", maxlinelen=78)
    assert _encoded_words(subject) == expected


@pytest.mark.parametrize("text", ["", "您好，已为您核实。\n" * 20, "plain ascii\n", "no newline"])
@pytest.mark.parametrize("subject", ["[T-1] Re: ascii", SUBJECTS[1]])
def test_a_plain_text_mail_is_written_as_mimetext_writes_it(text: str, subject: str) -> None:
    headers = [
        ("From", "=?utf-8?b?T0vpkrHljIXlrqLmnI0=?= <complaints@okwallet.example>"),
        ("To", ", ".join(f"agent{n}@okwallet.example" for n in range(8))),
        ("Subject", subject),
        ("References", FOLD_VALUES[3]),
        ("Content-Language", "zh-CN"),
    ]
    message = MIMEText(text, "plain", "utf-8")
    for name, value in headers:
        message[name] = value if value.isascii() else Header(value, "utf-8")  # type: ignore[assignment]
    expected = message.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))
    assert raw_message(headers, text, None) == expected.decode("ascii")


def test_an_html_template_added_later_is_used(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    templates = Templates(tmp_path)
    context = dict(SAMPLE_CONTEXT, customer_name="Jane")
    assert templates.render("closing_notice", "en", **context)[1] is None
    assert templates.render("closing_notice", "en", **context)[1] is None  # remembered
    (tmp_path / "en" / "closing_notice.html").write_text("<p>{{ customer_name }}</p>\n")
    assert templates.render("closing_notice", "en", **context)[1] == "<p>Jane</p>\n"


def test_attachments_follow_the_text_typed_by_their_bytes_and_named_in_utf8() -> None:
    from email import message_from_string
    from email.policy import default

    from mailticket.model import Attachment
    from mailticket.outbound.headers import raw_message

    png = b"\x89PNG\r\n\x1a\n" + bytes(300)
    files = [
        Attachment("扣款\r\nX-Evil: 1.png", "application/octet-stream", len(png), "a" * 64,
                   payload=png, sniffed_type="image/png"),
        Attachment("odd", "not a type", 3, "b" * 64, payload=b"abc"),
    ]  # fmt: skip
    raw = raw_message([("Subject", "附件"), ("To", "a@b.example")], "见附件。", None, files)
    assert raw.isascii() and "X-Evil: 1" not in raw.split("\r\n\r\n", 1)[0]
    message = message_from_string(raw, policy=default)
    assert message.get_content_type() == "multipart/mixed"
    body, *parts = message.iter_parts()
    assert body.get_content().strip() == "见附件。"
    assert [p.get_content_type() for p in parts] == ["image/png", "application/octet-stream"]
    assert [p.get_filename() for p in parts] == ["扣款 X-Evil: 1.png", "odd"]
    assert [p.get_payload(decode=True) for p in parts] == [png, b"abc"]
