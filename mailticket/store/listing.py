"""Reads that must stay fast at any number of tickets: `tickets list` paging and filtering in
SQL, and the supervisor's report by date range. Each is one indexed query (plus the few that
put back `sla_fired` and the messages), never a scan of every ticket in Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, union

from mailticket.errors import NotFoundError
from mailticket.model import OutboxState, OutgoingMail, QuarantineRecord, Ticket, from_record
from mailticket.store import schema
from mailticket.store.base import utc_text
from mailticket.store.tickets import TicketStore, chunks


@dataclass(frozen=True)
class TicketFilter:
    """What `tickets list` asks for: newest first, filtered, one page."""

    status: str = ""
    category: str = ""
    assignee: str | None = None  # lower case; "" = unassigned; None = anyone
    since: datetime | None = None  # received at or after
    limit: int = 50
    offset: int = 0
    before: str = ""  # a ticket id: only tickets older than it (the next page's cursor)


class ListingStore(TicketStore):
    """Paging, filters and date ranges over the indexed ticket columns."""

    def list_tickets(self, wanted: TicketFilter) -> list[Ticket]:
        """One page of tickets, newest first (by received time, then by the order made)."""
        table = schema.tickets
        query = select(table.c.doc).order_by(table.c.created.desc(), table.c.seq.desc())
        if wanted.status:
            query = query.where(table.c.status == wanted.status)
        if wanted.category:
            query = query.where(table.c.category == wanted.category)
        if wanted.assignee is not None:
            query = query.where(table.c.assignee == wanted.assignee.lower())
        if wanted.since is not None:
            query = query.where(table.c.created >= utc_text(wanted.since))
        with self.transaction():
            if wanted.before:
                row = self._c.execute(
                    select(table.c.created, table.c.seq).where(table.c.id == wanted.before)
                ).first()
                if row is None:
                    raise NotFoundError(f"no ticket {wanted.before} (the --before cursor)")
                created, seq = row
                query = query.where(
                    or_(table.c.created < created, and_(table.c.created == created,
                                                        table.c.seq < seq))
                )  # fmt: skip
            return self._read_tickets(query.limit(wanted.limit).offset(wanted.offset))

    def tickets_touched(self, start: datetime, end: datetime) -> list[Ticket]:
        """Tickets received, resolved or closed in [start, end), in the order they were made:
        the report's period, through the three indexed columns."""
        table = schema.tickets
        low, high = utc_text(start), utc_text(end)
        # A UNION of three index ranges: an OR of them made SQLite scan the whole table.
        ranges = union(*(
            select(table.c.seq).where(column >= low, column < high)
            for column in (table.c.created, table.c.resolved_at, table.c.closed_at)
        ))  # fmt: skip
        query = select(table.c.doc).where(table.c.seq.in_(ranges)).order_by(table.c.seq)
        with self.transaction():
            return self._read_tickets(query)

    def quarantine_between(self, start: datetime, end: datetime) -> list[QuarantineRecord]:
        """Mail quarantined in [start, end), by id."""
        table = schema.quarantine
        query = (
            select(table.c.doc)
            .where(table.c.created >= utc_text(start), table.c.created < utc_text(end))
            .order_by(table.c.id)
        )
        with self.transaction():
            return [from_record(QuarantineRecord, row[0]) for row in self._c.execute(query)]

    def outbox_of_tickets(
        self, ticket_ids: Sequence[str], state: OutboxState | None = None
    ) -> list[OutgoingMail]:
        """The outgoing mail of these tickets (in this state), in the order it was queued."""
        table = schema.outbox
        found: list[tuple[int, OutgoingMail]] = []
        with self.transaction():
            for part in chunks(ticket_ids):
                query = select(table.c.seq, table.c.doc).where(table.c.ticket_id.in_(part))
                if state is not None:
                    query = query.where(table.c.state == state.value)
                found += [(s, from_record(OutgoingMail, d)) for s, d in self._c.execute(query)]
        return [mail for _, mail in sorted(found, key=lambda pair: pair[0])]

    def outbox_counts(self) -> dict[str, int]:
        """Outgoing mail per state, every state named (0 when none): counted, not loaded."""
        table = schema.outbox
        query = select(table.c.state, func.count()).group_by(table.c.state)
        with self.transaction():
            counted = {str(state): int(n) for state, n in self._c.execute(query)}
        return {state.value: counted.get(state.value, 0) for state in OutboxState}
