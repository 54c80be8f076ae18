"""Tickets, their messages, threading by Message-ID, dedupe and quarantine, in SQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import and_, bindparam, insert, literal, select, union_all, update

from mailticket.errors import NotFoundError
from mailticket.model import QuarantineRecord, Ticket, TicketMessage, from_record, to_record
from mailticket.store import schema
from mailticket.store.base import Record, StoreBase, utc_text

_CLOCKED_STATUSES = ("open", "pending", "resolved")

# Built once and executed with values (see `base`): the statements every mail runs.
_T, _M = schema.tickets, schema.messages
_TICKET_DOC = select(_T.c.doc).where(_T.c.id == bindparam("b_id"))
_UPDATE_TICKET = update(_T).where(_T.c.id == bindparam("b_id"))
_MESSAGES = select(_M.c.doc).where(_M.c.ticket_id == bindparam("b_ticket")).order_by(_M.c.seq)
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
    return {
        "status": record["status"],
        "updated": utc_text(record["updated"]) or "",
        "check_at": utc_text(record.get("next_check")),
        "doc": record,
    }


class TicketStore(StoreBase):
    """Tickets and what hangs off them."""

    def add_ticket(self, ticket: Ticket) -> None:
        """A new ticket; its id is UNIQUE, so a second one with the same id is refused."""
        record = to_record(ticket)
        with self.transaction():
            self._c.execute(insert(_T), {"id": ticket.id, **_ticket_columns(record)})

    def update_ticket(self, ticket: Ticket) -> None:
        values = {"b_id": ticket.id, **_ticket_columns(to_record(ticket))}
        with self.transaction():
            done = self._c.execute(_UPDATE_TICKET, values).rowcount
        if not done:
            raise NotFoundError(f"no ticket {ticket.id}")

    def _ticket_doc(self, ticket_id: str) -> Record | None:
        row = self._c.execute(_TICKET_DOC, {"b_id": ticket_id}).first()
        return dict(row[0]) if row else None

    def get_ticket(self, ticket_id: str) -> Ticket:
        with self.transaction():
            record = self._ticket_doc(ticket_id)
        if record is None:
            raise NotFoundError(f"no ticket {ticket_id}")
        return from_record(Ticket, record)

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

    def add_message(self, message: TicketMessage, *, queued: bool = False) -> None:
        """A message of the ticket; its Message-ID now threads to it (`queued`: it was
        just `enqueue`d, which knows its Message-ID already)."""
        record = to_record(message)
        values = {
            "ticket_id": message.ticket_id,
            "message_id": record.get("message_id") or None,
            "dedupe_key": record.get("dedupe_key") or None,
            "doc": record,
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
        """A ticket's messages, oldest first (`bodies` is kept for callers: texts are in the
        row either way)."""
        with self.transaction():
            rows = self._c.execute(_MESSAGES, {"b_ticket": ticket_id}).all()
        return [from_record(TicketMessage, row[0]) for row in rows]

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
                    id=record.id, dedupe_key=dedupe_key or None, doc=doc
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
