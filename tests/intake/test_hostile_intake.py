"""Hostile input at intake through a real Dovecot and SMTP server (issue 17, items 4, 1 and
11): an admin's pattern cannot hang intake, a mail the store refuses at commit does not undo
its batch, a forged delivery report changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import complaint, cycle, dsn_for, folder_contents, load, rules_with, write_config
from servers import ImapAccount, SmtpSink

from mailticket.completeness.patterns import Pattern
from mailticket.model import MessageKind

pytestmark = pytest.mark.integration


def test_a_catastrophic_rule_pattern_does_not_hang_intake(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched: list[tuple[str, int]] = []
    real_values = Pattern.values

    def values(pattern: Pattern, text: str) -> Iterator[tuple[int, str]]:
        searched.append((pattern.pattern, len(text)))  # noted, then really matched
        return real_values(pattern, text)

    monkeypatch.setattr(Pattern, "values", values)
    rules = rules_with(tmp_path / "rules", "(a+)+$")
    extra = f'[rules]\npath = "{rules}"\n'
    config = load(write_config(tmp_path, imap_account, smtp_sink, extra=extra))
    append = imap_account.dovecot.append
    body = "充值没到账，我的说明：" + "a" * 5000 + "!"  # the worst text for (a+)+$
    append(imap_account.username, imap_account.password, complaint("充值没到账", body=body))
    desk = cycle(config)  # a backtracking engine would be in this call still
    [ticket] = desk.store.tickets()
    assert ticket.subject == "充值没到账"
    assert desk.store.quarantine() == []
    assert any(p == "(a+)+$" and size > 5000 for p, size in searched)  # it did run
    assert folder_contents(imap_account, "INBOX") == []
    [acknowledgement] = smtp_sink.wait_for(1)
    assert ticket.id.encode() in acknowledgement.data


def test_only_a_report_on_mail_we_sent_marks_only_its_recipients(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    user, password = imap_account.username, imap_account.password
    append = imap_account.dovecot.append
    append(user, password, complaint())
    desk = cycle(config)
    [ticket] = desk.store.tickets()
    [ack] = desk.store.outbox()
    customer = "zhang.wei@qq.example"
    ticket_id, kind, random, _ = ack.message_id.strip("<>").split("@")[0].split(".")
    forged_signature = f"<{ticket_id}.{kind}.{random}.{'0' * 16}@okwallet.example>"
    tagged = f"Undelivered Mail Returned to Sender: [{ticket.id}]"
    append(user, password, dsn_for("<c1@qq.example>", customer, subject=tagged))  # theirs
    append(user, password, dsn_for(forged_signature, customer, status="5.2.1", subject=tagged))
    unsigned = f"<{ticket.id}@okwallet.example>"
    append(user, password, dsn_for(unsigned, customer, status="5.7.1"))
    append(user, password, dsn_for(ack.message_id, "victim@other.example"))  # not its recipient
    cycle(config, desk)

    assert desk.store.get_ticket(ticket.id).undeliverable == ()
    reasons = [q.reason for q in desk.store.quarantine()]
    assert reasons == ["delivery status notification that returns no mail we sent"] * 3
    [report] = [m for m in desk.store.messages(ticket.id) if m.kind == MessageKind.BOUNCE]
    assert (
        f"delivery report names victim@other.example, not a recipient of {ack.message_id}: ignored"
    ) in report.notes
    assert len(folder_contents(imap_account, "Quarantine")) == 3
    assert [t.id for t in desk.store.tickets()] == [ticket.id]

    append(user, password, dsn_for(ack.message_id, customer, status="5.1.10"))  # the real one
    cycle(config, desk)
    assert desk.store.get_ticket(ticket.id).undeliverable == (customer,)
