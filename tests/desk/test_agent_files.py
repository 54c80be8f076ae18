"""Files on a ticket, through the real Dovecot and SMTP server (issue 17 items 6 and 13):
agents see the customer's attachments (attached to the notice up to `[agents]
attach_max_bytes`, the rest listed, all of them on `#attachments`, never to anyone but the
agent who asks); an agent's reply whose only new content is a file sends the file to the
customer with a short line from the desk, never the quoted internal notice."""

from __future__ import annotations

import email
import hashlib
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import pytest
from helpers import complaint
from servers import ImapAccount, SmtpSink
from test_agents_servers import (
    ALICE,
    AUTHENTICATED,
    COMPLETE,
    CUSTOMER,
    DESK,
    TEAM,
    Desktop,
    only,
    plain,
)

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # 2,056 bytes
PDF = b"%PDF-1.4\n" + b"1 0 obj << >> endobj\n" * 200  # 4,209 bytes
BIG = b"\xff\xd8\xff\xe0" + b"\x07" * 6000  # a 6 KB JPEG
HUGE = b"\x00\x01" * 6000  # 12 KB: over max_attachment_bytes, not kept
LIMITS = "attach_max_bytes = 7000\n\n[limits]\nmax_attachment_bytes = 10000\n"


def files(message: EmailMessage) -> dict[str, bytes]:
    found = {}
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[str(part.get_filename())] = payload
    return found


def test_agents_get_the_customers_files_and_no_one_else_does(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    desktop = Desktop(tmp_path, imap_account, smtp_sink, agents=LIMITS)
    sent = desktop.deliver(
        complaint(
            body=COMPLETE,
            attachments=(
                ("扣款截图.png", PNG),
                ("银行流水.pdf", PDF),
                ("照片.jpg", BIG),
                ("录屏.bin", HUGE),
            ),
        )
    )
    assert files(only(sent, CUSTOMER)) == {}  # the receipt carries nothing back
    notice = only(sent, TEAM)
    assert files(notice) == {"扣款截图.png": PNG, "银行流水.pdf": PDF}  # 6,265 of 7,000 bytes
    text = plain(notice)
    assert "照片.jpg  6 KB  未附上，回复 #attachments 获取" in text
    assert "录屏.bin  12 KB  过大未保存 / too large, not kept" in text
    assert "#attachments" in text

    # Alice asks for them all: two mails of at most 7,000 bytes of files, to her alone.
    sent = desktop.deliver(desktop.answer(notice, "#attachments", "<f1@okwallet.example>"))
    assert {m["To"].addresses[0].addr_spec for m in sent} == {ALICE}
    assert [files(m) for m in sent] == [
        {"扣款截图.png": PNG, "银行流水.pdf": PDF},
        {"照片.jpg": BIG},
    ]
    assert [m["Subject"].split("] ", 1)[1] for m in sent] == [
        "客户的附件 / The customer's attachments (1/2)",
        "客户的附件 / The customer's attachments (2/2)",
    ]
    assert all(m["In-Reply-To"] == "<f1@okwallet.example>" for m in sent)
    assert "录屏.bin" in plain(sent[0]) and "过大未保存" in plain(sent[0])

    # Someone else asks, quoting the ticket: never a file of the customer's.
    mallory = "mallory@evil.example"
    stranger = desktop.answer(
        notice, "#attachments", "<m1@evil.example>", sender=mallory, authentication=None
    )
    sent = desktop.deliver(stranger)
    assert sent  # mallory's own receipt and the agents' notice
    for message in sent:
        if message["To"].addresses[0].addr_spec == mallory:
            assert files(message) == {}
        else:
            assert message["To"].addresses[0].addr_spec in (TEAM, ALICE)
    every = [m for m in smtp_sink.messages if mallory in m.rcpt_tos]
    assert every and not any(hashlib.sha256(PNG).digest() in m.data for m in every)
    assert not any(b"iVBORw0KGgo" in m.data for m in every)  # a PNG's base64 start


@pytest.mark.parametrize("html", [False, True], ids=["plain", "html-only-quote"])
def test_an_agent_reply_with_only_a_file_sends_the_file_and_no_internal_text(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, html: bool
) -> None:
    desktop = Desktop(tmp_path, imap_account, smtp_sink)
    store = desktop.desk.store
    sent = desktop.deliver(complaint(body=COMPLETE, attachments=(("截图.png", PNG),)))
    notice = only(sent, TEAM)
    internal = ("完整度", "Score", "/100", "负责人", "#assign", "Commands")
    assert all(word in plain(notice) for word in internal)

    reply = EmailMessage(policy=SMTP_POLICY)
    reply["Authentication-Results"] = AUTHENTICATED
    reply["From"], reply["To"] = ALICE, DESK
    reply["Subject"] = f"Re: {notice['Subject']}"
    reply["Message-ID"] = "<file@okwallet.example>"
    reply["In-Reply-To"] = reply["References"] = notice["Message-ID"]
    if html:
        quoted = "<br>".join(plain(notice).splitlines())
        reply.set_content(
            f'<div class="gmail_quote"><blockquote>{quoted}</blockquote></div>', subtype="html"
        )
    else:
        reply.set_content("\n".join(f"> {line}" for line in plain(notice).splitlines()))
    reply.add_attachment(PDF, maintype="application", subtype="pdf", filename="退款凭证.pdf")
    # A client that re-attaches the file it quotes: the customer's own is not sent back.
    reply.add_attachment(PNG, maintype="image", subtype="png", filename="截图.png")
    sent = desktop.deliver(reply.as_bytes())

    relayed = only(sent, CUSTOMER)
    assert len(sent) == 1
    assert files(relayed) == {"退款凭证.pdf": PDF}
    words = plain(relayed)
    assert "客服为您发送了附件" in words and "attached file" in words and "退款凭证.pdf" in words
    assert not [word for word in internal if word in words]
    assert relayed["In-Reply-To"] == "<c1@qq.example>" and relayed["Auto-Submitted"] == "no"
    [ticket] = store.tickets()
    assert store.get_ticket(ticket.id).first_response_at == desktop.now

    # Words and a file: both go.
    written = desktop.answer(notice, "张先生您好，附件是银行的回执。", "<w1@okwallet.example>")
    with_file = email.message_from_bytes(written, policy=SMTP_POLICY)
    assert isinstance(with_file, EmailMessage)
    with_file.add_attachment(BIG, maintype="image", subtype="jpeg", filename="回执.jpg")
    relayed = only(desktop.deliver(with_file.as_bytes()), CUSTOMER)
    assert plain(relayed).startswith("张先生您好，附件是银行的回执。")
    assert "客服为您发送了附件" not in plain(relayed)
    assert files(relayed) == {"回执.jpg": BIG}
