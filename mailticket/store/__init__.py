"""The store: tickets, messages, outbox, quarantine and blobs in SQL, through SQLAlchemy Core.

SQLite (one file under `[storage] path`) is the embedded default; PostgreSQL serves several
daemons on one mailbox. Both run the same statements: `schema` defines the tables, `engine`
opens them, `base` holds transactions and the small tables, `tickets` and `outbox` the rest,
`listing` the reads that must stay fast at 100,000 tickets (paging, the report's ranges).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailticket.private import make_private
from mailticket.store.leader import LeaderStore
from mailticket.store.listing import ListingStore, TicketFilter
from mailticket.store.outbox import OutboxStore

if TYPE_CHECKING:
    from mailticket.config import Config


class Store(ListingStore, OutboxStore, LeaderStore):
    """Domain operations over the tables; every public method runs in a transaction."""


def open_store(config: Config) -> Store:
    """The store `[storage]` names: its URL, password and lock timeout; its folder on disk
    made its user's alone first (repaired, with a log line, when it was not)."""
    make_private(config.storage_path)
    return Store(
        config.storage_path,
        url=config.storage.url,
        password=config.password("storage"),
        lock_timeout=config.storage.lock_timeout,
    )


__all__ = ["Store", "TicketFilter", "open_store"]
