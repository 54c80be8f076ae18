"""Tickets, their messages, threading by Message-ID, dedupe and quarantine, in SQL.

A ticket's `sla_fired` lives in its own table (one row per threshold, UNIQUE), not in its
JSON; a message's `text` and `quoted` in their own columns. Both are put back on reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, insert, or_, select, update

from mailticket.errors import NotFoundError, StoreError
from mailticket.model import QuarantineRecord, Ticket, TicketMessage, from_record, to_record
from mailticket.store import schema
from mailticket.store.base import Record, StoreBase, utc_text

_CLOCKED_STATUSES = ("open", "pending", "resolved")
_TEXTS = ("text", "quoted")
_CHUNK = 500  # ids per IN (...) list


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
        with self.transaction():
            if self._ticket_doc(ticket.id) is not None:
                raise StoreError(f"ticket {ticket.id} exists already")
            record = to_record(ticket)
            self._c.execute(insert(schema.tickets).values(id=ticket.id, **_ticket_columns(record)))
            for name in dict.fromkeys(ticket.sla_fired):
                self.fire_threshold(ticket.id, name)

    def update_ticket(self, ticket: Ticket) -> None:
        with self.transaction():
            done = self._c.execute(
                update(schema.tickets)
                .where(schema.tickets.c.id == ticket.id)
                .values(**_ticket_columns(to_record(ticket)))
            ).rowcount
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
            return self._insert_ignore(
                schema.sla_fired, ["ticket_id", "threshold"], want_answer=True,
                ticket_id=ticket_id, threshold=threshold,
            )  # fmt: skip

    def _fired(self, ticket_ids: Sequence[str]) -> dict[str, list[str]]:
        """The thresholds each ticket acted on, in the order they fired."""
        table = schema.sla_fired
        fired: dict[str, list[str]] = {}
        for part in chunks(ticket_ids):
            query = select(table.c.ticket_id, table.c.threshold).where(table.c.ticket_id.in_(part))
            for ticket_id, name in self._c.execute(query.order_by(table.c.seq)):
                fired.setdefault(ticket_id, []).append(name)
        return fired

    def _read_tickets(self, query: Select[Any]) -> list[Ticket]:
        """Tickets from a query selecting `doc`, their `sla_fired` put back from its table."""
        records = [dict(row[0]) for row in self._c.execute(query)]
        fired = self._fired([r["id"] for r in records]) if records else {}
        return [from_record(Ticket, {**r, "sla_fired": fired.get(r["id"], [])}) for r in records]

    def _ticket_doc(self, ticket_id: str) -> Record | None:
        row = self._c.execute(
            select(schema.tickets.c.doc).where(schema.tickets.c.id == ticket_id)
        ).first()
        return dict(row[0]) if row else None

    def get_ticket(self, ticket_id: str) -> Ticket:
        with self.transaction():
            found = self._read_tickets(
                select(schema.tickets.c.doc).where(schema.tickets.c.id == ticket_id)
            )
        if not found:
            raise NotFoundError(f"no ticket {ticket_id}")
        return found[0]

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

    def add_message(self, message: TicketMessage) -> None:
        record = to_record(message)
        texts = {name: record.pop(name, "") for name in _TEXTS}
        with self.transaction():
            self._c.execute(
                insert(schema.messages).values(
                    ticket_id=message.ticket_id,
                    message_id=record.get("message_id") or None,
                    dedupe_key=record.get("dedupe_key") or None,
                    doc=record,
                    **texts,
                )
            )
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
        table = schema.messages
        columns = [table.c.doc, table.c.text, table.c.quoted] if bodies else [table.c.doc]
        found: dict[str, list[TicketMessage]] = {}
        with self.transaction():
            for part in chunks(ticket_ids):
                query = select(*columns).where(table.c.ticket_id.in_(part)).order_by(table.c.seq)
                for row in self._c.execute(query):
                    record = dict(row[0])
                    if bodies:
                        record["text"], record["quoted"] = row[1] or "", row[2] or ""
                    message = from_record(TicketMessage, record)
                    found.setdefault(message.ticket_id, []).append(message)
        return found

    def dedupe_destination(self, key: str) -> str | None:
        """ "processed" or "quarantine" when this mail was taken in before, else None."""
        with self.transaction():
            if self._c.execute(
                select(schema.messages.c.seq).where(schema.messages.c.dedupe_key == key).limit(1)
            ).first():
                return "processed"
            if self._c.execute(
                select(schema.quarantine.c.id).where(schema.quarantine.c.dedupe_key == key).limit(1)
            ).first():
                return "quarantine"
        return None

    def ticket_for_message_ids(self, message_ids: list[str]) -> str | None:
        """The ticket of the first of these Message-IDs (ours or theirs) that we know."""
        wanted = [m for m in message_ids if m]
        if not wanted:
            return None
        table = schema.message_ids
        with self.transaction():
            rows = self._c.execute(
                select(table.c.message_id, table.c.ticket_id).where(
                    or_(*(table.c.message_id == m for m in wanted))
                )
            ).all()
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
