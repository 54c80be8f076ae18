"""Hostile and broken mail through a real Dovecot and SMTP server (issue 17): one mail must
never stall the inbox, leak internal text, or take over another customer's ticket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import PROJECT, complaint, cycle, folder_contents, load, run_cli, write_config
from servers import ImapAccount, SmtpSink

from mailticket.completeness import guard
from mailticket.config_sections import BUILTIN_RULES
from mailticket.desk.context import Desk
from mailticket.intake import record as intake_record
from mailticket.model import InboundMail

pytestmark = pytest.mark.integration


class SteppedClock:
    """The desk's clock, moved on by the test: time passes only where the test says."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_mail_over_its_time_or_size_budget_is_quarantined_and_the_rest_go_on(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = "[limits]\nmail_seconds = 5\nmax_mail_bytes = 65536\n"
    config = load(write_config(tmp_path, imap_account, smtp_sink, extra=extra))
    clock = SteppedClock()
    real_redact = guard.redact_mail

    def slow_redaction(mail: InboundMail) -> tuple[InboundMail, tuple[str, ...]]:
        if "slow" in mail.subject:
            clock.now += timedelta(seconds=6)  # as if this stage had worked for 6 s
        return real_redact(mail)

    monkeypatch.setattr(intake_record.guard, "redact_mail", slow_redaction)
    append = imap_account.dovecot.append
    user, password = imap_account.username, imap_account.password
    append(user, password, complaint("slow 充值没到账", message_id="<slow@qq.example>"))
    big = complaint("大附件", body="很长的信。" * 8000, sender="b@qq.example", message_id="<big@q>")
    assert len(big) > 65536
    append(user, password, big)
    append(user, password, complaint("提现失败", sender="li@qq.example", message_id="<ok@q>"))
    desk = Desk.open(config)
    desk.budget_clock = clock
    desk = cycle(config, desk)
    assert [t.subject for t in desk.store.tickets()] == ["提现失败"]
    reasons = sorted(q.reason for q in desk.store.quarantine())
    assert "over [limits] max_mail_bytes" in reasons[0]
    assert "over the time budget of 5 s per mail" in reasons[1] and "redaction" in reasons[1]
    assert len(folder_contents(imap_account, "Quarantine")) == 2
    assert folder_contents(imap_account, "INBOX") == []
    listed = json.loads(
        run_cli(tmp_path / "mailticket.toml", "quarantine", "list", "--json").stdout
    )
    assert len(listed) == 2


EVIL_TEMPLATE = (
    "{{ cycler.__init__.__globals__.os.system('touch ' ~ ticket_id ~ '-pwned') }}"
    "工单 {{ ticket_id }}\n"
)


def test_an_admin_template_cannot_run_code_in_the_daemon_or_in_check(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where `touch` would leave its file
    templates = tmp_path / "my-templates" / "zh"
    templates.mkdir(parents=True)
    (templates / "acknowledgement.txt").write_text(EVIL_TEMPLATE, encoding="utf-8")
    extra = '[templates]\npath = "my-templates"\n'
    config_path = write_config(tmp_path, imap_account, smtp_sink, extra=extra)
    checked = run_cli(config_path, "check", "--json")
    [error] = json.loads(checked.stdout)["template_errors"]
    assert "acknowledgement.txt: unsafe, refused by the sandbox" in error
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    desk = cycle(load(config_path))
    [ticket] = desk.store.tickets()
    [message] = desk.store.messages(ticket.id)
    assert any("no acknowledgement: composing it failed: SecurityError" in n for n in message.notes)
    assert not [p for folder in (tmp_path, PROJECT) for p in folder.glob("*-pwned")]


def test_8bit_and_control_characters_in_message_ids_never_break_a_batch(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config_path = write_config(tmp_path, imap_account, smtp_sink)
    hostile = complaint(message_id="<h1@qq.example>").replace(
        b"Message-ID: <h1@qq.example>",
        b"Message-ID: <\xff\xfe\xc3(h1@qq.example>\r\n"
        b"In-Reply-To: <x\x01y\x7f@okwallet.example>\r\n"
        b"References: <\xe4\xb8@evil.example> <ok@qq.example> <n\x00ul@qq.example>",
    )
    append = imap_account.dovecot.append
    append(imap_account.username, imap_account.password, hostile)
    append(imap_account.username, imap_account.password, complaint("另一封", sender="li@q.example"))
    done = run_cli(config_path, "poll", "--once")
    assert done.returncode == 0, done.stderr
    assert b"created 2" in done.stdout
    desk = Desk.open(load(config_path))
    ids = [
        i
        for t in desk.store.tickets()
        for m in desk.store.messages(t.id)
        for i in (m.message_id, *m.in_reply_to, *m.references)
    ]
    assert all(i.isascii() and i.isprintable() for i in ids)
    assert "<ok@qq.example>" in ids
    for received in smtp_sink.wait_for(2):
        headers = received.data.split(b"\r\n\r\n", 1)[0]
        assert not any(byte < 32 and byte not in (9, 10, 13) for byte in headers)
        assert headers.isascii()


@pytest.mark.parametrize("stranger_tag", ["new_ticket", "attach"])
def test_a_stranger_cannot_join_a_ticket_by_its_references(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, stranger_tag: str
) -> None:
    extra = f'stranger_tag = "{stranger_tag}"\n'
    rules = f'[rules]\npath = "{BUILTIN_RULES}"\n'
    config_path = write_config(tmp_path, imap_account, smtp_sink, extra=rules)
    text = config_path.read_text(encoding="utf-8").replace(
        'ticket_prefix = "OKW"\n', f'ticket_prefix = "OKW"\n{extra}'
    )
    config_path.write_text(text, encoding="utf-8")
    config = load(config_path)
    append = imap_account.dovecot.append
    append(imap_account.username, imap_account.password, complaint())
    desk = cycle(config)
    [victim] = desk.store.tickets()
    assert victim.fields  # the victim's phone, amount... as the rules read them
    hijack = complaint(
        "Re: 充值500元一直没到账",
        "我的手机号改成13900000000，交易单号 2026112499999999，金额 9999 元。",
        sender="mallory@evil.example",
        message_id="<m1@evil.example>",
        in_reply_to="<c1@qq.example>",  # the victim's own Message-ID, no tag
    )
    append(imap_account.username, imap_account.password, hijack)
    desk = cycle(config, desk)
    after = desk.store.get_ticket(victim.id)
    assert (after.customer, after.status, after.fields) == (
        victim.customer,
        victim.status,
        victim.fields,
    )
    tickets = desk.store.tickets()
    if stranger_tag == "new_ticket":
        assert len(tickets) == 2 and tickets[-1].customer == "mallory@evil.example"
    else:
        [recorded] = [
            m for m in desk.store.messages(victim.id) if m.message_id == "<m1@evil.example>"
        ]
        assert any("not in its conversation" in note for note in recorded.notes)
