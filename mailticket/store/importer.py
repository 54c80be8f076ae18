"""`mailticket db import PATH`: a store of the old format (journal, snapshots, packs, archive,
old blob folders) copied into the configured database, losing nothing. The old format is read
by `legacy` alone, and only from here."""

from __future__ import annotations

from pathlib import Path

from mailticket.errors import NotFoundError, StoreError
from mailticket.model import QuarantineRecord, from_record
from mailticket.store import schema
from mailticket.store.base import StoreBase


def import_legacy(path: Path, store: StoreBase) -> dict[str, int]:
    """Copy everything in one transaction; refuse a database that already holds tickets.
    The SLA thresholds each ticket fired go to `sla_fired` with it (`add_ticket`)."""
    from mailticket.store import legacy
    from mailticket.store.listing import ListingStore, TicketFilter
    from mailticket.store.outbox import OutboxStore

    markers = ("CURRENT", "journal-0.log", "snapshot-0.json", "mailticket.json")
    if not any((path / name).exists() for name in markers):
        raise StoreError(f"{path} holds no store of the old format (no CURRENT or journal)")
    assert isinstance(store, ListingStore) and isinstance(store, OutboxStore)
    old = legacy.Store(path)
    meta = old._meta()
    counts = dict.fromkeys(("tickets", "messages", "outbox", "quarantine", "blobs"), 0)
    counts["blobs_missing"] = 0
    with store.transaction():
        if store.list_tickets(TicketFilter(limit=1)):
            raise StoreError(
                f"the store {store.where} has tickets already: import into an empty one"
            )
        hashes: set[str] = set()
        for ticket in sorted(old.tickets(), key=lambda t: (t.created, t.id)):  # made order
            store.add_ticket(ticket)
            counts["tickets"] += 1
            for message in old.messages(ticket.id):
                store.add_message(message)
                counts["messages"] += 1
                hashes.update(a.sha256 for a in message.attachments if not a.too_large)
                hashes.add(message.raw_sha256)
        for mail in old.outbox():
            store.enqueue(mail)
            counts["outbox"] += 1
        for record in old._tables.docs["quarantine"].values():
            quarantined = from_record(QuarantineRecord, record)
            store.add_quarantine(quarantined, record.get("dedupe_key", ""))
            hashes.add(quarantined.raw_sha256)
            counts["quarantine"] += 1
        for sha256 in sorted(h for h in hashes if h):
            try:
                store.put_blob(sha256, old.get_blob(sha256))
                counts["blobs"] += 1
            except NotFoundError:
                counts["blobs_missing"] += 1
        _small_tables(store, meta)
    return counts


def _small_tables(store: StoreBase, meta: dict[str, object]) -> None:
    """Counters, serials, marks (the Message-ID secret among them) and IMAP positions."""
    c = store._c
    for year, number in dict(meta.get("ticket_counters", {}) or {}).items():  # type: ignore[call-overload]
        c.execute(schema.counters.insert().values(name=f"ticket:{year}", value=int(number)))
    for name, number in dict(meta.get("serials", {}) or {}).items():  # type: ignore[call-overload]
        c.execute(schema.counters.insert().values(name=f"serial:{name}", value=int(number)))
    for name, value in dict(meta.get("marks", {}) or {}).items():  # type: ignore[call-overload]
        store.set_mark(name, str(value))
    for key, position in dict(meta.get("imap", {}) or {}).items():  # type: ignore[call-overload]
        store.save_imap_position(key, dict(position))
