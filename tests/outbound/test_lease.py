"""Leases on `sending` mail: a crashed sender's one mail in doubt goes out again at once."""

from __future__ import annotations

import email
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers import load, write_config
from servers import ImapAccount, SmtpSink

from mailticket.desk.context import Desk
from mailticket.model import MessageKind, OutboxState, OutgoingMail
from mailticket.outbound.lease import Holder, abandoned

NOW = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
ME = Holder("desk-host", 4000, "newtoken", NOW)


def sending(holder: str, *, taken: datetime = NOW, expires: datetime | None = None) -> OutgoingMail:
    return OutgoingMail(
        id="M000001",
        ticket_id="OKW-2026-000001",
        kind=MessageKind.ACKNOWLEDGEMENT,
        message_id="<ack@okwallet.example>",
        mail_from="complaints@okwallet.example",
        rcpt_to=("c@qq.example",),
        subject="ack",
        raw="",
        created=NOW,
        state=OutboxState.SENDING,
        attempts=1,
        next_attempt=expires or NOW + timedelta(seconds=300),
        lease_holder=holder,
        lease_taken=taken,
    )


def test_a_dead_sender_on_this_host_gives_its_mail_up_at_once_on_sqlite() -> None:
    mail = sending("desk-host 3999 oldtoken")
    assert abandoned(mail, ME, NOW, single_daemon=True, alive=lambda pid: False)
    assert not abandoned(mail, ME, NOW, single_daemon=True, alive=lambda pid: True)
    assert not abandoned(mail, ME, NOW, single_daemon=False, alive=lambda pid: False)


def test_our_own_pid_with_another_token_is_a_dead_predecessor() -> None:
    assert abandoned(sending("desk-host 4000 oldtoken"), ME, NOW, single_daemon=True)
    assert not abandoned(sending("desk-host 4000 newtoken"), ME, NOW, single_daemon=True)


def test_another_hosts_lease_counts_only_if_taken_before_this_process_started() -> None:
    before = sending("other-host 12 t", taken=NOW - timedelta(seconds=1))
    after = sending("other-host 12 t", taken=NOW + timedelta(seconds=1))
    assert abandoned(before, ME, NOW, single_daemon=True)
    assert not abandoned(after, ME, NOW, single_daemon=True)


def test_an_expired_lease_is_given_up_on_any_store_and_only_sending_mail_counts() -> None:
    mail = sending("other-host 12 t", expires=NOW + timedelta(seconds=300))
    later = NOW + timedelta(seconds=300)
    assert not abandoned(mail, ME, later - timedelta(seconds=1), single_daemon=False)
    assert abandoned(mail, ME, later, single_daemon=False)
    queued = replace(sending("desk-host 1 t"), state=OutboxState.QUEUED)
    assert not abandoned(queued, ME, later, single_daemon=True, alive=lambda pid: False)


DRAIN = """
import json, sys
from pathlib import Path
from mailticket.config import load
from mailticket.desk.context import Desk
from mailticket.outbound.outbox import drain_outbox, smtp_sender
config = load(Path(sys.argv[1]), environ={})
desk = Desk.open(config)
result = drain_outbox(desk, smtp_sender(config))
print(json.dumps({k: len(v) for k, v in vars(result).items()}))
"""
CUSTOMERS = 200


def _queue_acknowledgements(desk: Desk) -> None:
    with desk.store.transaction():
        for n in range(CUSTOMERS):
            desk.store.enqueue(
                OutgoingMail(
                    id=f"M{n:06d}",
                    ticket_id=f"OKW-2026-{n:06d}",
                    kind=MessageKind.ACKNOWLEDGEMENT,
                    message_id=f"<ack{n}@okwallet.example>",
                    mail_from="complaints@okwallet.example",
                    rcpt_to=(f"c{n}@qq.example",),
                    subject="我们已收到您的投诉",
                    raw=(
                        f"From: complaints@okwallet.example\r\nTo: c{n}@qq.example\r\n"
                        f"Message-ID: <ack{n}@okwallet.example>\r\nSubject: ack\r\n\r\nok\r\n"
                    ),
                    created=NOW + timedelta(microseconds=n),
                )
            )


def _by_customer(sink: SmtpSink) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for mail in sink.messages:
        message_id = str(email.message_from_bytes(mail.data)["Message-ID"])
        seen.setdefault(mail.rcpt_tos[0], []).append(message_id)
    return seen


def _wait_for_everyone(sink: SmtpSink, deadline: float) -> dict[str, list[str]]:
    """Poll the sink until every customer has a mail or the deadline passes."""
    while len(seen := _by_customer(sink)) < CUSTOMERS and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def test_sigkill_during_a_burst_of_acknowledgements_resends_at_most_one_at_once(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    path = write_config(tmp_path, imap_account, smtp_sink)
    desk = Desk.open(load(path))
    _queue_acknowledgements(desk)
    desk.store.close()
    kills = 0
    for kill_at in (60, 130):  # kill while the sink has this many mails
        child = subprocess.Popen([sys.executable, "-c", DRAIN, str(path)], cwd=tmp_path)
        smtp_sink.wait_for(kill_at, timeout=60)
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
        kills += 1
    restarted = time.monotonic()
    final = subprocess.run(
        [sys.executable, "-c", DRAIN, str(path)], cwd=tmp_path, capture_output=True, text=True
    )
    seen = _wait_for_everyone(smtp_sink, restarted + 30)
    delay = time.monotonic() - restarted
    figures = json.loads(final.stdout.strip().splitlines()[-1])
    copies = Counter(len(ids) for ids in seen.values())
    print(
        f"after {kills} kills: restart to all {CUSTOMERS} delivered {delay:.2f}s; "
        f"drain {figures}; customers by copies {dict(copies)}"
    )

    assert final.returncode == 0, final.stderr
    assert sorted(seen) == sorted(f"c{n}@qq.example" for n in range(CUSTOMERS))
    assert all(len(set(ids)) == 1 for ids in seen.values())  # one Message-ID per customer
    assert sum(len(ids) - 1 for ids in seen.values()) <= kills  # at most one copy per kill
    assert figures["reclaimed"] <= kills
