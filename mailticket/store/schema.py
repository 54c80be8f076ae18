"""The store's tables, in SQLAlchemy Core: one definition for SQLite and PostgreSQL.

Each record keeps its full JSON document in `doc` (what `model.to_record` gives, so a model
field added later needs no migration), beside the columns the queries filter and sort on.
UNIQUE constraints do the exactly-once work: a dedupe key takes one message, a Message-ID one
outgoing mail, a blob one row per sha256, an SLA threshold one row per ticket (`sla_fired`,
kept out of the ticket's `doc`). A message's texts sit in their own columns after `doc`, so
a read without bodies neither fetches nor parses them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

tickets = Table(
    "tickets",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("updated", String(40), nullable=False),
    Column("check_at", String(40)),  # next SLA check, UTC ISO; NULL when none planned
    Column("doc", JSON, nullable=False),
    # Since 0002: what `tickets list` filters on and the report's ranges (UTC ISO text).
    Column("created", String(40), nullable=False, server_default=""),
    Column("category", String(64), nullable=False, server_default=""),
    Column("assignee", String(320), nullable=False, server_default=""),
    Column("resolved_at", String(40)),
    Column("closed_at", String(40)),
    Index("ix_tickets_check_at", "check_at"),
    Index("ix_tickets_status_updated", "status", "updated"),
    Index("ix_tickets_created", "created", "seq"),  # newest first, and the report's period
    Index("ix_tickets_status_created", "status", "created", "seq"),
    Index("ix_tickets_category_created", "category", "created", "seq"),
    Index("ix_tickets_assignee_created", "assignee", "created", "seq"),
    Index("ix_tickets_resolved_at", "resolved_at"),
    Index("ix_tickets_closed_at", "closed_at"),
)

sla_fired = Table(  # each SLA threshold acted on once per ticket, even with two daemons
    "sla_fired",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(64), nullable=False),
    Column("threshold", String(64), nullable=False),
    UniqueConstraint("ticket_id", "threshold", name="uq_sla_fired_ticket_threshold"),
)

messages = Table(
    "messages",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(64), nullable=False),
    Column("message_id", String(998)),
    Column("dedupe_key", String(128), unique=True),  # one message per mail taken in
    Column("doc", JSON, nullable=False),  # without `text` and `quoted` since 0002
    Column("text", Text),  # after `doc`: a read of the headers stops before the texts
    Column("quoted", Text),
    Index("ix_messages_ticket", "ticket_id", "seq"),
)

message_ids = Table(  # every Message-ID we know (theirs and ours) -> its ticket, for threading
    "message_ids",
    metadata,
    Column("message_id", String(998), primary_key=True),
    Column("ticket_id", String(64), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("ticket_id", String(64), nullable=False),
    Column("message_id", String(998), nullable=False, unique=True),  # one mail per Message-ID
    Column("state", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created", String(40), nullable=False),  # UTC ISO
    Column("next_attempt", String(40)),  # UTC ISO; NULL: at once
    Column("fingerprint", String(128)),
    Column("doc", JSON, nullable=False),
    Index("ix_outbox_ticket", "ticket_id", "created"),
    Index("ix_outbox_state_next", "state", "next_attempt"),
)

outbox_recipients = Table(  # the rate limit's question: automatic mail to one address since
    "outbox_recipients",
    metadata,
    Column("outbox_id", String(64), ForeignKey("outbox.id"), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("created", String(40), nullable=False),
    Column("kind", String(32), nullable=False),
    Index("ix_outbox_recipients_address", "address", "created"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("dedupe_key", String(128)),
    Column("doc", JSON, nullable=False),
    Column("created", String(40), nullable=False, server_default=""),  # UTC ISO, since 0002
    Index("ix_quarantine_dedupe", "dedupe_key"),
    Index("ix_quarantine_created", "created"),
)

blobs = Table(  # raw mails and attachments by hash, in the database: no shared disk needed
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("value", Integer, nullable=False),
)

marks = Table(
    "marks",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
)

imap_positions = Table(
    "imap_positions",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("doc", JSON, nullable=False),
)
