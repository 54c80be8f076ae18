"""Tickets, their messages, threading by Message-ID, dedupe and quarantine, in SQL.

A ticket's `sla_fired` lives in its own table (one row per threshold, UNIQUE), not in its
JSON; a message's `text` and `quoted` in their own columns. Both are put back on reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, insert, literal, select, union_all, update

from mailticket.errors import NotFoundError
from mailticket.model import QuarantineRecord, Ticket, TicketMessage, from_record, to_record
from mailticket.store import schema
from mailticket.store.base import Record, StoreBase, utc_text

_CLOCKED_STATUSES = ("open", "pending", "resolved")
_TEXTS = ("text", "quoted")
_CHUNK = 500  # ids per IN (...) list

# Built once and executed with values (see `base`): the statements every mail runs.
_T, _M = schema.tickets, schema.messages
_TICKET_DOC = select(_T.c.doc).where(_T.c.id == bindparam("b_id"))
_LOCK_TICKET = _TICKET_DOC.with_for_update()
_UPDATE_TICKET = update(_T).where(_T.c.id == bindparam("b_id"))
_F = schema.sla_fired
_FIRED = (
    select(_F.c.ticket_id, _F.c.threshold)
    .where(_F.c.ticket_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(_F.c.seq)
)
_HEADERS = (  # without the text columns: a read of headers stops before them
    select(_M.c.doc).where(_M.c.ticket_id.in_(bindparam("b_ids", expanding=True)))
).order_by(_M.c.seq)
_WHOLE = (
    select(_M.c.doc, _M.c.text, _M.c.quoted)
    .where(_M.c.ticket_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(_M.c.seq)
)
# Where a mail taken in before went, in one statement: processed, else quarantined.
_TAKEN_BEFORE = union_all(
    select(literal("processed").label("destination")).where(_M.c.dedupe_key == bindparam("b_key")),
    select(literal("quarantine").label("destination")).where(
        schema.quarantine.c.dedupe_key == bindparam("b_key")
    ),
).limit(1)
_KNOWN_IDS = select(schema.message_ids.c.message_id, schema.message_ids.c.ticket_id).where(
    schema.message_ids.c.message_id.in_(bindparam("b_ids", expanding=True))
)


def _ticket_columns(record: Record) -> Record:
    """The row of a ticket: its JSON (without `sla_fired`) and the columns queries use."""
    record.pop("sla_fired", None)
    return {
        "status": record["status"],
        "updated": utc_text(record["updated"]) or "",
        "check_at": utc_text(record.get("next_check")),
        "created": utc_text(record["created"]) or "",
        "category": record.get("category") or "",
        "assignee": (record.get("assignee") or "").lower(),  # addresses match in any case
        "resolved_at": utc_text(record.get("resolved_at")),
        "closed_at": utc_text(record.get("closed_at")),
        "doc": record,
    }


def chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class TicketStore(StoreBase):
    """Tickets and what hangs off them."""

    def add_ticket(self, ticket: Ticket) -> None:
        """A new ticket; its id is UNIQUE, so a second one with the same id is refused."""
        record = to_record(ticket)
        with self.transaction():
            self._c.execute(insert(_T), {"id": ticket.id, **_ticket_columns(record)})
            for name in dict.fromkeys(ticket.sla_fired):
                self.fire_threshold(ticket.id, name)

    def update_ticket(self, ticket: Ticket) -> None:
        values = {"b_id": ticket.id, **_ticket_columns(to_record(ticket))}
        with self.transaction():
            done = self._c.execute(_UPDATE_TICKET, values).rowcount
            if done and ticket.sla_fired:
                known = set(self._fired([ticket.id]).get(ticket.id, ()))
                for name in dict.fromkeys(ticket.sla_fired):
                    if name not in known:
                        self.fire_threshold(ticket.id, name)
        if not done:
            raise NotFoundError(f"no ticket {ticket.id}")

    def fire_threshold(self, ticket_id: str, threshold: str) -> bool:
        """Record that `threshold` acted on the ticket; False when it had already (by this
        process or another daemon): the UNIQUE row is the once-only decision."""
        with self.transaction():
            return self._inserted_if_absent(
                _F, ["ticket_id", "threshold"], ticket_id=ticket_id, threshold=threshold
            )

    def _fired(self, ticket_ids: Sequence[str]) -> dict[str, list[str]]:
        """The thresholds each ticket acted on, in the order they fired."""
        fired: dict[str, list[str]] = {}
        for part in chunks(ticket_ids):
            for ticket_id, name in self._c.execute(_FIRED, {"b_ids": list(part)}):
                fired.setdefault(ticket_id, []).append(name)
        return fired

    def _tickets_of(self, records: list[Record]) -> list[Ticket]:
        """Tickets from their JSON, their `sla_fired` put back from its table."""
        fired = self._fired([r["id"] for r in records]) if records else {}
        return [from_record(Ticket, {**r, "sla_fired": fired.get(r["id"], [])}) for r in records]

    def _read_tickets(self, query: Select[Any]) -> list[Ticket]:
        """Tickets from a query selecting `doc`."""
        return self._tickets_of([dict(row[0]) for row in self._c.execute(query)])

    def _ticket_doc(self, ticket_id: str) -> Record | None:
        row = self._c.execute(_TICKET_DOC, {"b_id": ticket_id}).first()
        return dict(row[0]) if row else None

    def get_ticket(self, ticket_id: str) -> Ticket:
        with self.transaction():
            record = self._ticket_doc(ticket_id)
            if record is None:
                raise NotFoundError(f"no ticket {ticket_id}")
            return self._tickets_of([record])[0]

    def lock_ticket(self, ticket_id: str) -> Ticket:
        """Inside a transaction: the ticket as of now, its row locked until the transaction
        ends (PostgreSQL `FOR UPDATE`; SQLite's BEGIN IMMEDIATE locks everything), so two
        processes acting on it one after the other each see what the other wrote."""
        with self.transaction():
            row = self._c.execute(_LOCK_TICKET, {"b_id": ticket_id}).first()
            if row is None:
                raise NotFoundError(f"no ticket {ticket_id}")
            return self._tickets_of([dict(row[0])])[0]

    def find_ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return self.get_ticket(ticket_id)
        except NotFoundError:
            return None

    def tickets(self, status: str | Sequence[str] | None = None) -> list[Ticket]:
        """Tickets with this status or these (all without one), in the order they were made."""
        table = schema.tickets
        query = select(table.c.doc).order_by(table.c.seq)
        if isinstance(status, str):
            query = query.where(table.c.status == status)
        elif status is not None:
            query = query.where(table.c.status.in_([str(s) for s in status]))
        with self.transaction():
            return self._read_tickets(query)

    def tickets_to_check(self, now: datetime) -> list[Ticket]:
        """Tickets whose next SLA threshold has come, and those never planned: the sweep reads
        these through an index, however many tickets are stored."""
        table = schema.tickets
        due = select(table.c.doc).where(table.c.check_at <= utc_text(now))
        unplanned = select(table.c.doc).where(
            and_(table.c.check_at.is_(None), table.c.status.in_(_CLOCKED_STATUSES))
        )
        with self.transaction():
            found = self._read_tickets(due.order_by(table.c.check_at, table.c.id))
            return found + self._read_tickets(unplanned.order_by(table.c.id))

    def overdue(self, now: datetime, statuses: tuple[str, ...] = ("open", "pending")) -> int:
        """How many tickets with these statuses are past their deadline (`due`). Reads only
        the deadline of the tickets still open, never whole documents or closed ones."""
        table = schema.tickets
        query = select(table.c.doc["due"].as_string()).where(table.c.status.in_(statuses))
        with self.transaction():
            dues = self._c.execute(query).scalars().all()
        return sum(1 for due in dues if due and datetime.fromisoformat(due) < now)

    def add_message(self, message: TicketMessage, *, queued: bool = False) -> None:
        """A message of the ticket; its Message-ID now threads to it (`queued`: it was
        just `enqueue`d, which knows its Message-ID already)."""
        record = to_record(message)
        texts = {name: record.pop(name, "") for name in _TEXTS}
        values = {
            "ticket_id": message.ticket_id,
            "message_id": record.get("message_id") or None,
            "dedupe_key": record.get("dedupe_key") or None,
            "doc": record,
            **texts,
        }
        with self.transaction():
            self._c.execute(insert(_M), values)
            if not queued:
                self._know_message_id(record.get("message_id") or "", message.ticket_id)

    def _know_message_id(self, message_id: str, ticket_id: str) -> None:
        if message_id:
            self._insert_ignore(
                schema.message_ids, ["message_id"], message_id=message_id, ticket_id=ticket_id
            )

    def messages(self, ticket_id: str, *, bodies: bool = True) -> list[TicketMessage]:
        """A ticket's messages, oldest first; `bodies=False` leaves `text` and `quoted` empty
        and unread (for callers that need only headers)."""
        return self.messages_of([ticket_id], bodies=bodies).get(ticket_id, [])

    def messages_of(
        self, ticket_ids: Sequence[str], *, bodies: bool = True
    ) -> dict[str, list[TicketMessage]]:
        """The messages of several tickets by ticket, each oldest first, in a few queries."""
        found: dict[str, list[TicketMessage]] = {}
        with self.transaction():
            for part in chunks(ticket_ids):
                rows = self._c.execute(_WHOLE if bodies else _HEADERS, {"b_ids": list(part)})
                for row in rows:
                    record = dict(row[0])
                    if bodies:
                        record["text"], record["quoted"] = row[1] or "", row[2] or ""
                    message = from_record(TicketMessage, record)
                    found.setdefault(message.ticket_id, []).append(message)
        return found

    def dedupe_destination(self, key: str) -> str | None:
        """ "processed" or "quarantine" when this mail was taken in before, else None."""
        with self.transaction():
            row = self._c.execute(_TAKEN_BEFORE, {"b_key": key}).first()
        return str(row[0]) if row else None

    def ticket_for_message_ids(self, message_ids: list[str]) -> str | None:
        """The ticket of the first of these Message-IDs (ours or theirs) that we know."""
        wanted = [m for m in message_ids if m]
        if not wanted:
            return None
        with self.transaction():
            rows = self._c.execute(_KNOWN_IDS, {"b_ids": wanted}).all()
        known = {row[0]: row[1] for row in rows}
        return next((str(known[m]) for m in wanted if m in known), None)

    def add_quarantine(self, record: QuarantineRecord, dedupe_key: str) -> None:
        doc = {**to_record(record), "dedupe_key": dedupe_key}
        with self.transaction():
            self._c.execute(
                insert(schema.quarantine).values(
                    id=record.id,
                    dedupe_key=dedupe_key or None,
                    doc=doc,
                    created=utc_text(record.created) or "",
                )
            )

    def quarantine(self) -> list[QuarantineRecord]:
        with self.transaction():
            rows = self._c.execute(
                select(schema.quarantine.c.doc).order_by(schema.quarantine.c.id)
            ).all()
        return [from_record(QuarantineRecord, row[0]) for row in rows]

    def quarantined(self, record_id: str) -> QuarantineRecord:
        with self.transaction():
            row = self._c.execute(
                select(schema.quarantine.c.doc).where(schema.quarantine.c.id == record_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no quarantined mail {record_id}")
        return from_record(QuarantineRecord, row[0])

    def claim_release(self, record_id: str, at: datetime) -> QuarantineRecord | None:
        """Mark a quarantined mail released, exactly once (a compare-and-set on its dedupe
        key, which stops holding the mail back so it can be taken in again); None when it
        was released already, by this call's caller or another."""
        table = schema.quarantine
        with self.transaction():
            row = self._c.execute(
                select(table.c.doc, table.c.dedupe_key).where(table.c.id == record_id)
            ).first()
            if row is None:
                raise NotFoundError(f"no quarantined mail {record_id}")
            record = from_record(QuarantineRecord, row[0])
            if record.released_at is not None:
                return None
            record = replace(record, released_at=at)
            held = table.c.dedupe_key.is_(None) if row[1] is None else table.c.dedupe_key == row[1]
            claimed = self._c.execute(
                update(table)
                .where(table.c.id == record_id, held)
                .values(dedupe_key=None, doc={**row[0], **to_record(record)})
            ).rowcount
        return record if claimed == 1 else None

    def note_release(self, record: QuarantineRecord) -> None:
        """What a released mail became (`released_as`), on its quarantine record."""
        table = schema.quarantine
        with self.transaction():
            row = self._c.execute(select(table.c.doc).where(table.c.id == record.id)).first()
            if row is None:
                raise NotFoundError(f"no quarantined mail {record.id}")
            doc = {**row[0], **to_record(record)}
            self._c.execute(update(table).where(table.c.id == record.id).values(doc=doc))
