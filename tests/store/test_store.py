from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, event, select, text

from mailticket.errors import NotFoundError, StoreError
from mailticket.mail.parse import parse
from mailticket.model import (
    Attachment,
    Direction,
    MessageKind,
    OutboxState,
    OutgoingMail,
    QuarantineRecord,
    Ticket,
    TicketMessage,
    TicketStatus,
    from_record,
    to_record,
)
from mailticket.store import Store, schema

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4


def make_ticket(ticket_id: str = "PFX-2026-000001", **changes: Any) -> Ticket:
    ticket = Ticket(
        id=ticket_id,
        status=TicketStatus.OPEN,
        customer="li.wei@163.example",
        customer_name="李伟",
        subject="充值未到账",
        language="zh",
        created=NOW,
        updated=NOW,
        due=datetime(2026, 3, 9, 23, 59, 59, tzinfo=SHANGHAI),
        sla_working_days=5,
    )
    return replace(ticket, **changes)


def make_message(ticket_id: str = "PFX-2026-000001", **changes: Any) -> TicketMessage:
    message = TicketMessage(
        ticket_id=ticket_id,
        direction=Direction.IN,
        kind=MessageKind.COMPLAINT,
        message_id="<m1@163.example>",
        from_addr="li.wei@163.example",
        to=("desk@pfx.example",),
        subject="充值未到账",
        date=datetime(2026, 3, 2, 17, 30, tzinfo=timezone(timedelta(hours=8))),
        text="我的充值没有到账",
        cc=("friend@163.example", "other@163.example"),
        in_reply_to=("<m0@163.example>",),
        references=("<older@163.example>", "<m0@163.example>"),
        raw_sha256=SHA_A,
        dedupe_key="mid:<m1@163.example>",
        attachments=(
            Attachment(
                filename="截图.png",
                content_type="image/png",
                size=3,
                sha256=SHA_B,
                content_id="<img1@163.example>",
                inline=True,
                payload=b"png",
            ),
            Attachment(
                filename="statement.pdf",
                content_type="application/pdf",
                size=99_000_000,
                sha256="b" * 64,
                too_large=True,
            ),
        ),
        defects=("unknown charset 'x-bogus'",),
        notes=("no automatic reply: Precedence: bulk",),
    )
    return replace(message, **changes)


def make_outgoing(outbox_id: str = "M000001", **changes: Any) -> OutgoingMail:
    mail = OutgoingMail(
        id=outbox_id,
        ticket_id="PFX-2026-000001",
        kind=MessageKind.ACKNOWLEDGEMENT,
        message_id=f"<{outbox_id}@pfx.example>",
        mail_from="desk@pfx.example",
        rcpt_to=("li.wei@163.example",),
        subject="[PFX-2026-000001] Re: 充值未到账",
        raw="From: desk@pfx.example\r\n\r\nbody\r\n",
        created=NOW,
    )
    return replace(mail, **changes)


OPENED: list[Store] = []


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The contract tests run on both engines; `reopen(store)` opens the same database."""
    url = request.getfixturevalue("postgres").new_database() if request.param != "sqlite" else ""
    opened = Store(tmp_path / "store", lock_timeout=10, url=url)
    OPENED.append(opened)
    yield opened
    while OPENED:  # a pooled PostgreSQL connection must be closed, not left to the GC
        OPENED.pop().close()


def reopen(store: Store, **options: Any) -> Store:
    opened = Store(store.root, url=store.url, **options)
    OPENED.append(opened)
    return opened


def on_disk(store: Store) -> bytes:
    """Everything committed, every row of every table, as another connection reads it."""
    engine = create_engine(store.engine.url)
    try:
        with engine.connect() as connection:
            rows = [
                repr(connection.execute(select(table).order_by(*table.primary_key)).all())
                for table in schema.metadata.sorted_tables
            ]
    finally:
        engine.dispose()
    return "\n".join(rows).encode()


def commits_of(store: Store) -> list[int]:
    """Grows by one at each commit of the store's engine."""
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _connection: commits.append(1))
    return commits


# --- records ----------------------------------------------------------------------------------


def test_ticket_round_trip_keeps_aware_datetimes(store: Store) -> None:
    ticket = make_ticket()
    store.add_ticket(ticket)
    loaded = reopen(store).get_ticket(ticket.id)
    assert loaded == ticket
    assert loaded.status is TicketStatus.OPEN
    assert loaded.created.utcoffset() == timedelta(0)
    assert loaded.due is not None and ticket.due is not None
    assert loaded.due.utcoffset() == timedelta(hours=8)
    assert loaded.due.isoformat() == "2026-03-09T23:59:59+08:00"
    assert loaded.created.microsecond == 123456


def test_ticket_without_due_round_trips_as_none(store: Store) -> None:
    store.add_ticket(make_ticket(due=None))
    assert store.get_ticket("PFX-2026-000001").due is None


def test_message_round_trip_keeps_tuples_and_attachments(store: Store) -> None:
    message = make_message()
    store.add_message(message)
    [loaded] = reopen(store).messages(message.ticket_id)
    assert loaded == message
    assert isinstance(loaded.to, tuple)
    assert isinstance(loaded.references, tuple)
    assert loaded.references == ("<older@163.example>", "<m0@163.example>")
    assert isinstance(loaded.attachments, tuple)
    assert all(isinstance(a, Attachment) for a in loaded.attachments)
    assert loaded.attachments[0].filename == "截图.png"
    assert loaded.attachments[0].inline is True
    assert loaded.attachments[1].too_large is True
    # The bytes live in blobs, never in the database.
    assert loaded.attachments[0].payload == b""
    assert b"payload" not in on_disk(store)
    assert loaded.date.utcoffset() == timedelta(hours=8)
    assert loaded.direction is Direction.IN
    assert loaded.kind is MessageKind.COMPLAINT


def test_outgoing_round_trip_and_save(store: Store) -> None:
    mail = make_outgoing(next_attempt=NOW + timedelta(minutes=5))
    store.enqueue(mail)
    assert reopen(store).get_outgoing(mail.id) == mail
    sent = replace(
        mail, state=OutboxState.SENT, attempts=1, sent_at=NOW.astimezone(SHANGHAI), last_error=""
    )
    store.save_outgoing(sent)
    loaded = reopen(store).get_outgoing(mail.id)
    assert loaded == sent
    assert loaded.state is OutboxState.SENT
    assert loaded.sent_at is not None and loaded.sent_at.utcoffset() == timedelta(hours=8)
    assert store.outbox(OutboxState.SENT) == [sent]
    assert store.outbox(OutboxState.QUEUED) == []


def test_quarantine_round_trip(store: Store) -> None:
    record = QuarantineRecord(
        id="Q000001",
        raw_sha256=SHA_A,
        reason="delivery status notification that matches no ticket",
        source="imap:desk@imap.example/INBOX:7",
        created=NOW,
        message_id="<dsn@mx.example>",
        from_addr="MAILER-DAEMON@mx.example",
        subject="Undelivered Mail Returned to Sender",
    )
    store.add_quarantine(record, "mid:<dsn@mx.example>")
    assert reopen(store).quarantine() == [record]


def test_a_quarantined_mail_is_released_exactly_once(store: Store) -> None:
    record = QuarantineRecord(
        id="Q000001", raw_sha256=SHA_A, reason="too big", source="imap:x:1", created=NOW
    )
    store.add_quarantine(record, "mid:<big@qq.example>")
    assert store.dedupe_destination("mid:<big@qq.example>") == "quarantine"
    other = reopen(store)  # a second process on the same database
    claimed = store.claim_release("Q000001", NOW + timedelta(hours=1))
    assert claimed is not None and claimed.released_at == NOW + timedelta(hours=1)
    assert other.claim_release("Q000001", NOW + timedelta(hours=2)) is None
    assert store.claim_release("Q000001", NOW + timedelta(hours=3)) is None
    assert store.dedupe_destination("mid:<big@qq.example>") is None  # free to be taken in
    store.note_release(replace(claimed, released_as="PFX-2026-000009"))
    assert other.quarantined("Q000001") == replace(claimed, released_as="PFX-2026-000009")
    with pytest.raises(NotFoundError):
        store.claim_release("Q000404", NOW)


def test_a_mail_with_the_longest_message_id_is_kept_and_deduplicated(store: Store) -> None:
    longest = "<" + "x" * 880 + "@qq.example>"  # 900 characters inside the brackets: kept
    mail = parse(f"From: a@qq.example\r\nMessage-ID: {longest}\r\n\r\nhi\r\n".encode())
    assert mail.message_id == longest and len(mail.dedupe_key) <= 128
    store.add_message(make_message(message_id=longest, dedupe_key=mail.dedupe_key))
    assert reopen(store).dedupe_destination(mail.dedupe_key) == "processed"


def test_records_survive_json_and_ignore_unknown_keys() -> None:
    message = make_message()
    record = json.loads(json.dumps(to_record(message)))
    record["field_from_a_newer_schema"] = 1
    assert from_record(TicketMessage, record) == message


def test_missing_ticket_and_outgoing_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_ticket("PFX-2026-000404")
    assert store.find_ticket("PFX-2026-000404") is None
    with pytest.raises(NotFoundError):
        store.update_ticket(make_ticket("PFX-2026-000404"))
    with pytest.raises(NotFoundError):
        store.save_outgoing(make_outgoing("M404"))


def test_update_ticket_replaces_the_row(store: Store) -> None:
    store.add_ticket(make_ticket())
    store.add_ticket(make_ticket("PFX-2026-000002"))
    store.update_ticket(make_ticket(status=TicketStatus.RESOLVED))
    assert store.get_ticket("PFX-2026-000001").status is TicketStatus.RESOLVED
    assert store.get_ticket("PFX-2026-000002").status is TicketStatus.OPEN
    assert [t.id for t in store.tickets("resolved")] == ["PFX-2026-000001"]


# --- ticket numbers ---------------------------------------------------------------------------


def test_ticket_ids_count_per_year_and_survive_reopening(store: Store) -> None:
    assert store.next_ticket_id("PFX", 2026) == "PFX-2026-000001"
    assert store.next_ticket_id("PFX", 2026) == "PFX-2026-000002"
    assert store.next_ticket_id("PFX", 2027) == "PFX-2027-000001"
    assert store.next_ticket_id("PFX", 2026) == "PFX-2026-000003"
    reopened = reopen(store)
    assert reopened.next_ticket_id("PFX", 2026) == "PFX-2026-000004"
    assert reopened.next_ticket_id("PFX", 2027) == "PFX-2027-000002"
    assert reopened.next_ticket_id("PFX", 2028) == "PFX-2028-000001"


def test_serials_are_independent_and_persistent(store: Store) -> None:
    assert store.next_serial("outbox") == 1
    assert store.next_serial("outbox") == 2
    assert store.next_serial("quarantine") == 1
    assert reopen(store).next_serial("outbox") == 3


# --- transactions -----------------------------------------------------------------------------


def test_failed_transaction_writes_nothing(store: Store) -> None:
    store.add_ticket(make_ticket())
    before = on_disk(store)
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        assert store.next_ticket_id("PFX", 2026) == "PFX-2026-000001"
        store.add_ticket(make_ticket("PFX-2026-000002"))
        store.add_message(make_message("PFX-2026-000002"))
        store.enqueue(make_outgoing())
        # Visible inside the transaction, not yet on disk.
        assert len(store.tickets()) == 2
        assert on_disk(store) == before
        raise RuntimeError("boom")
    assert on_disk(store) == before
    for view in (store, reopen(store, lock_timeout=1)):
        assert [t.id for t in view.tickets()] == ["PFX-2026-000001"]
        assert view.messages("PFX-2026-000002") == []
        assert view.outbox() == []
    # The counter was rolled back too, and the lock was released.
    assert reopen(store, lock_timeout=1).next_ticket_id("PFX", 2026) == "PFX-2026-000001"


def test_nested_transactions_commit_once_at_the_outer_end(store: Store) -> None:
    before, commits = on_disk(store), commits_of(store)
    with store.transaction():
        with store.transaction():
            store.add_ticket(make_ticket())
            with store.transaction():
                store.add_message(make_message())
        store.enqueue(make_outgoing())
        assert on_disk(store) == before
    assert len(commits) == 1 and on_disk(store) != before
    reopened = reopen(store)
    assert [t.id for t in reopened.tickets()] == ["PFX-2026-000001"]
    assert len(reopened.messages("PFX-2026-000001")) == 1
    assert len(reopened.outbox()) == 1


def test_failure_in_a_nested_transaction_rolls_back_the_outer_one(store: Store) -> None:
    before = on_disk(store)
    with pytest.raises(ValueError), store.transaction():
        store.add_ticket(make_ticket())
        with store.transaction():
            store.add_message(make_message())
            raise ValueError("inner")
    assert on_disk(store) == before
    assert reopen(store).tickets() == []
    assert store.tickets() == []


# --- several processes ------------------------------------------------------------------------

WRITER = """
import sys
from datetime import UTC, datetime
from pathlib import Path

from mailticket.model import Ticket, TicketStatus
from mailticket.store import Store

root, count, tag, url = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
store = Store(root, lock_timeout=60, url=url)
print("ready", flush=True)
if sys.stdin.readline().strip() != "go":
    sys.exit(3)
number = 0
while count < 0 or number < count:
    ticket_id = store.next_ticket_id("PFX", 2026)
    now = datetime.now(UTC)
    store.add_ticket(
        Ticket(
            id=ticket_id,
            status=TicketStatus.OPEN,
            customer=f"{tag}-{number}@example.com",
            customer_name=tag,
            subject="投诉 " * 40,
            language="zh",
            created=now,
            updated=now,
        )
    )
    print(ticket_id, flush=True)
    number += 1
"""


def start_writer(root: Path, count: int, tag: str, url: str = "") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(count), tag, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert process.stdout is not None
    ready = process.stdout.readline()
    if ready != "ready\n":
        process.kill()
        process.wait()
        pytest.fail(f"writer {tag} did not start: {ready!r}")
    return process


def go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()  # communicate() closes it


def test_two_processes_creating_tickets_concurrently(store: Store) -> None:
    root, url = store.root, store.url
    writers = [start_writer(root, 100, tag, url) for tag in ("a", "b")]
    for writer in writers:
        go(writer)
    reported: list[str] = []
    for writer in writers:
        out, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0
        reported += out.split()
    tickets = reopen(store).tickets()
    ids = [t.id for t in tickets]
    assert len(ids) == 200
    assert len(set(ids)) == 200
    assert sorted(ids) == [f"PFX-2026-{n:06d}" for n in range(1, 201)]
    assert sorted(reported) == sorted(ids)
    assert {t.customer_name for t in tickets} == {"a", "b"}
    assert reopen(store).next_ticket_id("PFX", 2026) == "PFX-2026-000201"


def test_sigkill_at_random_moments_never_loses_or_corrupts(store: Store) -> None:
    root, url = store.root, store.url
    rng = random.Random()
    committed: set[str] = set()
    previous = 0
    for round_number in range(10):
        writer = start_writer(root, -1, f"r{round_number}", url)
        go(writer)
        delay = rng.uniform(0.02, 0.25)
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate(timeout=30)
        assert writer.returncode == -signal.SIGKILL
        # Only lines the writer finished printing: each was printed after its write returned.
        lines = out.split("\n")
        committed.update(line for line in lines[:-1] if line)

        tickets = reopen(store, lock_timeout=5).tickets()
        ids = {t.id for t in tickets}
        context = f"round {round_number}, killed after {delay:.3f} s"
        assert len(tickets) >= previous, context
        assert committed <= ids, context
        assert len(ids) == len(tickets), context
        previous = len(tickets)
    assert previous > 0


def test_open_store_sees_writes_of_another_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    a = Store(root)
    b = Store(root)
    assert a.tickets() == []  # a now holds the file in its cache
    b.add_ticket(make_ticket())
    assert [t.id for t in a.tickets()] == ["PFX-2026-000001"]
    b.update_ticket(make_ticket(status=TicketStatus.CLOSED))
    assert a.get_ticket("PFX-2026-000001").status is TicketStatus.CLOSED
    # Counters too: a stale cache would hand out the same number twice.
    assert a.next_ticket_id("PFX", 2026) == "PFX-2026-000001"
    assert b.next_ticket_id("PFX", 2026) == "PFX-2026-000002"
    assert a.next_ticket_id("PFX", 2026) == "PFX-2026-000003"


def test_open_store_sees_writes_of_another_process(tmp_path: Path) -> None:
    root = tmp_path / "store"
    a = Store(root)
    assert a.tickets() == []
    writer = start_writer(root, 3, "other")
    go(writer)
    out, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0
    assert out.split() == ["PFX-2026-000001", "PFX-2026-000002", "PFX-2026-000003"]
    assert len(a.tickets()) == 3
    assert a.next_ticket_id("PFX", 2026) == "PFX-2026-000004"


# --- lookups ----------------------------------------------------------------------------------


def test_dedupe_destination(store: Store) -> None:
    store.add_message(make_message(dedupe_key="mid:<seen@163.example>"))
    store.add_quarantine(
        QuarantineRecord(id="Q1", raw_sha256=SHA_A, reason="r", source="s", created=NOW),
        f"sha:{SHA_A}",
    )
    assert store.dedupe_destination("mid:<seen@163.example>") == "processed"
    assert store.dedupe_destination(f"sha:{SHA_A}") == "quarantine"
    assert store.dedupe_destination("mid:<new@163.example>") is None
    assert store.dedupe_destination(f"sha:{SHA_B}") is None


def test_ticket_for_message_ids_finds_inbound_and_outbox_ids(store: Store) -> None:
    store.add_message(make_message("PFX-2026-000001", message_id="<in-1@163.example>"))
    store.enqueue(
        make_outgoing("M000002", ticket_id="PFX-2026-000002", message_id="<ack-2@pfx.example>")
    )
    assert store.ticket_for_message_ids(["<in-1@163.example>"]) == "PFX-2026-000001"
    assert store.ticket_for_message_ids(["<ack-2@pfx.example>"]) == "PFX-2026-000002"
    assert (
        store.ticket_for_message_ids(["<unknown@x.example>", "<ack-2@pfx.example>"])
        == "PFX-2026-000002"
    )
    assert store.ticket_for_message_ids(["<unknown@x.example>"]) is None
    assert store.ticket_for_message_ids([]) is None
    assert store.ticket_for_message_ids([""]) is None


def test_ticket_for_message_ids_honours_the_order_asked(store: Store) -> None:
    # find_ticket passes In-Reply-To first, then References newest first: the first id that is
    # known decides, whatever order the rows were stored in.
    store.add_message(
        make_message("PFX-2026-000001", message_id="<old@163.example>", dedupe_key="mid:old")
    )
    store.enqueue(
        make_outgoing("M000002", ticket_id="PFX-2026-000002", message_id="<ack-2@pfx.example>")
    )
    store.add_message(
        make_message("PFX-2026-000003", message_id="<new@163.example>", dedupe_key="mid:new")
    )
    assert (
        store.ticket_for_message_ids(["<new@163.example>", "<old@163.example>"])
        == "PFX-2026-000003"
    )
    assert (
        store.ticket_for_message_ids(["<ack-2@pfx.example>", "<old@163.example>"])
        == "PFX-2026-000002"
    )
    assert (
        store.ticket_for_message_ids(["<old@163.example>", "<ack-2@pfx.example>"])
        == "PFX-2026-000001"
    )


def test_due_outgoing(store: Store) -> None:
    now = NOW
    past, future = now - timedelta(seconds=1), now + timedelta(minutes=10)
    entries = [
        make_outgoing("queued-none", created=now - timedelta(minutes=1)),
        make_outgoing("queued-past", next_attempt=past, created=now - timedelta(minutes=5)),
        make_outgoing("queued-now", next_attempt=now, created=now - timedelta(minutes=3)),
        make_outgoing("queued-future", next_attempt=future),
        make_outgoing(
            "sending-stale",
            state=OutboxState.SENDING,
            next_attempt=past,
            created=now - timedelta(minutes=4),
        ),
        make_outgoing("sending-live", state=OutboxState.SENDING, next_attempt=future),
        make_outgoing("sent", state=OutboxState.SENT, next_attempt=past, sent_at=past),
        make_outgoing("failed", state=OutboxState.FAILED, next_attempt=past),
    ]
    for entry in entries:
        store.enqueue(entry)
    due = store.due_outgoing(now)
    # Oldest first.
    assert [m.id for m in due] == ["queued-past", "sending-stale", "queued-now", "queued-none"]
    later = [m.id for m in store.due_outgoing(now + timedelta(hours=1))]
    assert later == [
        "queued-past",
        "sending-stale",
        "queued-now",
        "queued-none",
        "queued-future",
        "sending-live",
    ]


# --- blobs ------------------------------------------------------------------------------------


def test_blobs_by_sha256(store: Store) -> None:
    place = store.put_blob(SHA_B, b"raw mail bytes")
    assert store.get_blob(SHA_B) == b"raw mail bytes"
    assert reopen(store).get_blob(SHA_B, place) == b"raw mail bytes"
    assert reopen(store).get_blob(SHA_B) == b"raw mail bytes"
    with pytest.raises(NotFoundError):
        store.get_blob(SHA_A)


def test_a_failed_savepoint_takes_its_blobs_and_writes_back_and_the_rest_commits(
    store: Store,
) -> None:
    store.add_ticket(make_ticket())
    with store.transaction():
        store.put_blob(SHA_A, b"kept")
        with pytest.raises(RuntimeError), store.savepoint():
            store.put_blob(SHA_B, b"undone")
            store.update_ticket(replace(make_ticket(), subject="undone"))
            raise RuntimeError
        assert store.get_ticket("PFX-2026-000001").subject == make_ticket().subject
    reopened = reopen(store)
    assert reopened.get_blob(SHA_A) == b"kept"
    with pytest.raises(NotFoundError):
        reopened.get_blob(SHA_B)
    assert reopened.get_ticket("PFX-2026-000001").subject == make_ticket().subject


def test_a_nested_transaction_joins_the_outer_one_without_a_savepoint(store: Store) -> None:
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with store.transaction():
        store.add_ticket(make_ticket())
        with store.transaction():
            store.put_blob(SHA_A, b"joined")
    assert not [s for s in statements if s.upper().startswith("SAVEPOINT")]
    with store.transaction(), store.savepoint():
        store.put_blob(SHA_B, b"nested")
    assert [s for s in statements if s.upper().startswith("SAVEPOINT")]
    assert reopen(store).get_blob(SHA_A) == b"joined"


@pytest.mark.parametrize(
    "name",
    [
        "../../../etc/passwd",
        "../" + "a" * 61,
        "/" + "a" * 63,
        "A" * 64,
        "g" * 64,
        "a" * 63,
        "a" * 65,
        "",
        "aa/" + "a" * 61,
    ],
)
def test_blob_names_that_are_not_sha256_are_refused(
    store: Store, tmp_path: Path, name: str
) -> None:
    with pytest.raises(StoreError, match="not a sha256"):
        store.put_blob(name, b"x")
    with pytest.raises(StoreError, match="not a sha256"):
        store.get_blob(name)
    assert [p for p in (store.root / "blobs").rglob("*") if p.is_file()] == []
    assert not (tmp_path / "etc").exists()


# --- damaged files ----------------------------------------------------------------------------


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = Store(root)
    with store.transaction():
        store._c.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StoreError, match="upgrade mailticket"):
        Store(root)


def test_the_revisions_read_from_file_names_are_alembics_own() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from mailticket.store import migrate

    config = AlembicConfig()
    config.set_main_option("script_location", str(migrate._VERSIONS.parent))
    scripts = ScriptDirectory.from_config(config)
    assert migrate.head() == scripts.get_current_head()
    assert set(migrate._revisions()) == {s.revision for s in scripts.walk_revisions()}


def test_opening_a_store_at_its_head_does_not_import_alembic(tmp_path: Path) -> None:
    Store(tmp_path / "store").close()  # created and stamped: that needs Alembic
    script = (
        "import sys; from pathlib import Path; from mailticket.store import Store;"
        f"Store(Path({str(tmp_path / 'store')!r})).close();"
        "print(sorted(m for m in sys.modules if m.startswith('alembic')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_long_message_texts_round_trip_whole(store: Store) -> None:
    long_text = "我在11月24日充值了500元，银行已扣款但余额没有变化。" * 400
    store.add_ticket(make_ticket())
    store.add_message(replace(make_message(), text=long_text, quoted="> 短"))
    [message] = reopen(store).messages("PFX-2026-000001")
    assert (message.text, message.quoted) == (long_text, "> 短")


def test_a_second_message_with_one_dedupe_key_is_refused_by_the_database(store: Store) -> None:
    store.add_ticket(make_ticket())
    store.add_message(make_message())
    with pytest.raises(StoreError, match="duplicate"):
        store.add_message(make_message(message_id="<other@163.example>"))
    assert len(store.messages("PFX-2026-000001")) == 1
    assert store.dedupe_destination(make_message().dedupe_key) == "processed"


def test_a_second_outgoing_mail_with_one_message_id_is_refused(store: Store) -> None:
    store.enqueue(make_outgoing("M000001", message_id="<same@pfx.example>"))
    with pytest.raises(StoreError, match="duplicate"):
        store.enqueue(make_outgoing("M000002", message_id="<same@pfx.example>"))
    assert [m.id for m in store.outbox()] == ["M000001"]


def test_the_database_file_and_its_folder_are_its_users_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "new" / "store")
    store.add_ticket(make_ticket())
    assert (store.root.stat().st_mode & 0o777) == 0o700
    for path in store.root.iterdir():  # mailticket.db and its -wal/-shm companions
        assert (path.stat().st_mode & 0o777) == 0o600, path.name


def test_of_two_senders_that_read_the_same_due_mail_only_one_claims_it(store: Store) -> None:
    store.enqueue(make_outgoing())
    other = reopen(store)
    [seen_here], [seen_there] = store.due_outgoing(NOW), other.due_outgoing(NOW)
    lease = {"state": OutboxState.SENDING, "lease_taken": NOW, "attempts": 1}
    lease["next_attempt"] = NOW + timedelta(seconds=300)
    assert store.claim_outgoing(replace(seen_here, lease_holder="a 1 t", **lease), seen_here)
    assert not other.claim_outgoing(replace(seen_there, lease_holder="b 2 u", **lease), seen_there)
    claimed = other.get_outgoing("M000001")
    assert (claimed.lease_holder, claimed.lease_taken) == ("a 1 t", NOW)
