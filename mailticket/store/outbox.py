"""The outbox in SQL: one row per outgoing mail, its Message-ID UNIQUE, and the recipients
indexed for the automatic-reply rate limit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, insert, or_, select, update

from mailticket.errors import NotFoundError
from mailticket.model import OutboxState, OutgoingMail, from_record, to_record
from mailticket.store import schema
from mailticket.store.base import Record, StoreBase, utc_text

_ACTIVE = (OutboxState.QUEUED.value, OutboxState.SENDING.value)

# Built once and executed with values (see `base`): the statements every mail runs.
_O, _R = schema.outbox, schema.outbox_recipients
_OUTBOX_DOC = select(_O.c.doc).where(_O.c.id == bindparam("b_id"))
_SAVE = update(_O).where(_O.c.id == bindparam("b_id"))
_CLAIM = _SAVE.where(_O.c.state == bindparam("b_state"))
_CLAIM_AT_ONCE = _CLAIM.where(_O.c.next_attempt.is_(None))
_CLAIM_AT = _CLAIM.where(_O.c.next_attempt == bindparam("b_when"))
# PostgreSQL: the same claim through `FOR UPDATE SKIP LOCKED`, so a row another daemon is
# claiming this moment is passed over instead of waited for.
_FREE = select(_O.c.id).where(_O.c.id == bindparam("b_id"), _O.c.state == bindparam("b_state"))
_SKIP_LOCKED_AT_ONCE = update(_O).where(
    _O.c.id.in_(
        _FREE.where(_O.c.next_attempt.is_(None)).with_for_update(skip_locked=True).scalar_subquery()
    )
)
_SKIP_LOCKED_AT = update(_O).where(
    _O.c.id.in_(
        _FREE.where(_O.c.next_attempt == bindparam("b_when"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
)
_AUTOMATIC_SINCE = select(func.count()).where(
    _R.c.address == bindparam("b_address"),
    _R.c.created >= bindparam("b_since"),
    _R.c.kind.in_(bindparam("b_kinds", expanding=True)),
)
_IDENTICAL_SINCE = (
    select(_O.c.seq)
    .where(
        _O.c.ticket_id == bindparam("b_ticket"),
        _O.c.fingerprint == bindparam("b_fingerprint"),
        _O.c.created >= bindparam("b_since"),
    )
    .limit(1)
)


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
        recipients = [
            {
                "outbox_id": mail.id,
                "address": a,
                "created": columns["created"],
                "kind": columns["kind"],
            }
            for a in sorted({r.lower() for r in mail.rcpt_to})
        ]
        with self.transaction():  # its id and Message-ID are UNIQUE: a second is refused
            self._c.execute(insert(_O), {"id": mail.id, **columns})
            if recipients:
                self._c.execute(insert(_R), recipients)
            self._insert_ignore(
                schema.message_ids,
                ["message_id"],
                message_id=mail.message_id,
                ticket_id=mail.ticket_id,
            )

    def _outbox_doc(self, outbox_id: str) -> Record | None:
        row = self._c.execute(_OUTBOX_DOC, {"b_id": outbox_id}).first()
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
        values = {"b_id": mail.id, **_columns(to_record(mail))}
        with self.transaction():
            done = self._c.execute(_SAVE, values).rowcount
        if not done:
            raise NotFoundError(f"no outbox entry {mail.id}")

    def claim_outgoing(self, mail: OutgoingMail, seen: OutgoingMail) -> bool:
        """Save `mail` only if its row is still in the state and time it had when read as
        `seen`: of two senders that picked the same mail, one sends it (a compare-and-set, so
        PostgreSQL's read-committed re-check of the row decides, as SQLite's lock does)."""
        when = utc_text(seen.next_attempt)
        values = {"b_id": mail.id, "b_state": seen.state.value, **_columns(to_record(mail))}
        if when is not None:
            values["b_when"] = when
        with self.transaction(durable=False):  # see `transaction`: a lost claim re-sends once
            if self._c.dialect.name == "postgresql":  # another sender's claim: skipped, not awaited
                statement = _SKIP_LOCKED_AT_ONCE if when is None else _SKIP_LOCKED_AT
            else:  # BEGIN IMMEDIATE: no one else is writing
                statement = _CLAIM_AT_ONCE if when is None else _CLAIM_AT
            return bool(self._c.execute(statement, values).rowcount)

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
        since_text = utc_text(since)
        values = {"b_address": address.lower(), "b_since": since_text, "b_kinds": sorted(kinds)}
        with self.transaction():
            return int(self._c.execute(_AUTOMATIC_SINCE, values).scalar_one())

    def has_identical_since(self, ticket_id: str, fingerprint: str, since: datetime) -> bool:
        values = {"b_ticket": ticket_id, "b_fingerprint": fingerprint, "b_since": utc_text(since)}
        with self.transaction():
            return self._c.execute(_IDENTICAL_SINCE, values).first() is not None
