"""Hostile input at intake through a real Dovecot and SMTP server (issue 17, items 4, 1 and
11): an admin's pattern cannot hang intake, a mail the store refuses at commit does not undo
its batch, a forged delivery report changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import complaint, cycle, dsn_for, folder_contents, load, rules_with, write_config
from servers import ImapAccount, SmtpSink
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from mailticket.completeness.patterns import Pattern
from mailticket.desk.context import Desk
from mailticket.model import MessageKind, TicketMessage
from mailticket.store import Store

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


class RefusingStore(Store):
    """A real store whose database refuses to commit any transaction that holds one mail's
    message (as PostgreSQL does at COMMIT for a deferred constraint): a fault at commit."""

    def __init__(self, root: Path, poison: str) -> None:
        super().__init__(root)
        self.poison, self.holds, self.refused = poison, False, 0
        event.listen(self.engine, "commit", self._commit)

    def add_message(self, message: TicketMessage, **options: Any) -> None:
        super().add_message(message, **options)
        self.holds = self.holds or message.dedupe_key == self.poison

    def _commit(self, connection: object) -> None:
        holds, self.holds = self.holds, False
        if holds:
            self.refused += 1
            raise IntegrityError("COMMIT", {}, Exception(f"deferred check refused {self.poison}"))


def test_a_mail_that_breaks_the_batch_commit_is_quarantined_and_the_rest_taken_in(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    config = load(write_config(tmp_path, imap_account, smtp_sink))
    user, password = imap_account.username, imap_account.password
    append = imap_account.dovecot.append
    append(user, password, complaint("第一封", sender="a@qq.example", message_id="<a@q>"))
    append(user, password, complaint("坏的那封", sender="b@qq.example", message_id="<bad@q>"))
    append(user, password, complaint("第三封", sender="c@qq.example", message_id="<c@q>"))
    desk = Desk.open(config)
    desk.store.close()
    desk.store = store = RefusingStore(config.storage_path, poison="mid:<bad@q>")
    assert config.imap.batch_size >= 3  # one batch: its commit fails while it holds <bad@q>

    desk = cycle(config, desk)
    assert sorted(t.subject for t in store.tickets()) == ["第一封", "第三封"]
    [held] = store.quarantine()
    assert held.reason.startswith("the store refused this mail: StoreError: ")
    assert "deferred check refused mid:<bad@q>" in held.reason and "\n" not in held.reason
    assert store.get_blob(held.raw_sha256).startswith(b"From: b@qq.example")
    assert store.refused == 3  # the batch, then the mail alone twice
    assert folder_contents(imap_account, "INBOX") == []
    assert [m for m, _ in folder_contents(imap_account, "Quarantine")] == ["<bad@q>"]
    assert len(smtp_sink.wait_for(2)) == 2  # both acknowledged

    cycle(config, desk)  # nothing left over, nothing taken in twice
    assert len(store.tickets()) == 2 and len(store.quarantine()) == 1
    assert store.refused == 3
