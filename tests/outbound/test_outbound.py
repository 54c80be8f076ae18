"""Outgoing mail through the real servers: loop and storm rules, SMTP failures, bounces,
header safety and admin templates."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
from helpers import complaint, cycle, dsn_for, folder_contents, load, write_config
from servers import ImapAccount, SmtpSink, make_certificate

from mailticket.app import status
from mailticket.app.cli import main
from mailticket.desk.context import Desk
from mailticket.model import MessageKind, OutboxState
from mailticket.outbound.outbox import drain_outbox, smtp_sender

pytestmark = pytest.mark.integration

AGENTS = """
[agents]
addresses = ["alice@okwallet.example"]
trusted_authserv_ids = ["mx.okwallet.example"]
"""


def with_headers(message_id: str, sender: str, headers: dict[str, str], **kwargs: str) -> bytes:
    raw = complaint(sender=sender, message_id=message_id, **kwargs)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()
    return extra + raw


# Each rule: the mail's distinguishing headers or sender, and words of the recorded reason.
RULES = [
    ("auto-submitted", {"Auto-Submitted": "auto-replied"}, "c@x.example", "Auto-Submitted"),
    ("auto-generated", {"Auto-Submitted": "auto-generated"}, "c@x.example", "Auto-Submitted"),
    ("precedence-bulk", {"Precedence": "bulk"}, "c@x.example", "Precedence: bulk"),
    ("precedence-junk", {"Precedence": "junk"}, "c@x.example", "Precedence: junk"),
    ("precedence-list", {"Precedence": "list"}, "c@x.example", "Precedence: list"),
    ("list-id", {"List-Id": "<news.shop.example>"}, "c@x.example", "list-id"),
    ("list-unsub", {"List-Unsubscribe": "<mailto:u@shop.example>"}, "c@x.example", "list-unsub"),
    ("suppress", {"X-Auto-Response-Suppress": "OOF, AutoReply"}, "c@x.example", "Suppress"),
    ("empty-return-path", {"Return-Path": "<>"}, "c@x.example", "empty Return-Path"),
    ("noreply", {}, "noreply@shop.example", "automated sender"),
    ("no-reply", {}, "no-reply+123@shop.example", "automated sender"),
]


def test_every_loop_rule_suppresses_the_reply_and_records_why(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink, extra=AGENTS))
    append = imap_account.dovecot.append
    for name, headers, sender, _ in RULES:
        append(
            imap_account.username,
            imap_account.password,
            with_headers(f"<{name}@t>", sender, headers),
        )
    control = with_headers("<control@t>", "c@x.example", {"Auto-Submitted": "no"})
    append(imap_account.username, imap_account.password, control)
    desk = cycle(config)

    reasons = {}
    for ticket in desk.store.tickets():
        [message] = [m for m in desk.store.messages(ticket.id) if m.direction.value == "in"]
        reasons[message.message_id] = " | ".join(message.notes)
    for name, _, _, expected in RULES:
        assert expected in reasons[f"<{name}@t>"], (name, reasons[f"<{name}@t>"])
        assert reasons[f"<{name}@t>"].startswith("no automatic reply: ")
    assert reasons["<control@t>"] == ""
    # Only the control mail was answered, and every mail became a ticket.
    [answered] = smtp_sink.wait_for(1)
    assert answered.rcpt_tos == ["c@x.example"]
    assert email.message_from_bytes(answered.data)["In-Reply-To"] == "<control@t>"
    assert len(desk.store.tickets()) == len(RULES) + 1


def test_mail_from_ourselves_and_reports_matching_nothing_are_quarantined(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    append = imap_account.dovecot.append
    append(
        imap_account.username,
        imap_account.password,
        with_headers("<own@t>", "complaints@okwallet.example", {}),
    )
    append(
        imap_account.username, imap_account.password, dsn_for("<unknown@elsewhere>", "x@y.example")
    )
    append(
        imap_account.username,
        imap_account.password,
        with_headers("<daemon@t>", "MAILER-DAEMON@mx.example", {}, subject="Undelivered Mail"),
    )
    desk = cycle(config)
    assert desk.store.tickets() == []
    reasons = sorted(q.reason for q in desk.store.quarantine())
    assert reasons == [
        "delivery status notification that returns no mail we sent",
        "delivery status notification that returns no mail we sent",
        "mail from the desk's own address that continues no ticket (a loop?)",
    ]
    assert len(folder_contents(imap_account, "Quarantine")) == 3
    assert smtp_sink.messages == []


def test_an_autoresponder_that_varies_its_subject_cannot_start_a_loop(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    """A careless autoresponder answers every mail with a fresh subject and no headers."""
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    desk = Desk.open(config)
    robot = "robot@careless.example"
    append = imap_account.dovecot.append
    append(
        imap_account.username, imap_account.password, complaint(sender=robot, message_id="<r0@c>")
    )
    answered = 0
    for round_number in range(1, 11):
        cycle(config, desk)
        for received in smtp_sink.messages[answered:]:
            answered += 1
            reply = complaint(
                subject=f"Thank you for your message #{round_number}-{answered}",
                body="This mailbox is not monitored.",
                sender=robot,
                message_id=f"<r{round_number}-{answered}@c>",
            )
            assert received.rcpt_tos == [robot]
            append(imap_account.username, imap_account.password, reply)
    assert len(smtp_sink.messages) == 3  # auto_replies_per_sender_per_hour
    tickets = desk.store.tickets()
    assert len(tickets) == 4  # every mail is still recorded
    [held] = [m for m in desk.store.messages(tickets[-1].id) if m.direction.value == "in"]
    assert "automatic replies to this sender in the last hour" in held.notes[0]
    assert folder_contents(imap_account, "INBOX") == []


def test_a_temporary_failure_is_retried_and_delivered_once(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    now = datetime.now(UTC)
    clock = {"now": now}
    desk = Desk.open(config, clock=lambda: clock["now"])
    smtp_sink.reject_with = "451 4.3.0 try again later"
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    cycle(config, desk)
    [waiting] = desk.store.outbox()
    assert (waiting.state, waiting.attempts) == (OutboxState.QUEUED, 1)
    assert waiting.last_error.startswith("451")

    clock["now"] = now + timedelta(seconds=61)  # still failing: the wait doubles
    drain_outbox(desk, smtp_sender(config))
    [waiting] = desk.store.outbox()
    assert waiting.attempts == 2
    assert waiting.next_attempt == clock["now"] + timedelta(seconds=120)

    smtp_sink.reject_with = None
    clock["now"] += timedelta(seconds=121)
    assert drain_outbox(desk, smtp_sender(config)).sent == [waiting.id]
    clock["now"] += timedelta(days=1)
    assert drain_outbox(desk, smtp_sender(config)).sent == []
    assert len(smtp_sink.messages) == 1
    assert desk.store.outbox()[0].state == OutboxState.SENT


def test_a_permanent_failure_marks_the_address_and_tells_the_agents(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink, extra=AGENTS))
    smtp_sink.reject_recipients["zhang.wei@qq.example"] = "550 5.1.1 no such user here"
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    desk = cycle(config)

    [ticket] = desk.store.tickets()
    assert ticket.undeliverable == ("zhang.wei@qq.example",)
    ack, notice = sorted(desk.store.outbox(), key=lambda m: m.id)
    assert ack.state == OutboxState.FAILED and "550 5.1.1" in ack.last_error
    assert (notice.kind, notice.state, notice.rcpt_to) == (
        MessageKind.NOTICE,
        OutboxState.SENT,
        ("alice@okwallet.example",),
    )
    [received] = smtp_sink.wait_for(1)
    told = email.message_from_bytes(received.data, policy=default_policy)
    assert told["Subject"].startswith(f"[{ticket.id}] 回复无法送达")
    assert told["Auto-Submitted"] == "auto-generated"
    assert "550 5.1.1 no such user here" in told.get_content()


def test_a_bounce_marks_the_address_tells_the_agents_and_opens_no_ticket(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink, extra=AGENTS))
    append = imap_account.dovecot.append
    append(imap_account.username, imap_account.password, complaint())
    desk = cycle(config)
    [ack] = desk.store.outbox()
    [ticket] = desk.store.tickets()

    append(
        imap_account.username,
        imap_account.password,
        dsn_for(ack.message_id, "zhang.wei@qq.example", "delayed", "4.4.1"),
    )
    append(
        imap_account.username,
        imap_account.password,
        dsn_for(ack.message_id, "zhang.wei@qq.example"),
    )
    cycle(config, desk)

    assert [t.id for t in desk.store.tickets()] == [ticket.id]
    ticket = desk.store.get_ticket(ticket.id)
    assert ticket.undeliverable == ("zhang.wei@qq.example",)
    bounces = [m for m in desk.store.messages(ticket.id) if m.kind == MessageKind.BOUNCE]
    assert [m.notes for m in bounces] == [
        (
            "no automatic reply: Auto-Submitted: auto-replied",
            "delivery delayed to zhang.wei@qq.example",
        ),
        (
            "no automatic reply: Auto-Submitted: auto-replied",
            "bounce: zhang.wei@qq.example marked undeliverable "
            "(5.1.1 smtp; 550 5.1.1 mailbox does not exist)",
        ),
    ]
    _, notice = smtp_sink.wait_for(2)
    assert notice.rcpt_tos == ["alice@okwallet.example"]
    assert "退信" in email.message_from_bytes(notice.data, policy=default_policy)["Subject"]
    assert len(smtp_sink.messages) == 2


def test_a_subject_with_cr_lf_cannot_add_a_header(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    raw = complaint(subject="x").replace(
        b"Subject: x", b"Subject: =?utf-8?Q?help=0D=0ABcc:_evil@attacker.example=0D=0A?="
    )
    assert b"=0D=0ABcc" in raw
    imap_account.dovecot.append(imap_account.username, imap_account.password, raw)
    cycle(config)
    [received] = smtp_sink.wait_for(1)
    assert received.rcpt_tos == ["zhang.wei@qq.example"]
    ack = email.message_from_bytes(received.data, policy=default_policy)
    assert ack["Bcc"] is None
    assert "\n" not in ack["Subject"] and "\r" not in ack["Subject"]
    assert ack["Subject"].endswith("help Bcc: evil@attacker.example")


def test_admin_templates_replace_the_built_in_ones_and_html_is_escaped(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    templates = tmp_path / "my-templates" / "zh"
    templates.mkdir(parents=True)
    (templates / "acknowledgement.txt").write_text(
        "您好 {{ customer_name }}，工单 {{ ticket_id }} 已受理。\n", encoding="utf-8"
    )
    (templates / "acknowledgement.html").write_text(
        "<p>工单 {{ ticket_id }}：{{ subject }}</p>\n", encoding="utf-8"
    )
    config = load(
        write_config(
            tmp_path, imap_account, smtp_sink, extra='[templates]\npath = "my-templates"\n'
        )
    )
    evil = complaint(subject="充值<script>alert(1)</script>")
    imap_account.dovecot.append(imap_account.username, imap_account.password, evil)
    desk = cycle(config)
    [ticket] = desk.store.tickets()
    [received] = smtp_sink.wait_for(1)
    ack = email.message_from_bytes(received.data, policy=default_policy)
    assert ack["Reply-To"].addresses[0].addr_spec == "complaints@okwallet.example"
    plain = ack.get_body(preferencelist=("plain",)).get_content()
    html = ack.get_body(preferencelist=("html",)).get_content()
    assert plain.splitlines() == [f"您好 张伟，工单 {ticket.id} 已受理。"]
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_message_ids_and_names_are_encoded_for_every_client(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    cycle(config)
    [received] = smtp_sink.wait_for(1)
    assert received.data.isascii()  # no raw 8-bit headers: every client can read it
    ack = email.message_from_bytes(received.data, policy=default_policy)
    assert ack["From"].addresses[0].display_name == "OK钱包客服"
    assert ack["To"].addresses[0].display_name == "张伟"
    assert ack["Date"].datetime is not None
    assert b"\r\nMessage-ID: <OKW-" in received.data  # one line, never folded
    assert ack["Message-ID"].endswith("@okwallet.example>")


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_smtp_with_tls_and_login(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, security: str
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_certificate(cert, key)
    with SmtpSink(
        security=security, credentials=("desk", "s3cret"), certificate=(cert, key)
    ) as sink:
        (tmp_path / "smtp-password").write_text("s3cret\n", encoding="utf-8")
        path = write_config(tmp_path, imap_account, smtp_sink)
        text = path.read_text(encoding="utf-8").replace(
            f'host = "{smtp_sink.host}"\nport = {smtp_sink.port}\nsecurity = "none"',
            f'host = "{sink.host}"\nport = {sink.port}\nsecurity = "{security}"\n'
            'username = "desk"\npassword_file = "smtp-password"\ntls_verify = false',
        )
        assert f"port = {sink.port}" in text
        path.write_text(text, encoding="utf-8")
        imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
        desk = cycle(load(path))
        [received] = sink.wait_for(1)
        assert received.rcpt_tos == ["zhang.wei@qq.example"]
        assert desk.store.outbox()[0].state == OutboxState.SENT

    assert smtp_sink.messages == []


def test_smtp_login_refused_keeps_the_mail_and_says_so_loudly(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A 535 (wrong password, expired token) is no fault of the mail: it stays queued with
    backoff, an ERROR line says so, and it goes out once the password is fixed."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_certificate(cert, key)
    with SmtpSink(
        security="starttls", credentials=("desk", "s3cret"), certificate=(cert, key)
    ) as sink:
        secret = tmp_path / "smtp-password"
        secret.write_text("wrong\n", encoding="utf-8")
        path = write_config(tmp_path, imap_account, smtp_sink)
        text = path.read_text(encoding="utf-8").replace(
            f'host = "{smtp_sink.host}"\nport = {smtp_sink.port}\nsecurity = "none"',
            f'host = "{sink.host}"\nport = {sink.port}\nsecurity = "starttls"\n'
            'username = "desk"\npassword_file = "smtp-password"\ntls_verify = false',
        )
        path.write_text(text, encoding="utf-8")
        config = load(path)
        now = datetime.now(UTC)
        clock = {"now": now}
        desk = Desk.open(config, clock=lambda: clock["now"])
        imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
        cycle(config, desk)
        [waiting] = desk.store.outbox()
        assert (waiting.state, waiting.attempts) == (OutboxState.QUEUED, 1)
        assert "SMTP login failed for desk" in waiting.last_error and "535" in waiting.last_error
        assert any(
            r.levelname == "ERROR" and "SMTP login failed" in r.getMessage() for r in caplog.records
        )
        report = status.gather(config, lambda: clock["now"])
        assert (report["smtp_login_refused"], report["outbox"]["queued"]) == (1, 1)
        assert "535" in report["last_send_error"] and "SMTP login failed" in report["problems"][0]
        assert main(["--config", str(path), "status"]) == 1  # a monitoring check alerts
        assert "SMTP login refused / SMTP 登录被拒  1" in capsys.readouterr().out
        secret.write_text("s3cret\n", encoding="utf-8")
        clock["now"] = now + timedelta(seconds=61)
        assert drain_outbox(desk, smtp_sender(config)).sent == [waiting.id]
        assert len(sink.wait_for(1)) == 1
        assert main(["--config", str(path), "status", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["problems"], report["outbox"]["sent"], report["outbox"]["queued"]) == (
            [],
            1,
            0,
        )
