"""The store: TinyDB tables in one JSON file, crash-safe and shared by the daemon and the CLI.

TinyDB's stock `JSONStorage` rewrites its file in place (a crash mid-write corrupts it) and
re-reads it on every query. `AtomicJSONStorage` writes a temporary file, fsyncs it and renames it
over the old one, and keeps the parsed data in memory for as long as the file on disk is unchanged.
Every operation holds a file lock; a `transaction()` defers all of its writes to one rename at the
end, so a pipeline step (ticket + message + outbox entry) lands whole or not at all.

Raw mails and attachments are blobs on disk named by their sha256, never inside the JSON.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from tinydb import Query
from tinydb.storages import Storage
from tinydb.table import Table

from mailticket.errors import NotFoundError, StoreBusyError, StoreError
from mailticket.model import (
    OutboxState,
    OutgoingMail,
    QuarantineRecord,
    Ticket,
    TicketMessage,
    from_record,
    to_record,
)

SCHEMA_VERSION = 1


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_dir(path.parent)


class AtomicJSONStorage(Storage):
    """A TinyDB storage that never leaves a half-written file and re-reads only after a change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Inode, mtime and size alone can repeat (ext4 reuses inodes; coarse clocks): each
        # writer also leaves a random token beside the file, and a reader compares all four.
        self.token_path = path.with_name(path.name + ".token")
        self._data: dict[str, Any] | None = None
        self._signature: tuple[int, int, int, bytes] | None = None
        self._deferred = False
        self._dirty = False

    def _current_signature(self) -> tuple[int, int, int, bytes] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        try:
            token = self.token_path.read_bytes()
        except FileNotFoundError:
            token = b""
        return (st.st_ino, st.st_mtime_ns, st.st_size, token)

    def read(self) -> dict[str, Any] | None:
        if self._deferred and self._data is not None:
            return self._data
        signature = self._current_signature()
        if signature is None:
            self._data, self._signature = None, None
            return None
        if signature != self._signature or self._data is None:
            try:
                data = json.loads(self.path.read_bytes() or b"{}")
            except (OSError, ValueError) as exc:
                raise StoreError(f"cannot read the store {self.path}: {exc}") from None
            if not isinstance(data, dict):
                raise StoreError(f"cannot read the store {self.path}: not a JSON object")
            self._data = data
            self._signature = signature
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data = data
        if self._deferred:
            self._dirty = True
            return
        self._flush()

    def _flush(self) -> None:
        assert self._data is not None
        encoded = json.dumps(self._data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            write_atomically(self.path, encoded)
            self.token_path.write_bytes(secrets.token_bytes(8))
        except OSError as exc:
            self.forget()
            raise StoreError(f"cannot write the store {self.path}: {exc}") from None
        self._signature = self._current_signature()

    def begin(self) -> None:
        # Check the file before deferring: `read()` trusts the cache while deferred, and another
        # process may have written since this transaction's lock was last held.
        self._deferred, self._dirty = False, False
        self.read()
        self._deferred = True

    def commit(self) -> None:
        self._deferred = False
        if self._dirty:
            self._dirty = False
            self._flush()

    def forget(self) -> None:
        """Drop what is in memory (after a failed transaction): the file on disk is the truth."""
        self._deferred = self._dirty = False
        self._data, self._signature = None, None

    def close(self) -> None:
        pass


class Store:
    """Domain operations over the tables; every public method runs under the store's lock."""

    def __init__(self, root: Path, *, lock_timeout: float = 30.0) -> None:
        self.root = root
        try:
            (root / "blobs").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store directory {root}: {exc}") from None
        self.lock_timeout = lock_timeout
        self.storage = AtomicJSONStorage(root / "mailticket.json")
        self._lock_fd: int | None = None
        self._depth = 0
        with self.transaction():
            meta = self._meta()
            if "schema_version" not in meta:
                self._set_meta(schema_version=SCHEMA_VERSION)
            elif meta["schema_version"] > SCHEMA_VERSION:
                raise StoreError(
                    f"the store {root} has schema {meta['schema_version']}, newer than this "
                    f"mailticket ({SCHEMA_VERSION}): upgrade mailticket"
                )

    # --- locking and transactions ----------------------------------------------------------

    def _acquire(self) -> None:
        fd = os.open(self.root / "mailticket.lock", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StoreBusyError(
                        f"the store {self.root} is locked by another process "
                        f"for more than {self.lock_timeout:g} s"
                    ) from None
                time.sleep(0.01)
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside land in one atomic file replace, or none of them do."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._acquire()
        self._depth = 1
        try:
            self.storage.begin()
            yield self
            self.storage.commit()
        except BaseException:
            self.storage.forget()
            raise
        finally:
            self._depth = 0
            self._release()

    def _table(self, name: str) -> Table:
        # No query cache and a fresh next-id: another process may have written since.
        return Table(self.storage, name, cache_size=0)

    # --- meta -------------------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        rows = self._table("meta").all()
        return dict(rows[0]) if rows else {}

    def _set_meta(self, **values: Any) -> None:
        table = self._table("meta")
        if table.all():
            table.update(values)
        else:
            table.insert(values)

    def next_ticket_id(self, prefix: str, year: int) -> str:
        """`OKW-2026-000123`: readable on the phone, numbered per year, never reused."""
        with self.transaction():
            counters = self._meta().get("ticket_counters", {})
            number = counters.get(str(year), 0) + 1
            counters[str(year)] = number
            self._set_meta(ticket_counters=counters)
        return f"{prefix}-{year}-{number:06d}"

    def next_serial(self, name: str) -> int:
        with self.transaction():
            serials = self._meta().get("serials", {})
            serials[name] = serials.get(name, 0) + 1
            self._set_meta(serials=serials)
        return serials[name]

    # --- blobs ------------------------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise StoreError(f"not a sha256 digest: {sha256[:80]!r}")
        return self.root / "blobs" / sha256[:2] / sha256

    def put_blob(self, sha256: str, data: bytes) -> Path:
        """Keep bytes by their hash; writing the same content twice is a no-op."""
        path = self.blob_path(sha256)
        if path.exists():
            return path
        try:
            path.parent.mkdir(exist_ok=True)
            write_atomically(path, data)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc}") from None
        return path

    def get_blob(self, sha256: str) -> bytes:
        try:
            return self.blob_path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no blob {sha256}") from None

    # --- tickets and messages ---------------------------------------------------------------

    def add_ticket(self, ticket: Ticket) -> None:
        with self.transaction():
            self._table("tickets").insert(to_record(ticket))

    def update_ticket(self, ticket: Ticket) -> None:
        with self.transaction():
            updated = self._table("tickets").update(to_record(ticket), Query().id == ticket.id)
            if not updated:
                raise NotFoundError(f"no ticket {ticket.id}")

    def get_ticket(self, ticket_id: str) -> Ticket:
        with self.transaction():
            row = self._table("tickets").get(Query().id == ticket_id)
        if row is None:
            raise NotFoundError(f"no ticket {ticket_id}")
        return from_record(Ticket, dict(row))

    def find_ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return self.get_ticket(ticket_id)
        except NotFoundError:
            return None

    def tickets(self, status: str | None = None) -> list[Ticket]:
        with self.transaction():
            table = self._table("tickets")
            rows = table.search(Query().status == status) if status else table.all()
        return [from_record(Ticket, dict(r)) for r in rows]

    def add_message(self, message: TicketMessage) -> None:
        with self.transaction():
            self._table("messages").insert(to_record(message))

    def messages(self, ticket_id: str) -> list[TicketMessage]:
        with self.transaction():
            rows = self._table("messages").search(Query().ticket_id == ticket_id)
        return [from_record(TicketMessage, dict(r)) for r in rows]

    def dedupe_destination(self, key: str) -> str | None:
        """ "processed" or "quarantine" when this mail was taken in before, else None."""
        with self.transaction():
            if self._table("messages").contains(Query().dedupe_key == key):
                return "processed"
            if self._table("quarantine").contains(Query().dedupe_key == key):
                return "quarantine"
        return None

    def ticket_for_message_ids(self, message_ids: list[str]) -> str | None:
        """The ticket of the first of these Message-IDs (ours or theirs) that is known here."""
        wanted = [m for m in message_ids if m]
        if not wanted:
            return None
        found: dict[str, str] = {}
        with self.transaction():
            for table in ("messages", "outbox"):
                for row in self._table(table).search(Query().message_id.one_of(wanted)):
                    found.setdefault(row["message_id"], str(row["ticket_id"]))
        return next((found[m] for m in wanted if m in found), None)

    # --- outbox -----------------------------------------------------------------------------

    def enqueue(self, mail: OutgoingMail) -> None:
        with self.transaction():
            self._table("outbox").insert(to_record(mail))

    def outbox(self, state: OutboxState | None = None) -> list[OutgoingMail]:
        with self.transaction():
            table = self._table("outbox")
            rows = table.search(Query().state == state.value) if state else table.all()
        return [from_record(OutgoingMail, dict(r)) for r in rows]

    def get_outgoing(self, outbox_id: str) -> OutgoingMail:
        with self.transaction():
            row = self._table("outbox").get(Query().id == outbox_id)
        if row is None:
            raise NotFoundError(f"no outbox entry {outbox_id}")
        return from_record(OutgoingMail, dict(row))

    def save_outgoing(self, mail: OutgoingMail) -> None:
        with self.transaction():
            if not self._table("outbox").update(to_record(mail), Query().id == mail.id):
                raise NotFoundError(f"no outbox entry {mail.id}")

    def due_outgoing(self, now: datetime) -> list[OutgoingMail]:
        """Queued mail whose time has come, and `sending` mail whose sender died mid-send.

        A sender sets `next_attempt` of a mail it starts sending to when it would count as
        abandoned, so both cases are one comparison.
        """
        due = [
            mail
            for mail in self.outbox()
            if mail.state in (OutboxState.QUEUED, OutboxState.SENDING)
            and (mail.next_attempt is None or mail.next_attempt <= now)
        ]
        return sorted(due, key=lambda m: m.created)

    def automatic_replies_since(self, address: str, kinds: set[str], since: datetime) -> int:
        """How many automatic mails of these kinds went (or wait to go) to `address` since."""
        address = address.lower()
        with self.transaction():
            rows = self._table("outbox").search(Query().kind.one_of(sorted(kinds)))
        return sum(
            1
            for row in rows
            if datetime.fromisoformat(row["created"]) >= since
            and address in (r.lower() for r in row["rcpt_to"])
        )

    def has_identical_since(self, ticket_id: str, fingerprint: str, since: datetime) -> bool:
        with self.transaction():
            rows = self._table("outbox").search(
                (Query().ticket_id == ticket_id) & (Query().fingerprint == fingerprint)
            )
        return any(datetime.fromisoformat(row["created"]) >= since for row in rows)

    # --- quarantine -------------------------------------------------------------------------

    def add_quarantine(self, record: QuarantineRecord, dedupe_key: str) -> None:
        with self.transaction():
            self._table("quarantine").insert({**to_record(record), "dedupe_key": dedupe_key})

    def quarantine(self) -> list[QuarantineRecord]:
        with self.transaction():
            rows = self._table("quarantine").all()
        return [from_record(QuarantineRecord, dict(r)) for r in rows]

    # --- IMAP position ----------------------------------------------------------------------

    def imap_position(self, key: str) -> dict[str, Any]:
        """Where intake stands in one IMAP folder: UIDVALIDITY, last UID, moves still owed."""
        with self.transaction():
            return dict(self._meta().get("imap", {}).get(key, {}))

    def save_imap_position(self, key: str, position: dict[str, Any]) -> None:
        with self.transaction():
            positions = self._meta().get("imap", {})
            positions[key] = position
            self._set_meta(imap=positions)
