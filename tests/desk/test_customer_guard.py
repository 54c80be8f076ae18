"""Issue 17 item 16: every mail to a customer passes one guard. An address whose opening mail
was a machine's, or whose acknowledgement the storm limit held back, is a mail loop: no SLA
notice, reminder or closing notice, and no relayed resolution goes to it either (the agent is
told). Through the real Dovecot and SMTP server, with the SLA sweep run by the desk's clock."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import pytest
from helpers import complaint
from servers import ImapAccount, SmtpSink
from test_agents_servers import ALICE, COMPLETE, CUSTOMER, TEAM, Desktop, only, plain

from mailticket.desk.sweep import sweep
from mailticket.model import Direction

pytestmark = pytest.mark.integration

ROBOT = "orders@shop.example"


def auto_replied(subject: str, message_id: str, sender: str = ROBOT) -> bytes:
    """An out-of-office or order robot's mail: Auto-Submitted, as RFC 3834 asks."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"], message["To"] = sender, "complaints@okwallet.example"
    message["Subject"], message["Message-ID"] = subject, message_id
    message["Date"] = "Tue, 24 Nov 2026 16:00:00 +0800"
    message["Auto-Submitted"] = "auto-replied"
    message.set_content("我们已收到您的邮件，将尽快处理。订单号 20261124001，金额 500 元。")
    return message.as_bytes()


def test_a_loop_address_gets_no_sla_notice_nor_resolution(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mailticket")
    desktop = Desktop(tmp_path, imap_account, smtp_sink)
    store = desktop.desk.store
    sent = desktop.deliver(
        auto_replied("自动回复：充值没到账", "<robot1@shop.example>"),
        complaint(body=COMPLETE),  # a person, for comparison
    )
    assert ROBOT not in {m["To"].addresses[0].addr_spec for m in sent}
    only(sent, CUSTOMER)  # the person's acknowledgement
    robot_ticket = next(t for t in store.tickets() if t.customer == ROBOT)
    [notice] = [m for m in sent if robot_ticket.id in m["Subject"]]  # to the team
    person_ticket = next(t for t in store.tickets() if t.customer == CUSTOMER)

    # Ten days later, long past every deadline: the sweep acts on both tickets.
    desktop.now += timedelta(days=10)
    actions = sweep(desktop.desk, now=desktop.now)
    assert {a.ticket_id for a in actions} == {robot_ticket.id, person_ticket.id}
    sent = desktop.deliver()
    to_customers = {m["To"].addresses[0].addr_spec for m in sent} - {TEAM, ALICE}
    assert to_customers == {CUSTOMER}  # the person's delay notice; nothing for the robot
    held = [r.getMessage() for r in caplog.records if robot_ticket.id in r.getMessage()]
    assert any("held back as a mail loop" in n and "Auto-Submitted" in n for n in held), held

    # An agent resolves the robot's ticket: the resolution is not sent, and she is told.
    sent = desktop.deliver(
        desktop.answer(notice, "#resolve\n已为您处理完毕。", "<a1@okwallet.example>")
    )
    assert [m["To"].addresses[0].addr_spec for m in sent] == [ALICE]
    assert "mail loop" in plain(sent[0])
    outgoing = [m for m in store.messages(robot_ticket.id) if m.direction == Direction.OUT]
    assert not [m for m in outgoing if ROBOT in m.to]


def test_an_address_whose_acknowledgement_the_storm_limit_held_gets_no_sla_notice(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mailticket")
    desktop = Desktop(tmp_path, imap_account, smtp_sink)
    store = desktop.desk.store
    storm = "loop@mail.example"
    mails = [
        complaint(f"第{n}封：充值没到账", COMPLETE, sender=storm, message_id=f"<s{n}@mail.example>")
        for n in range(4)  # the limit is 3 automatic replies an hour
    ]
    sent = desktop.deliver(*mails)
    assert len([m for m in sent if m["To"].addresses[0].addr_spec == storm]) == 3
    assert len(store.tickets()) == 4

    desktop.now += timedelta(days=10)  # past the deadlines of all four
    assert sweep(desktop.desk, now=desktop.now)
    sent = desktop.deliver()
    assert sent and storm not in {m["To"].addresses[0].addr_spec for m in sent}
    notes = [n for t in store.tickets() for m in store.messages(t.id) for n in m.notes]
    assert any("automatic replies to this sender in the last hour" in n for n in notes)
    logged = [r.getMessage() for r in caplog.records]
    assert any(f"{storm} is held back as a mail loop" in n for n in logged)

    # The address writes again as a person would, and its mail passes the storm limit: it is
    # answered, and from then on the desk writes to it again.
    desktop.now += timedelta(hours=2)
    sent = desktop.deliver(complaint("我是真人", COMPLETE, sender=storm, message_id="<h@m.ex>"))
    assert storm in {m["To"].addresses[0].addr_spec for m in sent}
    desktop.now += timedelta(days=10)
    sweep(desktop.desk, now=desktop.now)
    sent = desktop.deliver()
    assert storm in {m["To"].addresses[0].addr_spec for m in sent}
