"""Tickets, their messages, threading by Message-ID, dedupe and quarantine, in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update

from mailticket.errors import NotFoundError, StoreError
from mailticket.model import QuarantineRecord, Ticket, TicketMessage, from_record, to_record
from mailticket.store import schema
from mailticket.store.base import Record, StoreBase, utc_text

_CLOCKED_STATUSES = ("open", "pending", "resolved")


def _ticket_columns(record: Record) -> Record:
    return {
        "status": record["status"],
        "updated": utc_text(record["updated"]) or "",
        "check_at": utc_text(record.get("next_check")),
        "doc": record,
    }


class TicketStore(StoreBase):
    """Tickets and what hangs off them."""

    def add_ticket(self, ticket: Ticket) -> None:
        with self.transaction():
            if self._ticket_doc(ticket.id) is not None:
                raise StoreError(f"ticket {ticket.id} exists already")
            record = to_record(ticket)
            self._c.execute(insert(schema.tickets).values(id=ticket.id, **_ticket_columns(record)))

    def update_ticket(self, ticket: Ticket) -> None:
        with self.transaction():
            done = self._c.execute(
                update(schema.tickets)
                .where(schema.tickets.c.id == ticket.id)
                .values(**_ticket_columns(to_record(ticket)))
            ).rowcount
        if not done:
            raise NotFoundError(f"no ticket {ticket.id}")

    def _ticket_doc(self, ticket_id: str) -> Record | None:
        row = self._c.execute(
            select(schema.tickets.c.doc).where(schema.tickets.c.id == ticket_id)
        ).first()
        return dict(row[0]) if row else None

    def get_ticket(self, ticket_id: str) -> Ticket:
        with self.transaction():
            record = self._ticket_doc(ticket_id)
        if record is None:
            raise NotFoundError(f"no ticket {ticket_id}")
        return from_record(Ticket, record)

    def lock_ticket(self, ticket_id: str) -> Ticket:
        """Inside a transaction: the ticket as of now, its row locked until the transaction
        ends (PostgreSQL `FOR UPDATE`; SQLite's BEGIN IMMEDIATE locks everything), so two
        processes acting on it one after the other each see what the other wrote."""
        table = schema.tickets
        query = select(table.c.doc).where(table.c.id == ticket_id).with_for_update()
        with self.transaction():
            row = self._c.execute(query).first()
        if row is None:
            raise NotFoundError(f"no ticket {ticket_id}")
        return from_record(Ticket, dict(row[0]))

    def find_ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return self.get_ticket(ticket_id)
        except NotFoundError:
            return None

    def tickets(self, status: str | None = None) -> list[Ticket]:
        """Tickets with this status (all without one), in the order they were made."""
        table = schema.tickets
        query = select(table.c.doc).order_by(table.c.seq)
        if status is not None:
            query = query.where(table.c.status == status)
        with self.transaction():
            rows = self._c.execute(query).all()
        return [from_record(Ticket, row[0]) for row in rows]

    def tickets_to_check(self, now: datetime) -> list[Ticket]:
        """Tickets whose next SLA threshold has come, and those never planned: the sweep reads
        these through an index, however many tickets are stored."""
        table = schema.tickets
        due = select(table.c.doc).where(table.c.check_at <= utc_text(now))
        unplanned = select(table.c.doc).where(
            and_(table.c.check_at.is_(None), table.c.status.in_(_CLOCKED_STATUSES))
        )
        with self.transaction():
            rows = list(self._c.execute(due.order_by(table.c.check_at, table.c.id)).all())
            rows += self._c.execute(unplanned.order_by(table.c.id)).all()
        return [from_record(Ticket, row[0]) for row in rows]

    def add_message(self, message: TicketMessage) -> None:
        record = to_record(message)
        with self.transaction():
            self._c.execute(
                insert(schema.messages).values(
                    ticket_id=message.ticket_id,
                    message_id=record.get("message_id") or None,
                    dedupe_key=record.get("dedupe_key") or None,
                    doc=record,
                )
            )
            self._know_message_id(record.get("message_id") or "", message.ticket_id)

    def _know_message_id(self, message_id: str, ticket_id: str) -> None:
        if message_id:
            self._insert_ignore(
                schema.message_ids, ["message_id"], message_id=message_id, ticket_id=ticket_id
            )

    def messages(self, ticket_id: str, *, bodies: bool = True) -> list[TicketMessage]:
        """A ticket's messages, oldest first (`bodies` is kept for callers: texts are in the
        row either way)."""
        table = schema.messages
        with self.transaction():
            rows = self._c.execute(
                select(table.c.doc).where(table.c.ticket_id == ticket_id).order_by(table.c.seq)
            ).all()
        return [from_record(TicketMessage, row[0]) for row in rows]

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
                    id=record.id, dedupe_key=dedupe_key or None, doc=doc
                )
            )

    def quarantine(self) -> list[QuarantineRecord]:
        with self.transaction():
            rows = self._c.execute(
                select(schema.quarantine.c.doc).order_by(schema.quarantine.c.id)
            ).all()
        return [from_record(QuarantineRecord, row[0]) for row in rows]
