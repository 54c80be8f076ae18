"""`db import`: a store written by the old journal code, copied into SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from test_store import NOW, make_message, make_outgoing, make_ticket

from mailticket.errors import StoreError
from mailticket.model import OutboxState, QuarantineRecord, TicketStatus
from mailticket.store import Store, legacy
from mailticket.store.importer import import_legacy


def old_store(root: Path) -> legacy.Store:
    """What the old code wrote: tickets (one archived), long texts, blobs, sent and queued
    mail with attempts, quarantine, counters, marks, IMAP position."""
    old = legacy.Store(root)
    raw = b"From: li.wei@163.example\r\n\r\nraw mail\r\n"
    raw_sha = hashlib.sha256(raw).hexdigest()
    payload_sha = hashlib.sha256(b"png").hexdigest()
    with old.transaction():
        old.put_blob(raw_sha, raw)
        old.put_blob(payload_sha, b"png")
        for number in (1, 2):
            ticket_id = old.next_ticket_id("PFX", 2026)
            status = TicketStatus.CLOSED if number == 1 else TicketStatus.OPEN
            fired = ("remind-50", "escalate") if number == 1 else ("first-response",)
            old.add_ticket(make_ticket(ticket_id, status=status, sla_fired=fired))
            message = make_message(
                ticket_id, raw_sha256=raw_sha, dedupe_key=f"mid:{number}", text="长" * 2000
            )
            attachment = replace(message.attachments[0], sha256=payload_sha)
            old.add_message(replace(message, attachments=(attachment, message.attachments[1])))
            mail = make_outgoing(f"M00000{number}", ticket_id=ticket_id)
            old.enqueue(mail)
            old.next_serial("outbox")
        old.save_outgoing(
            replace(old.get_outgoing("M000001"), state=OutboxState.SENT, attempts=2, sent_at=NOW)
        )
        old.add_quarantine(
            QuarantineRecord(
                id="Q000001", raw_sha256=raw_sha, reason="bad", source="t", created=NOW
            ),
            "sha:x",
        )
        old.set_mark("message_id_secret", "s3cret")
        old.save_imap_position("imap:u@h/INBOX", {"uidvalidity": 7, "last_uid": 42})
    old.archive(old.archivable(NOW + timedelta(days=400)))
    assert list(old._tables.docs["archive"]) == ["PFX-2026-000001"]
    return old


@pytest.fixture(params=["sqlite", "postgresql"])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    url = request.getfixturevalue("postgres").new_database() if request.param != "sqlite" else ""
    store = Store(tmp_path / "new", url=url)
    request.addfinalizer(store.close)
    return store


def test_everything_moves_and_the_counters_go_on(empty: Store, tmp_path: Path) -> None:
    old = old_store(tmp_path / "old")
    counts = import_legacy(old.root, empty)
    assert counts == {
        "tickets": 2, "messages": 2, "outbox": 2, "quarantine": 1, "blobs": 2, "blobs_missing": 0
    }  # fmt: skip
    assert [t.id for t in empty.tickets()] == ["PFX-2026-000001", "PFX-2026-000002"]
    for ticket in old.tickets():
        assert empty.get_ticket(ticket.id) == ticket
        assert empty.messages(ticket.id) == old.messages(ticket.id)
        assert empty.outbox_of(ticket.id) == old.outbox_of(ticket.id)
    assert empty.get_ticket("PFX-2026-000001").sla_fired == ("remind-50", "escalate")
    assert not empty.fire_threshold("PFX-2026-000001", "escalate")  # rows in sla_fired
    assert not empty.fire_threshold("PFX-2026-000002", "first-response")
    assert empty.get_outgoing("M000001").attempts == 2
    assert empty.quarantine() == old.quarantine()
    assert empty.get_blob(old.quarantine()[0].raw_sha256).endswith(b"raw mail\r\n")
    assert empty.mark("message_id_secret") == "s3cret"
    assert empty.imap_position("imap:u@h/INBOX") == {"uidvalidity": 7, "last_uid": 42}
    assert empty.next_ticket_id("PFX", 2026) == "PFX-2026-000003"
    assert empty.next_serial("outbox") == 3
    assert empty.dedupe_destination("mid:1") == "processed"
    assert empty.dedupe_destination("sha:x") == "quarantine"
    assert empty.ticket_for_message_ids(["<M000001@pfx.example>"]) == "PFX-2026-000001"


def test_a_database_with_tickets_is_refused(empty: Store, tmp_path: Path) -> None:
    old = old_store(tmp_path / "old")
    import_legacy(old.root, empty)
    with pytest.raises(StoreError, match="has tickets already"):
        import_legacy(old.root, empty)
    with pytest.raises(StoreError, match="no store of the old format"):
        import_legacy(tmp_path / "nothing", empty)
