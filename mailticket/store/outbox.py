"""The outbox in SQL: one row per outgoing mail, its Message-ID UNIQUE, and the recipients
indexed for the automatic-reply rate limit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, or_, select, update

from mailticket.errors import NotFoundError, StoreError
from mailticket.model import OutboxState, OutgoingMail, from_record, to_record
from mailticket.store import schema
from mailticket.store.base import Record, StoreBase, utc_text

_ACTIVE = (OutboxState.QUEUED.value, OutboxState.SENDING.value)


def _columns(record: Record) -> Record:
    return {
        "ticket_id": record["ticket_id"],
        "message_id": record["message_id"],
        "state": record["state"],
        "kind": record["kind"],
        "created": utc_text(record["created"]) or "",
        "next_attempt": utc_text(record.get("next_attempt")),
        "fingerprint": record.get("fingerprint") or None,
        "doc": record,
    }


class OutboxStore(StoreBase):
    """Outgoing mail, queued to sent or failed."""

    def enqueue(self, mail: OutgoingMail) -> None:
        record = to_record(mail)
        columns = _columns(record)
        with self.transaction():
            if self._outbox_doc(mail.id) is not None:
                raise StoreError(f"outbox entry {mail.id} exists already")
            self._c.execute(insert(schema.outbox).values(id=mail.id, **columns))
            for address in sorted({r.lower() for r in mail.rcpt_to}):
                self._c.execute(
                    insert(schema.outbox_recipients).values(
                        outbox_id=mail.id,
                        address=address,
                        created=columns["created"],
                        kind=columns["kind"],
                    )
                )
            self._insert_ignore(
                schema.message_ids,
                ["message_id"],
                message_id=mail.message_id,
                ticket_id=mail.ticket_id,
            )

    def _outbox_doc(self, outbox_id: str) -> Record | None:
        row = self._c.execute(
            select(schema.outbox.c.doc).where(schema.outbox.c.id == outbox_id)
        ).first()
        return dict(row[0]) if row else None

    def outbox(self, state: OutboxState | None = None) -> list[OutgoingMail]:
        """Outgoing mail in this state (all without one), in the order it was queued."""
        table = schema.outbox
        query = select(table.c.doc).order_by(table.c.seq)
        if state is not None:
            query = query.where(table.c.state == state.value)
        with self.transaction():
            rows = self._c.execute(query).all()
        return [from_record(OutgoingMail, row[0]) for row in rows]

    def outbox_of(self, ticket_id: str) -> list[OutgoingMail]:
        """A ticket's outgoing mail, oldest first."""
        table = schema.outbox
        with self.transaction():
            rows = self._c.execute(
                select(table.c.doc).where(table.c.ticket_id == ticket_id).order_by(table.c.seq)
            ).all()
        return [from_record(OutgoingMail, row[0]) for row in rows]

    def get_outgoing(self, outbox_id: str) -> OutgoingMail:
        with self.transaction():
            record = self._outbox_doc(outbox_id)
        if record is None:
            raise NotFoundError(f"no outbox entry {outbox_id}")
        return from_record(OutgoingMail, record)

    def save_outgoing(self, mail: OutgoingMail) -> None:
        with self.transaction():
            done = self._c.execute(
                update(schema.outbox)
                .where(schema.outbox.c.id == mail.id)
                .values(**_columns(to_record(mail)))
            ).rowcount
        if not done:
            raise NotFoundError(f"no outbox entry {mail.id}")

    def claim_outgoing(self, mail: OutgoingMail, seen: OutgoingMail) -> bool:
        """Save `mail` only if its row is still in the state and time it had when read as
        `seen`: of two senders that picked the same mail, one sends it (a compare-and-set, so
        PostgreSQL's read-committed re-check of the row decides, as SQLite's lock does)."""
        table = schema.outbox
        when = utc_text(seen.next_attempt)
        unchanged = (
            table.c.id == mail.id,
            table.c.state == seen.state.value,
            table.c.next_attempt.is_(None) if when is None else table.c.next_attempt == when,
        )
        query = update(table).values(**_columns(to_record(mail)))
        with self.transaction():
            if self._c.dialect.name == "postgresql":
                # A row another sender is claiming right now is skipped, not waited for.
                free = select(table.c.id).where(*unchanged).with_for_update(skip_locked=True)
                query = query.where(table.c.id.in_(free.scalar_subquery()))
            else:  # BEGIN IMMEDIATE: no one else is writing
                query = query.where(*unchanged)
            return bool(self._c.execute(query).rowcount)

    def due_outgoing(self, now: datetime) -> list[OutgoingMail]:
        """Queued mail whose time has come, and `sending` mail whose sender died mid-send.

        A sender sets `next_attempt` of a mail it starts sending to when it would count as
        abandoned, so both cases are one indexed comparison.
        """
        table = schema.outbox
        query = (
            select(table.c.doc)
            .where(table.c.state.in_(_ACTIVE))
            .where(or_(table.c.next_attempt.is_(None), table.c.next_attempt <= utc_text(now)))
            .order_by(table.c.created, table.c.id)
        )
        with self.transaction():
            rows = self._c.execute(query).all()
        return [from_record(OutgoingMail, row[0]) for row in rows]

    def automatic_replies_since(self, address: str, kinds: set[str], since: datetime) -> int:
        """How many automatic mails of these kinds went (or wait to go) to `address` since."""
        table = schema.outbox_recipients
        query = select(func.count()).where(
            table.c.address == address.lower(),
            table.c.created >= utc_text(since),
            table.c.kind.in_(sorted(kinds)),
        )
        with self.transaction():
            return int(self._c.execute(query).scalar_one())

    def has_identical_since(self, ticket_id: str, fingerprint: str, since: datetime) -> bool:
        table = schema.outbox
        query = select(table.c.seq).where(
            table.c.ticket_id == ticket_id,
            table.c.fingerprint == fingerprint,
            table.c.created >= utc_text(since),
        )
        with self.transaction():
            return self._c.execute(query.limit(1)).first() is not None
