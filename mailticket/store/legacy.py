"""The previous store format, kept only so that `mailticket db import` can read it (over
~500 lines because it is that store as it was, unchanged, so an import reads exactly what the
old daemon wrote; nothing else imports it).

The old store: tables of JSON documents in memory, made durable by a write-ahead journal.

Why not TinyDB's tables: every TinyDB write copies the whole table and its stock storage
rewrites the whole file, so a desk with years of tickets would pay for all of them on every
mail (measured here: 20 ms per mail at 1,000 tickets, 140 ms at 10,000). This store keeps
TinyDB's model (documents as plain JSON, readable by hand) and makes a write cost what it
changes:

- `snapshot-G.json` holds every table as of a checkpoint; `journal-G.log` holds each committed
  transaction since, one line each (`<crc32> <json>`), appended and fsynced at commit;
  `CURRENT` names the generation G in use.
- A crash leaves at worst a torn last line, which fails its checksum and is cut off by the next
  writer: a transaction is in the journal whole or not at all.
- A checkpoint writes a new snapshot and an empty journal beside the old pair, then replaces
  `CURRENT` (the atomic step) and removes the old pair.
- Every operation holds a file lock; before it reads, a process replays the journal lines other
  processes appended since it last looked, so the daemon and the CLI share one store.
- Indexes (Message-IDs, dedupe keys, a ticket's messages, the outbox still owed) live in memory
  beside the tables, so lookups do not scan.

Raw mails, attachments and long message texts are blobs, never inside the JSON: appended to
`packs/pack-N.dat` (an index line each in `pack-N.idx`) and fsynced once per transaction before
its journal line, so a batch of mails costs three fsyncs however many blobs it writes (one file
and two fsyncs per blob cost 2.7 ms a mail in the benchmark). Blobs of older stores, one file
each under `blobs/`, are still read.

A transaction nested in another is a savepoint: if it fails, its own writes (and blobs) are
undone and the outer one goes on, so intake can take in a whole IMAP batch in one transaction
and still quarantine one bad mail of it.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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

SCHEMA_VERSION = 2
CHECKPOINT_BYTES = 64 * 1024 * 1024
PACK_BYTES = 256 * 1024 * 1024
_ACTIVE_OUTBOX = {OutboxState.QUEUED.value, OutboxState.SENDING.value}
_CLOCKED_STATUSES = {"open", "pending", "resolved"}
_BODY_FIELDS = ("text", "quoted")
_INLINE_BODY_BYTES = 512

Record = dict[str, Any]


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


def _utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).astimezone(UTC)


def _check_sha256(sha256: str) -> None:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise StoreError(f"not a sha256 digest: {sha256[:80]!r}")


def _append_at(path: Path, offset: int, data: bytes) -> None:
    """Write `data` at `offset` and fsync: bytes a dead writer left beyond it are overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
        os.fsync(fd)
    finally:
        os.close(fd)


class _Packs:
    """Append-only blob files: `pack-N.dat` holds the bytes, `pack-N.idx` a line
    `<sha256> <offset> <length>` for each, so a blob can be found by its hash alone; records
    that name a blob also keep its place (`N:offset:length`) and read it without the index."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder, self.limit = folder, limit
        self.staged: dict[str, bytes] = {}  # place -> bytes not yet written
        self.staged_by_sha: dict[str, str] = {}
        self.number = 0
        self.end = 0  # where the next staged blob goes in pack `number`

    def stage(self, sha256: str, data: bytes) -> str:
        if sha256 in self.staged_by_sha:
            return self.staged_by_sha[sha256]
        if not self.staged:
            self.number, self.end = self._current()
            if self.end >= self.limit:
                self.number, self.end = self.number + 1, 0
        place = f"{self.number}:{self.end}:{len(data)}"
        self.staged[place] = data
        self.staged_by_sha[sha256] = place
        self.end += len(data)
        return place

    def savepoint(self) -> tuple[int, int]:
        return len(self.staged), self.end

    def rollback(self, savepoint: tuple[int, int]) -> None:
        count, self.end = savepoint
        for place in list(self.staged)[count:]:
            del self.staged[place]
        for sha, place in list(self.staged_by_sha.items()):
            if place not in self.staged:
                del self.staged_by_sha[sha]

    def discard(self) -> None:
        self.staged.clear()
        self.staged_by_sha.clear()

    def _current(self) -> tuple[int, int]:
        numbers = [
            int(entry.name[5:-4])
            for entry in os.scandir(self.folder)
            if entry.name.startswith("pack-")
            and entry.name.endswith(".dat")
            and entry.name[5:-4].isdigit()
        ]
        if not numbers:
            return 1, 0
        number = max(numbers)
        return number, os.stat(self.folder / f"pack-{number}.dat").st_size

    def write(self) -> None:
        """The staged blobs, durable in pack and index, before the journal names them."""
        if not self.staged:
            return
        start = int(next(iter(self.staged)).split(":")[1])
        index = "".join(
            f"{sha} {place.split(':', 1)[1].replace(':', ' ')}\n"
            for sha, place in self.staged_by_sha.items()
        )
        data = self.folder / f"pack-{self.number}.dat"
        idx = self.folder / f"pack-{self.number}.idx"
        created = not data.exists()
        _append_at(data, start, b"".join(self.staged.values()))
        idx_end = idx.stat().st_size if idx.exists() else 0
        if idx_end:
            with idx.open("rb") as stream:
                stream.seek(idx_end - 1)
                if stream.read(1) != b"\n":  # a dead writer's torn line stays a line of its own
                    index = "\n" + index
        _append_at(idx, idx_end, index.encode("ascii"))
        if created:
            _fsync_dir(self.folder)
        self.discard()

    def read(self, place: str) -> bytes:
        if place in self.staged:
            return self.staged[place]
        try:
            number, offset, length = (int(part) for part in place.split(":"))
        except ValueError:
            raise StoreError(f"not a blob place: {place[:80]!r}") from None
        try:
            fd = os.open(self.folder / f"pack-{number}.dat", os.O_RDONLY)
        except FileNotFoundError:
            raise NotFoundError(f"no blob pack {number}") from None
        try:
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            raise StoreError(f"blob pack {number} ends before {offset + length}")
        return data

    def find(self, sha256: str) -> str | None:
        """The place of a blob by its hash: searched in the indexes, newest pack first."""
        if sha256 in self.staged_by_sha:
            return self.staged_by_sha[sha256]
        needle = sha256.encode("ascii") + b" "
        indexes = [p for p in self.folder.glob("pack-*.idx") if p.name[5:-4].isdigit()]
        for idx in sorted(indexes, key=lambda p: int(p.name[5:-4]), reverse=True):
            data = idx.read_bytes()
            at = data.find(needle)
            while at > 0 and data[at - 1 : at] != b"\n":
                at = data.find(needle, at + 1)
            if at >= 0:
                line = data[at : data.find(b"\n", at)].split()
                if len(line) == 3:
                    return f"{idx.name[5:-4]}:{int(line[1])}:{int(line[2])}"
        return None


def _encode_line(changes: list[list[Any]]) -> bytes:
    payload = json.dumps(changes, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


def _decode_lines(data: bytes) -> tuple[list[list[list[Any]]], int]:
    """The complete, intact transactions in `data`, and how many bytes they span.

    Only the last line can be torn (a writer died mid-append); a bad line with good ones
    after it is damage, not a crash, and is reported instead of cut off.
    """
    transactions, good = [], 0
    while good < len(data):
        end = data.find(b"\n", good)
        line = data[good:] if end < 0 else data[good:end]
        payload = line[9:]
        try:
            intact = line[8:9] == b" " and int(line[:8], 16) == zlib.crc32(payload)
            changes = json.loads(payload) if intact and end >= 0 else None
        except ValueError:
            changes = None
        if changes is None:
            if 0 <= end < len(data) - 1:
                raise ValueError(f"damaged transaction at byte {good}, followed by others")
            break
        transactions.append(changes)
        good = end + 1
    return transactions, good


def _remove(index: dict[str, list[str]], key: str, value: str) -> None:
    """Take `value` out of `index[key]`, and the key with its last value (archived tickets
    must not leave an empty list each behind)."""
    values = index[key]
    values.remove(value)
    if not values:
        del index[key]


class _Tables:
    """The documents of every table, and the indexes the domain queries need."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Record]] = defaultdict(dict)
        self.by_message_id: dict[str, str] = {}
        self.dedupe: dict[str, str] = {}
        self.messages_of: dict[str, list[str]] = defaultdict(list)
        self.outbox_of: dict[str, list[str]] = defaultdict(list)
        self.outbox_to: dict[str, list[str]] = defaultdict(list)  # recipient -> ids, in order
        self.active_outbox: set[str] = set()
        # The SLA sweep's index: (next_check in UTC ISO, ticket id), sorted; and tickets that
        # need a clock but were saved without one (the sweep plans them).
        self.check_order: list[tuple[str, str]] = []
        self.check_at: dict[str, str] = {}
        self.unplanned: set[str] = set()

    def put(self, table: str, key: str, record: Record | None) -> Record | None:
        """Set (or, with None, delete) one document; returns the document it replaced."""
        old = self.docs[table].get(key)
        if record is None:
            self.docs[table].pop(key, None)
        else:
            self.docs[table][key] = record
        self._reindex(table, key, old, record)
        return old

    def _reindex(self, table: str, key: str, old: Record | None, new: Record | None) -> None:
        if table == "tickets":
            self._reindex_check(key, new)
        elif table == "messages":
            if old is None and new is not None:
                self.messages_of[new["ticket_id"]].append(key)
            elif old is not None and new is None:
                _remove(self.messages_of, old["ticket_id"], key)
            for record, add in ((old, False), (new, True)):
                if record is None:
                    continue
                if record.get("message_id"):
                    self._index(self.by_message_id, record["message_id"], record["ticket_id"], add)
                if record.get("dedupe_key"):
                    self._index(self.dedupe, record["dedupe_key"], "processed", add)
        elif table == "archive":  # an archived ticket's mail still threads and dedupes
            for record, add in ((old, False), (new, True)):
                if record is None:
                    continue
                for message_id in record["message_ids"]:
                    self._index(self.by_message_id, message_id, key, add)
                for dedupe_key in record["dedupe_keys"]:
                    self._index(self.dedupe, dedupe_key, "processed", add)
        elif table == "quarantine":
            for record, add in ((old, False), (new, True)):
                if record is not None and record.get("dedupe_key"):
                    self._index(self.dedupe, record["dedupe_key"], "quarantine", add)
        elif table == "outbox":
            if old is None and new is not None:
                self.outbox_of[new["ticket_id"]].append(key)
                for recipient in new["rcpt_to"]:
                    self.outbox_to[recipient.lower()].append(key)
            elif old is not None and new is None:
                _remove(self.outbox_of, old["ticket_id"], key)
                for recipient in old["rcpt_to"]:
                    _remove(self.outbox_to, recipient.lower(), key)
            for record, add in ((old, False), (new, True)):
                if record is not None:
                    self._index(self.by_message_id, record["message_id"], record["ticket_id"], add)
            self.active_outbox.discard(key)
            if new is not None and new["state"] in _ACTIVE_OUTBOX:
                self.active_outbox.add(key)

    def _reindex_check(self, key: str, new: Record | None) -> None:
        if key in self.check_at:
            position = bisect.bisect_left(self.check_order, (self.check_at.pop(key), key))
            del self.check_order[position]
        self.unplanned.discard(key)
        if new is None:
            return
        if new.get("next_check"):
            self.check_at[key] = new["next_check"]
            bisect.insort(self.check_order, (new["next_check"], key))
        elif new.get("status") in _CLOCKED_STATUSES:
            self.unplanned.add(key)

    @staticmethod
    def _index(index: dict[str, str], key: str, value: str, add: bool) -> None:
        if add:
            index.setdefault(key, value)
        elif index.get(key) == value:
            del index[key]


class Store:
    """Domain operations over the tables; every public method runs under the store's lock."""

    def __init__(
        self,
        root: Path,
        *,
        lock_timeout: float = 30.0,
        checkpoint_bytes: int = CHECKPOINT_BYTES,
        pack_bytes: int = PACK_BYTES,
    ) -> None:
        self.root = root
        try:
            (root / "packs").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store directory {root}: {exc}") from None
        self.lock_timeout = lock_timeout
        self.checkpoint_bytes = checkpoint_bytes
        self._lock_fd: int | None = None
        self._depth = 0
        self._tables = _Tables()
        self._generation: int | None = None
        self._offset = 0
        self._changes: list[list[Any]] = []
        self._undo: list[tuple[str, str, Record | None]] = []
        self._packs = _Packs(root / "packs", pack_bytes)
        with self.transaction():
            imported = self._import_version_1()
            meta = self._meta()
            if "schema_version" not in meta:
                self._set_meta(schema_version=SCHEMA_VERSION)
            elif meta["schema_version"] > SCHEMA_VERSION:
                raise StoreError(
                    f"the store {root} has schema {meta['schema_version']}, newer than this "
                    f"mailticket ({SCHEMA_VERSION}): upgrade mailticket"
                )
        if imported:  # only once its content is committed to the journal
            os.replace(root / "mailticket.json", root / "mailticket.json.imported")

    def _import_version_1(self) -> bool:
        """Bring in a store written by mailticket 0.1 (one TinyDB file), once."""
        old = self.root / "mailticket.json"
        if self._generation != 0 or self._offset or self._doc("meta", "meta") or not old.exists():
            return False
        try:
            data = json.loads(old.read_bytes())
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the store {old} to import it: {exc}") from None
        if not isinstance(data, dict):
            raise StoreError(f"cannot read the store {old} to import it: not a JSON object")
        for record in data.get("meta", {}).values():
            self._put("meta", "meta", {**record, "schema_version": SCHEMA_VERSION})
        for table, key_field in (("tickets", "id"), ("outbox", "id"), ("quarantine", "id")):
            for record in data.get(table, {}).values():
                self._put(table, record[key_field], record)
        for record in data.get("messages", {}).values():
            number = len(self._tables.messages_of[record["ticket_id"]]) + 1
            self._put("messages", f"{record['ticket_id']}#{number:05d}", record)
        return True

    # --- files ------------------------------------------------------------------------------

    def _path(self, kind: str, generation: int) -> Path:
        return self.root / (
            f"snapshot-{generation}.json" if kind == "snapshot" else f"journal-{generation}.log"
        )

    def _current_generation(self) -> int:
        try:
            return int((self.root / "CURRENT").read_text(encoding="ascii").strip())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {self.root / 'CURRENT'}: {exc}") from None

    def _load(self, generation: int) -> None:
        """Everything from the snapshot of `generation`, then its journal from the start."""
        tables = _Tables()
        snapshot = self._path("snapshot", generation)
        try:
            data = json.loads(snapshot.read_bytes()) if snapshot.exists() else {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the store snapshot {snapshot}: {exc}") from None
        if not isinstance(data, dict):
            raise StoreError(f"cannot read the store snapshot {snapshot}: not a JSON object")
        for table, docs in data.get("tables", {}).items():
            for key, record in docs.items():
                tables.put(table, key, record)
        self._tables, self._generation, self._offset = tables, generation, 0

    def _catch_up(self) -> None:
        """Replay what other processes committed since we last looked; cut a torn tail."""
        generation = self._current_generation()
        if generation != self._generation:
            self._load(generation)
        journal = self._path("journal", generation)
        try:
            with journal.open("rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot read the store journal {journal}: {exc}") from None
        try:
            transactions, good = _decode_lines(data)
        except ValueError as exc:
            raise StoreError(f"the store journal {journal} is damaged: {exc}") from None
        for changes in transactions:
            for table, key, record in changes:
                self._tables.put(table, key, record)
        self._offset += good
        if good < len(data):  # a writer died mid-append; we hold the lock, nobody else writes
            with contextlib.suppress(OSError), journal.open("r+b") as stream:
                stream.truncate(self._offset)

    def _commit(self) -> None:
        try:
            self._packs.write()
        except OSError as exc:
            raise StoreError(f"cannot write blobs to {self.root / 'packs'}: {exc}") from None
        if not self._changes:
            return
        assert self._generation is not None
        journal = self._path("journal", self._generation)
        line = _encode_line(self._changes)
        created = not journal.exists()
        try:
            fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write ({written} of {len(line)} bytes)")
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.root)
        except OSError as exc:
            with contextlib.suppress(OSError), journal.open("r+b") as stream:
                stream.truncate(self._offset)
            raise StoreError(f"cannot write the store journal {journal}: {exc}") from None
        self._offset += len(line)
        if self._offset >= self.checkpoint_bytes:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """A new snapshot and an empty journal; `CURRENT` switches to them in one rename."""
        assert self._generation is not None
        old, new = self._generation, self._generation + 1
        snapshot = {
            "schema_version": SCHEMA_VERSION,
            "tables": {name: docs for name, docs in self._tables.docs.items() if docs},
        }
        try:
            write_atomically(
                self._path("snapshot", new),
                json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            )
            write_atomically(self._path("journal", new), b"")
            write_atomically(self.root / "CURRENT", f"{new}\n".encode("ascii"))
        except OSError as exc:
            raise StoreError(f"cannot checkpoint the store {self.root}: {exc}") from None
        self._generation, self._offset = new, 0
        for kind in ("snapshot", "journal"):
            with contextlib.suppress(OSError):
                self._path(kind, old).unlink()

    def checkpoint(self) -> None:
        """Fold the journal into a snapshot now (otherwise done when it grows large)."""
        with self.transaction():
            self._checkpoint()

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
        """All writes inside land in one journal line, or none of them do. Nested, it is a
        savepoint: a failure undoes its own writes and leaves the outer transaction going."""
        if self._depth:
            savepoint = len(self._undo), self._packs.savepoint()
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._rollback(*savepoint)
                raise
            finally:
                self._depth -= 1
            return
        self._acquire()
        self._depth = 1
        self._changes, self._undo = [], []
        try:
            self._catch_up()
            yield self
            self._commit()
        except BaseException:
            self._rollback(0, (0, 0))
            raise
        finally:
            self._changes, self._undo = [], []
            self._packs.discard()
            self._depth = 0
            self._release()

    def _rollback(self, undo_length: int, packs: tuple[int, int]) -> None:
        for table, key, old in reversed(self._undo[undo_length:]):
            self._tables.put(table, key, old)
        del self._undo[undo_length:], self._changes[undo_length:]
        self._packs.rollback(packs)

    def _put(self, table: str, key: str, record: Record | None) -> None:
        assert self._depth, "writes happen inside a transaction"
        old = self._tables.put(table, key, record)
        self._undo.append((table, key, old))
        self._changes.append([table, key, record])

    def _doc(self, table: str, key: str) -> Record | None:
        return self._tables.docs[table].get(key)

    # --- meta -------------------------------------------------------------------------------

    def _meta(self) -> Record:
        return dict(self._doc("meta", "meta") or {})

    def _set_meta(self, **values: Any) -> None:
        self._put("meta", "meta", {**self._meta(), **values})

    def next_ticket_id(self, prefix: str, year: int) -> str:
        """`OKW-2026-000123`: readable on the phone, numbered per year, never reused."""
        with self.transaction():
            counters = dict(self._meta().get("ticket_counters", {}))
            number = counters.get(str(year), 0) + 1
            counters[str(year)] = number
            self._set_meta(ticket_counters=counters)
        return f"{prefix}-{year}-{number:06d}"

    def next_serial(self, name: str) -> int:
        with self.transaction():
            serials = dict(self._meta().get("serials", {}))
            serials[name] = serials.get(name, 0) + 1
            self._set_meta(serials=serials)
        return serials[name]

    # --- blobs ------------------------------------------------------------------------------

    def put_blob(self, sha256: str, data: bytes) -> str:
        """Keep bytes by their hash; returns their place in a pack (`N:offset:length`), written
        when the transaction commits, before its journal line."""
        _check_sha256(sha256)
        with self.transaction():
            try:
                return self._packs.stage(sha256, data)
            except OSError as exc:
                raise StoreError(f"cannot find the blob pack in {self.root}: {exc}") from None

    def get_blob(self, sha256: str, place: str = "") -> bytes:
        """The bytes of a blob: at `place` when the caller kept it, else found by hash."""
        _check_sha256(sha256)
        if place:
            return self._packs.read(place)
        place = self._packs.find(sha256) or ""
        if place:
            return self._packs.read(place)
        try:  # a store older than packs kept one file per blob
            return (self.root / "blobs" / sha256[:2] / sha256).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no blob {sha256}") from None

    # --- tickets and messages ---------------------------------------------------------------

    def add_ticket(self, ticket: Ticket) -> None:
        with self.transaction():
            if self._doc("tickets", ticket.id) or self._doc("archive", ticket.id):
                raise StoreError(f"ticket {ticket.id} exists already")
            self._put("tickets", ticket.id, to_record(ticket))

    def update_ticket(self, ticket: Ticket) -> None:
        with self.transaction():
            self._restore(ticket.id)
            if self._doc("tickets", ticket.id) is None:
                raise NotFoundError(f"no ticket {ticket.id}")
            self._put("tickets", ticket.id, to_record(ticket))

    def get_ticket(self, ticket_id: str) -> Ticket:
        with self.transaction():
            record = self._doc("tickets", ticket_id)
            if record is None and self._doc("archive", ticket_id):
                record = self._archived_ticket(ticket_id)
        if record is None:
            raise NotFoundError(f"no ticket {ticket_id}")
        return from_record(Ticket, record)

    def find_ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return self.get_ticket(ticket_id)
        except NotFoundError:
            return None

    def tickets(self, status: str | None = None) -> list[Ticket]:
        """Tickets with this status (all without one); closed ones come from the archive."""
        with self.transaction():
            records = list(self._tables.docs["tickets"].values())
            if status in (None, "closed"):
                records += [self._archived_ticket(key) for key in self._tables.docs["archive"]]
        return [from_record(Ticket, r) for r in records if status is None or r["status"] == status]

    # --- the archive: closed tickets leave memory -------------------------------------------

    def archivable(self, closed_before: datetime) -> list[str]:
        """Tickets closed (and last changed) before `closed_before` with nothing left to send:
        what may move to the archive."""
        limit = closed_before.astimezone(UTC)
        with self.transaction():
            outbox_of, active = self._tables.outbox_of, self._tables.active_outbox
            return [
                key
                for key, record in self._tables.docs["tickets"].items()
                if record["status"] == "closed"
                and _utc(record["updated"]) < limit
                and not any(k in active for k in outbox_of.get(key, ()))
            ]

    def archive(self, ticket_ids: list[str]) -> None:
        """Move closed tickets out of memory: their records go to one blob each; what threading
        and dedupe need (Message-IDs, dedupe keys) stays indexed. Memory and start-up then
        follow the open tickets, not the years of closed ones."""
        with self.transaction():
            for ticket_id in ticket_ids:
                record = self._doc("tickets", ticket_id)
                if record is None or record["status"] != "closed":
                    raise StoreError(f"ticket {ticket_id} is not closed: not archived")
                self._archive(ticket_id)

    def _archive(self, ticket_id: str) -> None:
        docs = self._tables.docs
        messages = {k: docs["messages"][k] for k in self._tables.messages_of.get(ticket_id, ())}
        outbox = {k: docs["outbox"][k] for k in self._tables.outbox_of.get(ticket_id, ())}
        # The ticket apart from its history: listing the archive reads tickets only.
        ticket_at = self._stage_json(docs["tickets"][ticket_id])
        place = self._stage_json({"messages": messages, "outbox": outbox})
        for key in messages:
            self._put("messages", key, None)
        for key in outbox:
            self._put("outbox", key, None)
        self._put("tickets", ticket_id, None)
        records = [*messages.values(), *outbox.values()]
        entry = {
            "ticket_at": ticket_at,
            "at": place,
            "message_ids": [r["message_id"] for r in records if r.get("message_id")],
            "dedupe_keys": [r["dedupe_key"] for r in messages.values() if r.get("dedupe_key")],
            "outbox": list(outbox),
        }
        self._put("archive", ticket_id, entry)

    def _stage_json(self, value: Any) -> str:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        return self._packs.stage(digest, data)

    def _archived(self, ticket_id: str) -> dict[str, Any]:
        """An archived ticket's messages and outbox records."""
        entry = self._tables.docs["archive"][ticket_id]
        content: dict[str, Any] = json.loads(self._packs.read(entry["at"]))
        return content

    def _archived_ticket(self, ticket_id: str) -> Record:
        entry = self._tables.docs["archive"][ticket_id]
        record: Record = json.loads(self._packs.read(entry["ticket_at"]))
        return record

    def _restore(self, ticket_id: str) -> None:
        """Bring an archived ticket back into memory before it changes (a reopening)."""
        if self._doc("archive", ticket_id) is None:
            return
        ticket, content = self._archived_ticket(ticket_id), self._archived(ticket_id)
        self._put("archive", ticket_id, None)
        self._put("tickets", ticket_id, ticket)
        for table in ("messages", "outbox"):
            for key, record in content[table].items():
                self._put(table, key, record)

    def _archive_holding(self, outbox_id: str) -> str | None:
        """The archived ticket an outbox entry belongs to (a rare look-up: a scan)."""
        for ticket_id, entry in self._tables.docs["archive"].items():
            if outbox_id in entry["outbox"]:
                return ticket_id
        return None

    def tickets_to_check(self, now: datetime) -> list[Ticket]:
        """Tickets whose next SLA threshold has come, and those never planned: the sweep reads
        these and nothing else, however many tickets are stored."""
        limit = now.astimezone(UTC).isoformat()
        with self.transaction():
            order = self._tables.check_order
            keys = [key for _, key in order[: bisect.bisect_right(order, (limit, "\uffff"))]]
            keys += sorted(self._tables.unplanned)
            records = [self._tables.docs["tickets"][k] for k in keys]
        return [from_record(Ticket, r) for r in records]

    def add_message(self, message: TicketMessage) -> None:
        """A message record; its longer texts go to blobs, so years of mail bodies stay on disk
        instead of in memory and in every snapshot."""
        record = to_record(message)
        with self.transaction():
            for name in _BODY_FIELDS:
                body = record[name].encode("utf-8")
                if len(body) > _INLINE_BODY_BYTES:
                    digest = hashlib.sha256(body).hexdigest()
                    place = self.put_blob(digest, body)
                    record[name], record[f"{name}_blob"] = "", digest
                    record[f"{name}_at"] = place
            self._restore(message.ticket_id)
            number = len(self._tables.messages_of[message.ticket_id]) + 1
            self._put("messages", f"{message.ticket_id}#{number:05d}", record)

    def messages(self, ticket_id: str, *, bodies: bool = True) -> list[TicketMessage]:
        """A ticket's messages, oldest first; `bodies=False` leaves texts kept in the packs
        empty (for callers that need only headers)."""
        with self.transaction():
            if self._doc("archive", ticket_id):
                records = list(self._archived(ticket_id)["messages"].values())
            else:
                keys = list(self._tables.messages_of.get(ticket_id, ()))
                records = [self._tables.docs["messages"][k] for k in keys]
        if not bodies:
            return [from_record(TicketMessage, r) for r in records]
        return [from_record(TicketMessage, self._with_bodies(r)) for r in records]

    def _with_bodies(self, record: Record) -> Record:
        bodies = {
            name: self.get_blob(record[f"{name}_blob"], record.get(f"{name}_at", "")).decode()
            for name in _BODY_FIELDS
            if record.get(f"{name}_blob")
        }
        return {**record, **bodies} if bodies else record

    def dedupe_destination(self, key: str) -> str | None:
        """ "processed" or "quarantine" when this mail was taken in before, else None."""
        with self.transaction():
            return self._tables.dedupe.get(key)

    def ticket_for_message_ids(self, message_ids: list[str]) -> str | None:
        """The ticket of the first of these Message-IDs (ours or theirs) that we know."""
        with self.transaction():
            for message_id in message_ids:
                if message_id and message_id in self._tables.by_message_id:
                    return self._tables.by_message_id[message_id]
        return None

    # --- outbox -----------------------------------------------------------------------------

    def enqueue(self, mail: OutgoingMail) -> None:
        with self.transaction():
            if self._doc("outbox", mail.id) is not None:
                raise StoreError(f"outbox entry {mail.id} exists already")
            self._restore(mail.ticket_id)
            self._put("outbox", mail.id, to_record(mail))

    def outbox(self, state: OutboxState | None = None) -> list[OutgoingMail]:
        """Outgoing mail in this state (all without one); sent and failed mail of archived
        tickets is read from the archive."""
        with self.transaction():
            records = list(self._tables.docs["outbox"].values())
            if state is None or state.value not in _ACTIVE_OUTBOX:
                for key in self._tables.docs["archive"]:
                    records += self._archived(key)["outbox"].values()
        return [
            from_record(OutgoingMail, r)
            for r in records
            if state is None or r["state"] == state.value
        ]

    def outbox_of(self, ticket_id: str) -> list[OutgoingMail]:
        """A ticket's outgoing mail, oldest first."""
        with self.transaction():
            if self._doc("archive", ticket_id):
                records = list(self._archived(ticket_id)["outbox"].values())
            else:
                records = self._outbox_of(ticket_id)
        return [from_record(OutgoingMail, r) for r in records]

    def get_outgoing(self, outbox_id: str) -> OutgoingMail:
        with self.transaction():
            record = self._doc("outbox", outbox_id)
            if record is None and (ticket_id := self._archive_holding(outbox_id)):
                record = self._archived(ticket_id)["outbox"][outbox_id]
        if record is None:
            raise NotFoundError(f"no outbox entry {outbox_id}")
        return from_record(OutgoingMail, record)

    def save_outgoing(self, mail: OutgoingMail) -> None:
        with self.transaction():
            if self._doc("outbox", mail.id) is None and self._archive_holding(mail.id):
                self._restore(mail.ticket_id)
            if self._doc("outbox", mail.id) is None:
                raise NotFoundError(f"no outbox entry {mail.id}")
            self._put("outbox", mail.id, to_record(mail))

    def due_outgoing(self, now: datetime) -> list[OutgoingMail]:
        """Queued mail whose time has come, and `sending` mail whose sender died mid-send.

        A sender sets `next_attempt` of a mail it starts sending to when it would count as
        abandoned, so both cases are one comparison. Only mail still owed is looked at.
        """
        with self.transaction():
            records = [self._tables.docs["outbox"][k] for k in self._tables.active_outbox]
        due = [
            from_record(OutgoingMail, r)
            for r in records
            if r["next_attempt"] is None or datetime.fromisoformat(r["next_attempt"]) <= now
        ]
        return sorted(due, key=lambda m: (m.created, m.id))

    def _outbox_of(self, ticket_id: str) -> list[Record]:
        return [self._tables.docs["outbox"][k] for k in self._tables.outbox_of.get(ticket_id, ())]

    def automatic_replies_since(self, address: str, kinds: set[str], since: datetime) -> int:
        """How many automatic mails of these kinds went (or wait to go) to `address` since:
        read newest first from that address's own entries, so a burst costs what it sends."""
        count = 0
        with self.transaction():
            docs = self._tables.docs["outbox"]
            for key in reversed(self._tables.outbox_to.get(address.lower(), [])):
                record = docs[key]
                if datetime.fromisoformat(record["created"]) < since:
                    break
                count += record["kind"] in kinds
        return count

    def has_identical_since(self, ticket_id: str, fingerprint: str, since: datetime) -> bool:
        with self.transaction():
            records = self._outbox_of(ticket_id)
        return any(
            r.get("fingerprint") == fingerprint and datetime.fromisoformat(r["created"]) >= since
            for r in records
        )

    # --- quarantine -------------------------------------------------------------------------

    def add_quarantine(self, record: QuarantineRecord, dedupe_key: str) -> None:
        with self.transaction():
            self._put("quarantine", record.id, {**to_record(record), "dedupe_key": dedupe_key})

    def quarantine(self) -> list[QuarantineRecord]:
        with self.transaction():
            records = list(self._tables.docs["quarantine"].values())
        return [from_record(QuarantineRecord, r) for r in records]

    # --- marks: small facts that must survive restarts (e.g. the day a digest went out) ----

    def mark(self, name: str) -> str:
        with self.transaction():
            return str(self._meta().get("marks", {}).get(name, ""))

    def set_mark(self, name: str, value: str) -> None:
        with self.transaction():
            marks = dict(self._meta().get("marks", {}))
            marks[name] = value
            self._set_meta(marks=marks)

    # --- IMAP position ----------------------------------------------------------------------

    def imap_position(self, key: str) -> dict[str, Any]:
        """Where intake stands in one IMAP folder: UIDVALIDITY, last UID, moves still owed."""
        with self.transaction():
            return dict(self._meta().get("imap", {}).get(key, {}))

    def save_imap_position(self, key: str, position: dict[str, Any]) -> None:
        with self.transaction():
            positions = dict(self._meta().get("imap", {}))
            positions[key] = position
            self._set_meta(imap=positions)
