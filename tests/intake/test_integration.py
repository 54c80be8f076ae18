"""The whole intake path through a real Dovecot and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import json
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
from helpers import (
    PROJECT,
    both_engines,
    complaint,
    cycle,
    folder_contents,
    load,
    run_cli,
    write_config,
)
from imap_tools import MailBoxUnencrypted
from servers import ImapAccount, SmtpSink
from sqlalchemy import event

from mailticket.desk.context import Desk
from mailticket.intake import record as intake_record
from mailticket.intake.cycle import intake_and_send, intake_cycle, open_mailbox
from mailticket.model import OutboxState
from mailticket.outbound.outbox import drain_outbox, smtp_sender

pytestmark = pytest.mark.integration


@both_engines
def test_complaint_becomes_ticket_and_acknowledgement_threads_under_it(
    engine: str, tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())

    desk = cycle(config)

    [ticket] = desk.store.tickets()
    year = ticket.created.astimezone(config.zone).year
    assert ticket.id == f"OKW-{year}-000001"
    assert (ticket.customer, ticket.customer_name) == ("zhang.wei@qq.example", "张伟")
    assert (ticket.subject, ticket.language, ticket.status.value) == (
        "充值500元一直没到账",
        "zh",
        "open",
    )
    [received] = smtp_sink.wait_for(1)
    assert received.mail_from == "complaints@okwallet.example"
    assert received.rcpt_tos == ["zhang.wei@qq.example"]
    ack = email.message_from_bytes(received.data, policy=default_policy)
    assert ack["Subject"] == f"[{ticket.id}] Re: 充值500元一直没到账"
    assert ack["In-Reply-To"] == "<c1@qq.example>"
    assert ack["References"].split()[-1] == "<c1@qq.example>"
    assert ack["Message-ID"].endswith("@okwallet.example>")
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["From"].addresses[0].addr_spec == "complaints@okwallet.example"
    assert ack["To"].addresses[0].addr_spec == "zhang.wei@qq.example"
    body = ack.get_content()
    assert ticket.id in body and "工作日" in body

    # The message left the inbox for the processed folder, and nobody marked it read.
    assert folder_contents(imap_account, "INBOX") == []
    [(message_id, flags)] = folder_contents(imap_account, "Processed")
    assert message_id == "<c1@qq.example>"
    assert "\\Seen" not in flags

    # The store has the outgoing mail as sent and on the ticket's history.
    [outgoing] = desk.store.outbox()
    assert outgoing.state == OutboxState.SENT and outgoing.message_id == ack["Message-ID"]
    kinds = [(m.direction.value, m.kind.value) for m in desk.store.messages(ticket.id)]
    assert kinds == [("in", "complaint"), ("out", "acknowledgement")]


@both_engines
def test_replies_join_the_ticket_by_headers_or_by_tag(
    engine: str, tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    append = imap_account.dovecot.append
    append(imap_account.username, imap_account.password, complaint())
    desk = cycle(config)
    [received] = smtp_sink.wait_for(1)
    ack = email.message_from_bytes(received.data, policy=default_policy)
    ticket_id = desk.store.tickets()[0].id

    by_header = complaint(
        subject=f"回复: {ack['Subject']}",
        body="补充：交易单号 TX2026112415300001",
        message_id="<c2@qq.example>",
        in_reply_to=ack["Message-ID"],
    )
    by_tag = complaint(  # a client that dropped the threading headers
        subject=f"Re: [{ticket_id}] screenshot",
        body="截图见附件",
        sender="zhang.wei@qq.example",
        message_id="<c3@qq.example>",
    )
    append(imap_account.username, imap_account.password, by_header)
    append(imap_account.username, imap_account.password, by_tag)
    cycle(config, desk)

    assert [t.id for t in desk.store.tickets()] == [ticket_id]
    inbound = [m for m in desk.store.messages(ticket_id) if m.direction.value == "in"]
    assert [(m.kind.value, m.message_id) for m in inbound] == [
        ("complaint", "<c1@qq.example>"),
        ("followup", "<c2@qq.example>"),
        ("followup", "<c3@qq.example>"),
    ]
    assert len(smtp_sink.messages) == 1  # a follow-up is recorded, not acknowledged again


@both_engines
def test_running_twice_and_the_same_mail_twice_make_no_duplicates(
    engine: str, tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)
    append = imap_account.dovecot.append
    append(imap_account.username, imap_account.password, complaint())
    first = run_cli(config_path, "poll", "--once")
    assert first.returncode == 0, first.stderr.decode()
    assert b"created 1" in first.stdout
    second = run_cli(config_path, "poll", "--once")
    assert second.returncode == 0 and b"nothing new" in second.stdout

    # The same mail delivered again (a client that sent it twice): taken in, not ticketed again.
    append(imap_account.username, imap_account.password, complaint())
    third = run_cli(config_path, "poll", "--once")
    assert b"duplicate 1" in third.stdout

    listing = json.loads(run_cli(config_path, "tickets", "list", "--json").stdout)
    assert len(listing) == 1
    assert len(smtp_sink.messages) == 1
    assert folder_contents(imap_account, "INBOX") == []
    assert len(folder_contents(imap_account, "Processed")) == 2


@both_engines
def test_kill_9_between_store_and_move_makes_no_second_ticket(
    engine: str, tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    crash = textwrap.dedent(
        f"""
        import os, signal
        from mailticket.intake import imap
        def die(self, uids, folder):
            os.kill(os.getpid(), signal.SIGKILL)
        imap.Mailbox.move = die
        from mailticket.app.cli import main
        main(["--config", {str(config_path)!r}, "poll", "--once"])
        """
    )
    killed = subprocess.run([sys.executable, "-c", crash], cwd=PROJECT, check=False, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert [m for m, _ in folder_contents(imap_account, "INBOX")] == ["<c1@qq.example>"]

    again = run_cli(config_path, "poll", "--once")
    assert again.returncode == 0, again.stderr.decode()
    listing = json.loads(run_cli(config_path, "tickets", "list", "--json").stdout)
    assert len(listing) == 1
    smtp_sink.wait_for(1)
    assert len(smtp_sink.messages) == 1
    assert folder_contents(imap_account, "INBOX") == []
    assert [m for m, _ in folder_contents(imap_account, "Processed")] == ["<c1@qq.example>"]


@both_engines
def test_smtp_outage_delays_the_acknowledgement_but_never_loses_it(
    engine: str, tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    now = datetime.now(UTC)
    clock = {"now": now}
    desk = Desk.open(config, clock=lambda: clock["now"])
    smtp_sink.stop()
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    cycle(config, desk)

    [waiting] = desk.store.outbox()
    assert waiting.state == OutboxState.QUEUED
    assert waiting.attempts == 1 and waiting.last_error
    assert waiting.next_attempt == now + timedelta(seconds=60)
    assert len(desk.store.tickets()) == 1

    smtp_sink.start()
    assert drain_outbox(desk, smtp_sender(config)).sent == []  # not due yet: backoff holds
    clock["now"] = now + timedelta(seconds=61)
    assert drain_outbox(desk, smtp_sender(config)).sent == [waiting.id]
    [received] = smtp_sink.wait_for(1)
    assert email.message_from_bytes(received.data)["Message-ID"] == waiting.message_id
    clock["now"] = now + timedelta(hours=5)
    assert drain_outbox(desk, smtp_sender(config)).sent == []
    assert len(smtp_sink.messages) == 1


@both_engines
def test_rejected_mail_is_marked_failed_and_retry_sends_it(
    engine: str, tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)
    smtp_sink.reject_with = "550 5.1.1 mailbox unavailable"
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    assert run_cli(config_path, "poll", "--once").returncode == 0
    [entry] = json.loads(run_cli(config_path, "outbox", "list", "--json").stdout)
    assert entry["state"] == "failed" and entry["last_error"].startswith("550")

    smtp_sink.reject_with = None
    assert run_cli(config_path, "outbox", "retry", entry["id"]).returncode == 0
    assert b"1 sent" in run_cli(config_path, "outbox", "send").stdout
    assert len(smtp_sink.wait_for(1)) == 1


@both_engines
def test_unreadable_mail_goes_to_quarantine_folder_with_a_reason(
    engine: str, tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)
    append = imap_account.dovecot.append
    append(imap_account.username, imap_account.password, b"\x00\x01 binary junk, no headers\r\n")
    append(imap_account.username, imap_account.password, complaint())
    done = run_cli(config_path, "poll", "--once")
    assert b"created 1" in done.stdout and b"quarantined 1" in done.stdout
    [record] = json.loads(run_cli(config_path, "quarantine", "list", "--json").stdout)
    assert "not an RFC 5322 message" in record["reason"]
    assert len(folder_contents(imap_account, "Quarantine")) == 1
    assert folder_contents(imap_account, "INBOX") == []


@both_engines
def test_a_batch_is_one_transaction_and_a_mail_failing_midway_is_undone_alone(
    engine: str,
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    for number, subject in enumerate(["充值没到账", "提现 boom 失败", "账户被冻结"]):
        mail = complaint(
            subject, sender=f"user{number}@qq.example", message_id=f"<b{number}@qq.example>"
        )
        imap_account.dovecot.append(imap_account.username, imap_account.password, mail)
    real_record = intake_record._record

    def record_then_fail(desk: Desk, mail, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = real_record(desk, mail, *args, **kwargs)  # ticket, message and ack written
        if "boom" in mail.subject:
            raise RuntimeError("disk hiccup after the writes")
        return result

    monkeypatch.setattr(intake_record, "_record", record_then_fail)
    desk = Desk.open(config)
    writing, commits = [False], []  # did the open transaction write; writes per commit

    def statement(_conn, _cursor, sql: str, *_args) -> None:  # type: ignore[no-untyped-def]
        writing[0] = writing[0] or sql.lstrip().upper().startswith(("INSERT", "UPDATE"))

    def commit(_conn) -> None:  # type: ignore[no-untyped-def]
        if writing[0]:
            commits.append("intake" if not drained else "drain")
        writing[0] = False

    drained = False
    event.listen(desk.store.engine, "before_cursor_execute", statement)
    event.listen(desk.store.engine, "commit", commit)
    mailbox = open_mailbox(config)
    try:
        counts = intake_cycle(desk, mailbox)
    finally:
        mailbox.close()
    drained = True
    drain_outbox(desk, smtp_sender(config))

    assert (counts["created"], counts["quarantined"]) == (2, 1)
    # Position before, the batch (three mails, their blobs and the position), position after.
    # Writing transactions: position before, the batch (three mails, their blobs and the
    # position), position after; then the drain: each mail's own sending and sent (two mails).
    assert commits.count("intake") == 3 and commits.count("drain") == 4
    customers = sorted(t.customer for t in desk.store.tickets())
    assert customers == ["user0@qq.example", "user2@qq.example"]
    [quarantined] = desk.store.quarantine()
    assert "disk hiccup" in quarantined.reason
    assert b"<b1@qq.example>" in desk.store.get_blob(quarantined.raw_sha256)
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.wait_for(2)) == customers
    # The failed mail's ticket, message and acknowledgement were undone with its savepoint.
    stored = [m for t in desk.store.tickets() for m in desk.store.messages(t.id)]
    assert len(stored) == 4 and not any("boom" in m.subject for m in stored)
    assert len(desk.store.outbox()) == 2


@both_engines
def test_replies_go_out_batch_by_batch_and_each_once(
    engine: str, tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink, imap_extra="batch_size = 2"))
    for number in range(5):
        mail = complaint(sender=f"u{number}@qq.example", message_id=f"<p{number}@qq.example>")
        imap_account.dovecot.append(imap_account.username, imap_account.password, mail)
    desk = Desk.open(config)
    real_send = smtp_sender(config)
    batches: list[tuple[int, int]] = []  # (mails in the SMTP batch, tickets stored by then)

    def send(envelopes, hooks):  # type: ignore[no-untyped-def]
        batches.append((len(envelopes), len(desk.store.tickets())))
        return real_send(envelopes, hooks)

    mailbox = open_mailbox(config)
    try:
        counts, result = intake_and_send(desk, mailbox, send)
    finally:
        mailbox.close()

    assert counts["created"] == 5 and len(result.sent) == 5
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.wait_for(5)) == [
        f"u{n}@qq.example" for n in range(5)
    ]
    assert sum(n for n, _ in batches) == 5  # each reply sent once
    assert batches[0][1] < 5  # the first replies left before the last batch was taken in
    assert all(m.state == OutboxState.SENT for m in desk.store.outbox())


def test_a_sender_that_breaks_stops_the_intake_call_with_its_error(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    desk = Desk.open(config)

    def broken(envelopes, hooks):  # type: ignore[no-untyped-def]
        raise KeyError("a bug in the sender")

    mailbox = open_mailbox(config)
    try:
        with pytest.raises(KeyError, match="a bug in the sender"):
            intake_and_send(desk, mailbox, broken)
    finally:
        mailbox.close()
    assert len(desk.store.tickets()) == 1  # the mail itself was taken in
    [owed] = desk.store.outbox()
    assert owed.state == OutboxState.QUEUED  # never started on its own: the next drain sends it


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_intake_over_tls(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, security: str
) -> None:
    port = imap_account.port if security == "starttls" else imap_account.imaps_port
    path = write_config(tmp_path, imap_account, smtp_sink, imap_extra="tls_verify = false")
    path.write_text(
        path.read_text(encoding="utf-8")
        .replace('security = "none"', f'security = "{security}"', 1)
        .replace(f"port = {imap_account.port}", f"port = {port}", 1),
        encoding="utf-8",
    )
    config = load(path)
    assert config.imap.security == security
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    desk = cycle(config)
    assert len(desk.store.tickets()) == 1
    assert len(smtp_sink.wait_for(1)) == 1


@both_engines
def test_uidvalidity_change_rereads_the_folder_without_duplicates(
    engine: str, tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(
        write_config(tmp_path, imap_account, smtp_sink, imap_extra='folder = "Complaints"')
    )
    account = imap_account
    with MailBoxUnencrypted(account.host, account.port).login(
        account.username, account.password
    ) as box:
        box.folder.create("Complaints")
    account.dovecot.append(account.username, account.password, complaint(), folder="Complaints")
    desk = cycle(config)
    # The folder is recreated (a new UIDVALIDITY) and the same mail shows up in it again.
    with MailBoxUnencrypted(account.host, account.port).login(
        account.username, account.password
    ) as box:
        box.folder.delete("Complaints")
        box.folder.create("Complaints")
    account.dovecot.append(account.username, account.password, complaint(), folder="Complaints")
    account.dovecot.append(
        account.username,
        account.password,
        complaint(message_id="<new@qq.example>"),
        folder="Complaints",
    )
    cycle(config, desk)
    assert len(desk.store.tickets()) == 2
    assert len(smtp_sink.wait_for(2)) == 2
    assert folder_contents(account, "Complaints") == []


def test_cli_ticket_json_has_the_documented_keys(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    assert run_cli(config_path, "poll", "--once").returncode == 0
    [summary] = json.loads(run_cli(config_path, "tickets", "list", "--json").stdout)
    assert {"id", "status", "customer", "subject", "created"} <= summary.keys()
    assert summary["status"] == "open" and summary["customer"] == "zhang.wei@qq.example"
    shown = json.loads(run_cli(config_path, "tickets", "show", summary["id"], "--json").stdout)
    assert {"id", "status", "customer", "subject", "created", "messages"} <= shown.keys()
    for message in shown["messages"]:
        assert {
            "direction",
            "kind",
            "message_id",
            "from",
            "to",
            "subject",
            "date",
        } <= message.keys()
    assert [m["direction"] for m in shown["messages"]] == ["in", "out"]
    table = run_cli(config_path, "tickets", "list").stdout.decode()
    assert summary["id"] in table and "充值500元一直没到账" in table
    missing = run_cli(config_path, "tickets", "show", "OKW-2026-999999")
    assert missing.returncode == 1 and b"no ticket OKW-2026-999999" in missing.stderr


def test_ingest_from_a_pipe(tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)
    done = run_cli(config_path, "ingest", "-", stdin=complaint())
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().startswith("created OKW-")
    assert len(smtp_sink.wait_for(1)) == 1
    again = run_cli(config_path, "ingest", "-", stdin=complaint())
    assert again.returncode == 0 and again.stdout.startswith(b"duplicate")
    assert len(smtp_sink.messages) == 1


def test_ingest_exits_75_when_the_store_cannot_be_written(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)
    (tmp_path / "store").write_text("a file where the store directory should be", encoding="utf-8")
    blocked = run_cli(config_path, "ingest", "-", stdin=complaint())
    assert blocked.returncode == 75
    assert b"Traceback" not in blocked.stderr


def test_daemon_on_idle_answers_and_survives_an_imap_restart(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailticket", "--config", str(config_path), "run"],
            cwd=PROJECT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        append = imap_account.dovecot.append
        append(imap_account.username, imap_account.password, complaint())
        smtp_sink.wait_for(1, timeout=20)

        imap_account.dovecot.restart()
        append(
            imap_account.username, imap_account.password, complaint(message_id="<c9@qq.example>")
        )
        smtp_sink.wait_for(2, timeout=30)
        assert daemon.poll() is None, log_path.read_text(encoding="utf-8")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            code = daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            raise
    output = log_path.read_text(encoding="utf-8")
    assert code == 0, output
    assert "IDLE on" in output
    assert "reconnecting" in output or "IMAP:" in output
    assert output.rstrip().endswith("mailticket stopped")
    assert len(smtp_sink.messages) == 2
