"""The daemon with a fast clock against the real servers: the SLA reminders, the escalation
and the customer's delay notice arrive at the SMTP sink, each once."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import complaint, load, write_config
from servers import ImapAccount, SmtpSink

from mailticket.app.daemon import Daemon
from mailticket.desk.context import Desk
from mailticket.outbound.outbox import smtp_sender

pytestmark = pytest.mark.integration

SLA = """
[agents]
addresses = ["alice@okwallet.example"]
team_address = "team@okwallet.example"
supervisor = "boss@okwallet.example"
require_authentication = false

[sla]
first_response_hours = 2
"""
HOURS_PER_SECOND = 6  # the desk's clock runs 21,600 times faster than ours


def wait_until(sink: SmtpSink, recipients: set[str], limit: float = 60) -> None:
    """Poll the sink (no timing is asserted: the limit only stops a hung test)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if recipients <= {r for m in sink.messages for r in m.rcpt_tos}:
            return
        time.sleep(0.05)
    raise AssertionError(f"never received mail for {recipients}: {sink.messages!r}")


def test_daemon_sends_reminders_escalation_and_delay_notice(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    path = write_config(tmp_path, imap_account, smtp_sink, extra=SLA)
    text = path.read_text(encoding="utf-8").replace("[desk]\n", "[desk]\nsla_working_days = 1\n", 1)
    path.write_text(text, encoding="utf-8")
    config = load(path)
    start = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
    began = time.monotonic()

    def fast_clock() -> datetime:
        return start + timedelta(hours=(time.monotonic() - began) * HOURS_PER_SECOND)

    desk = Desk.open(config, clock=fast_clock)
    daemon = Daemon(desk, smtp_sender(config), sla_interval=0.2)
    runner = threading.Thread(target=daemon.run_forever, kwargs={"install_signals": False})
    runner.start()
    try:
        imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
        wait_until(smtp_sink, {"zhang.wei@qq.example"})  # the acknowledgement
        wait_until(smtp_sink, {"team@okwallet.example", "boss@okwallet.example"})
        # The customer's second mail from us: the delay notice, after the escalation.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            to_customer = [m for m in smtp_sink.messages if m.rcpt_tos == ["zhang.wei@qq.example"]]
            if len(to_customer) >= 2:
                break
            time.sleep(0.05)
    finally:
        daemon.stopping.set()
        runner.join(timeout=30)
    assert not runner.is_alive()

    received = [
        (m.rcpt_tos[0], message_from_bytes(m.data, policy=default_policy))
        for m in smtp_sink.messages
    ]
    subjects = [(to, str(msg["Subject"])) for to, msg in received]
    [ticket] = desk.store.tickets()
    team = [s for to, s in subjects if to == "team@okwallet.example"]
    assert any("尚未首次答复" in s for s in team)
    assert any("50%" in s for s in team) and any("80%" in s for s in team)
    assert any("到期" in s for s in team)
    assert [s for to, s in subjects if to == "boss@okwallet.example"] == [
        f"[{ticket.id}] 工单超期，已升级 / Ticket overdue: escalated"
    ]
    customer = [msg for to, msg in received if to == "zhang.wei@qq.example"]
    assert [m["Auto-Submitted"] for m in customer[:2]] == ["auto-replied", "auto-generated"]
    assert "很抱歉" in customer[1].get_body(preferencelist=("plain",)).get_content()
    assert customer[1]["In-Reply-To"] == "<c1@qq.example>"
    # Each threshold exactly once, however many sweeps ran.
    fired = desk.store.get_ticket(ticket.id).sla_fired
    assert len(fired) == len(set(fired))
    assert len(team) == len(set(team))
