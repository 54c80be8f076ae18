"""The store at scale (issue 14 items 2, 5): migration 0002 on a database with data, the
`sla_fired` table, texts left unread, paging and filtering in SQL, the report's ranges."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from test_store import NOW, make_message, make_outgoing, make_ticket, reopen, store  # noqa: F401

from mailticket.errors import NotFoundError, StoreError
from mailticket.model import OutboxState, QuarantineRecord, TicketStatus, to_record
from mailticket.store import Store, TicketFilter, migrate, schema
from mailticket.store.engine import open_engine

# --- migration 0002 ---------------------------------------------------------------------------


def _url(request: pytest.FixtureRequest, engine: str, tmp_path: Path) -> str:
    if engine == "postgresql":
        return str(request.getfixturevalue("postgres").new_database())
    return f"sqlite:///{tmp_path / 'store' / 'mailticket.db'}"


def _database_at_0001(url: str) -> None:
    """A database as the 0001 code left it: every text and `sla_fired` inside the JSON."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            command.upgrade(migrate._alembic_config(connection), "0001")
        old = sa.MetaData()
        tickets = sa.Table("tickets", old, autoload_with=engine)
        messages = sa.Table("messages", old, autoload_with=engine)
        quarantine = sa.Table("quarantine", old, autoload_with=engine)
        with engine.begin() as connection:
            for number in (1, 2):
                ticket = make_ticket(
                    f"PFX-2026-00000{number}",
                    category="recharge" if number == 1 else "",
                    assignee="wang@pfx.example" if number == 1 else "",
                    sla_fired=("remind-50", "escalate") if number == 1 else (),
                    resolved_at=NOW + timedelta(days=1) if number == 2 else None,
                )
                doc = to_record(ticket)
                connection.execute(sa.insert(tickets).values(
                    id=ticket.id, status=doc["status"], updated="x", check_at=None, doc=doc
                ))  # fmt: skip
                message = to_record(make_message(ticket.id, dedupe_key=f"k{number}"))
                connection.execute(sa.insert(messages).values(
                    ticket_id=ticket.id, message_id=message["message_id"],
                    dedupe_key=message["dedupe_key"], doc=message,
                ))  # fmt: skip
            held = to_record(QuarantineRecord("Q1", "a" * 64, "unparsable", "imap", NOW))
            connection.execute(sa.insert(quarantine).values(id="Q1", dedupe_key="", doc=held))
    finally:
        engine.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_0001_database_with_data_is_upgraded_losing_nothing(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _url(request, engine, tmp_path)
    _database_at_0001(url)
    upgraded = Store(tmp_path / "store", url=url)  # opening migrates, as the daemon does
    try:
        first = upgraded.get_ticket("PFX-2026-000001")
        assert first == make_ticket(
            "PFX-2026-000001",
            category="recharge",
            assignee="wang@pfx.example",
            sla_fired=("remind-50", "escalate"),
        )
        assert upgraded.messages(first.id) == [make_message(first.id, dedupe_key="k1")]
        assert upgraded.messages(first.id, bodies=False)[0].text == ""
        assert not upgraded.fire_threshold(first.id, "escalate")  # the moved row holds
        with upgraded.engine.connect() as connection:
            assert migrate.state(connection).current == "0002"
            docs = connection.execute(sa.select(schema.tickets.c.doc)).scalars().all()
            texts = connection.execute(sa.select(schema.messages.c.doc)).scalars().all()
        assert all("sla_fired" not in d for d in docs)
        assert all("text" not in d and "quoted" not in d for d in texts)
        found = upgraded.list_tickets(TicketFilter(category="recharge"))
        assert [t.id for t in found] == ["PFX-2026-000001"]
        unassigned = upgraded.list_tickets(TicketFilter(assignee=""))
        assert [t.id for t in unassigned] == ["PFX-2026-000002"]
        day = NOW + timedelta(days=1)
        touched = upgraded.tickets_touched(day - timedelta(hours=1), day + timedelta(hours=1))
        assert [t.id for t in touched] == ["PFX-2026-000002"]  # by its resolved_at column
        assert [q.id for q in upgraded.quarantine_between(NOW, day)] == ["Q1"]
    finally:
        upgraded.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_migrations_make_exactly_the_schema_the_code_declares(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """0001 + 0002 applied one by one give what `create_all` gives a fresh database."""
    url = _url(request, engine, tmp_path)
    migrated = open_engine(url)
    try:
        with migrated.connect() as connection, connection.begin():
            command.upgrade(migrate._alembic_config(connection), "head")
        with migrated.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    finally:
        migrated.dispose()
    assert differences == []


# --- sla_fired --------------------------------------------------------------------------------


def test_a_threshold_fires_once_per_ticket(store: Store) -> None:  # noqa: F811
    store.add_ticket(make_ticket())
    assert store.fire_threshold("PFX-2026-000001", "remind-50")
    assert not store.fire_threshold("PFX-2026-000001", "remind-50")
    assert store.fire_threshold("PFX-2026-000002", "remind-50")  # per ticket
    other = reopen(store)  # another daemon on the same database
    assert not other.fire_threshold("PFX-2026-000001", "remind-50")
    assert other.get_ticket("PFX-2026-000001").sla_fired == ("remind-50",)


def test_sla_fired_round_trips_in_order_outside_the_json(store: Store) -> None:  # noqa: F811
    store.add_ticket(make_ticket(sla_fired=("remind-80",)))
    ticket = store.get_ticket("PFX-2026-000001")
    store.update_ticket(replace(ticket, sla_fired=(*ticket.sla_fired, "escalate", "delay-1")))
    assert store.get_ticket(ticket.id).sla_fired == ("remind-80", "escalate", "delay-1")
    assert store.tickets()[0].sla_fired == ("remind-80", "escalate", "delay-1")
    with store.engine.connect() as connection:
        doc = connection.execute(sa.select(schema.tickets.c.doc)).scalar_one()
        rows = connection.execute(sa.select(sa.func.count()).select_from(schema.sla_fired))
        assert "sla_fired" not in doc and rows.scalar_one() == 3


def test_the_database_refuses_a_second_row_for_one_threshold(store: Store) -> None:  # noqa: F811
    store.fire_threshold("PFX-2026-000001", "escalate")
    with pytest.raises(StoreError, match="duplicate"), store.transaction():
        store._c.execute(
            sa.insert(schema.sla_fired).values(ticket_id="PFX-2026-000001", threshold="escalate")
        )


# --- texts apart ------------------------------------------------------------------------------


def test_messages_without_bodies_leave_the_text_columns_unread(store: Store) -> None:  # noqa: F811
    store.add_ticket(make_ticket())
    store.add_message(make_message(text="正文" * 50_000, quoted="> 旧邮件"))
    statements: list[str] = []
    sa.event.listen(
        store.engine, "before_cursor_execute", lambda *a: statements.append(a[2].lower())
    )
    (headers,) = store.messages("PFX-2026-000001", bodies=False)
    assert (headers.text, headers.quoted, headers.subject) == ("", "", "充值未到账")
    reads = [s for s in statements if "from messages" in s]
    assert reads and all("messages.text" not in s and "messages.quoted" not in s for s in reads)
    (whole,) = store.messages("PFX-2026-000001")
    assert whole == make_message(text="正文" * 50_000, quoted="> 旧邮件")


# --- tickets list in SQL ----------------------------------------------------------------------


def _fill(db: Store, count: int) -> list[str]:
    """`count` tickets an hour apart; every third pending, categories and assignees mixed."""
    ids = []
    with db.transaction():
        for n in range(count):
            ticket = make_ticket(
                f"PFX-2026-{n + 1:06d}",
                created=NOW + timedelta(hours=n),
                status=TicketStatus.PENDING if n % 3 == 0 else TicketStatus.OPEN,
                category=("recharge", "refund")[n % 2],
                assignee="" if n % 4 == 0 else "wang@pfx.example",
            )
            db.add_ticket(ticket)
            ids.append(ticket.id)
    return ids


def _ids(db: Store, **wanted: Any) -> list[str]:
    return [t.id for t in db.list_tickets(TicketFilter(**wanted))]


def test_list_is_newest_first_paged_by_offset_and_cursor(store: Store) -> None:  # noqa: F811
    ids = _fill(store, 12)
    newest_first = ids[::-1]
    assert _ids(store, limit=5) == newest_first[:5]
    assert _ids(store, limit=5, offset=5) == newest_first[5:10]
    assert _ids(store, limit=5, before=newest_first[4]) == newest_first[5:10]
    assert _ids(store, limit=50, before=newest_first[9]) == newest_first[10:]
    with pytest.raises(NotFoundError, match="cursor"):
        store.list_tickets(TicketFilter(before="PFX-2026-999999"))


def test_same_received_time_pages_by_the_order_made(store: Store) -> None:  # noqa: F811
    with store.transaction():
        for n in range(1, 6):
            store.add_ticket(make_ticket(f"PFX-2026-{n:06d}"))  # all at NOW
    first = _ids(store, limit=2)
    assert first == ["PFX-2026-000005", "PFX-2026-000004"]
    assert _ids(store, limit=2, before=first[-1]) == ["PFX-2026-000003", "PFX-2026-000002"]


def test_list_filters_in_sql(store: Store) -> None:  # noqa: F811
    ids = _fill(store, 12)
    by_number = dict(enumerate(ids))
    expect = lambda keep: [by_number[n] for n in range(11, -1, -1) if keep(n)]  # noqa: E731
    assert _ids(store, status="pending") == expect(lambda n: n % 3 == 0)
    assert _ids(store, category="refund") == expect(lambda n: n % 2 == 1)
    assert _ids(store, assignee="") == expect(lambda n: n % 4 == 0)
    assert _ids(store, assignee="wang@pfx.example", status="open", category="recharge") == expect(
        lambda n: n % 4 != 0 and n % 3 != 0 and n % 2 == 0
    )
    assert _ids(store, since=NOW + timedelta(hours=9)) == expect(lambda n: n >= 9)
    assert _ids(store, status="closed") == []


def test_a_change_of_category_or_assignee_moves_the_ticket_between_filters(
    store: Store,  # noqa: F811
) -> None:
    store.add_ticket(make_ticket(category="recharge"))
    ticket = store.get_ticket("PFX-2026-000001")
    store.update_ticket(replace(ticket, category="refund", assignee="li@pfx.example"))
    assert _ids(store, category="recharge") == []
    assert _ids(store, category="refund", assignee="li@pfx.example") == [ticket.id]


# --- the report's ranges, the outbox counts ---------------------------------------------------


def test_tickets_touched_by_received_resolved_or_closed(store: Store) -> None:  # noqa: F811
    start, end = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
    inside, before, after = start + timedelta(days=3), start - timedelta(days=9), end
    with store.transaction():
        store.add_ticket(make_ticket("PFX-2026-000001", created=inside))
        store.add_ticket(make_ticket("PFX-2026-000002", created=before, resolved_at=inside))
        store.add_ticket(make_ticket("PFX-2026-000003", created=before, closed_at=inside))
        store.add_ticket(make_ticket("PFX-2026-000004", created=before, resolved_at=before))
        store.add_ticket(make_ticket("PFX-2026-000005", created=after))  # end is exclusive
        store.add_ticket(make_ticket("PFX-2026-000006", created=start))  # start is inclusive
    found = [t.id for t in store.tickets_touched(start, end)]
    assert found == ["PFX-2026-000001", "PFX-2026-000002", "PFX-2026-000003", "PFX-2026-000006"]


def test_outbox_counts_every_state_without_loading_rows(store: Store) -> None:  # noqa: F811
    store.enqueue(make_outgoing("M000001"))
    store.enqueue(make_outgoing("M000002", state=OutboxState.FAILED))
    store.enqueue(make_outgoing("M000003", state=OutboxState.FAILED, ticket_id="PFX-2026-2"))
    counts = store.outbox_counts()
    assert counts == {"queued": 1, "sending": 0, "sent": 0, "failed": 2}
    failed = store.outbox_of_tickets(["PFX-2026-000001"], OutboxState.FAILED)
    assert [m.id for m in failed] == ["M000002"]
