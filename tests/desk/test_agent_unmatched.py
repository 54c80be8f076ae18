"""Issue 17 item 14: an agent's mail that matches no ticket (a reply to the daily digest, a new
thread) never opens a ticket with the agent as its customer: it is kept in quarantine and the
agent is told, in Chinese and English, how to reach a ticket. Through Dovecot and SMTP."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import pytest
from helpers import complaint, folder_contents
from servers import ImapAccount, SmtpSink
from test_agents_servers import ALICE, AUTHENTICATED, COMPLETE, DESK, TEAM, Desktop, only, plain

from mailticket.desk.digest import send_digests

pytestmark = pytest.mark.integration


def test_an_agent_reply_to_the_digest_opens_no_ticket_and_the_agent_is_told(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    desktop = Desktop(tmp_path, imap_account, smtp_sink)
    store = desktop.desk.store
    desktop.deliver(complaint(body=COMPLETE))
    [ticket] = store.tickets()
    assert send_digests(desktop.desk, desktop.now)
    digest = only(desktop.deliver(), TEAM)
    assert ticket.id in plain(digest)

    reply = desktop.answer(digest, "#assign me\n第一个我来处理。", "<dg1@okwallet.example>")
    sent = desktop.deliver(reply)
    told = only(sent, ALICE)
    assert len(sent) == 1  # nobody else, and surely no customer
    assert told["In-Reply-To"] == "<dg1@okwallet.example>"
    text = plain(told)
    assert "没有对应任何工单" in text and "matched no ticket" in text
    assert "[OKW-2026-000123]" in text and "thread" in text
    assert [t.id for t in store.tickets()] == [ticket.id]  # no ticket for Alice
    assert store.get_ticket(ticket.id).assignee == ""  # and her command did nothing
    [kept] = store.quarantine()
    assert (kept.from_addr, kept.message_id) == (ALICE, "<dg1@okwallet.example>")
    assert kept.reason == "an agent's mail that matches no ticket"
    assert [m for m, _ in folder_contents(imap_account, "Quarantine")] == [kept.message_id]

    # A new thread from an agent: the same.
    new = EmailMessage(policy=SMTP_POLICY)
    new["Authentication-Results"] = AUTHENTICATED
    new["From"], new["To"], new["Subject"] = ALICE, DESK, "客户王先生来电"
    new["Message-ID"] = "<dg2@okwallet.example>"
    new.set_content("王先生来电说充值没到账，请大家留意。")
    assert [m["To"].addresses[0].addr_spec for m in desktop.deliver(new.as_bytes())] == [ALICE]
    assert len(store.tickets()) == 1 and len(store.quarantine()) == 2

    # Her out-of-office answering the digest: kept too, and never answered.
    away = desktop.answer(digest, "我休假到12月1日。", "<dg3@okwallet.example>")
    away = b"Auto-Submitted: auto-replied\r\n" + away
    assert desktop.deliver(away) == []
    assert len(store.tickets()) == 1 and len(store.quarantine()) == 3
