"""columns and indexes for commands at scale; sla_fired as its own table; message texts apart

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 02:10:00

Tickets gain the columns `tickets list` filters on and the report's date ranges (`created`,
`category`, `assignee`, `resolved_at`, `closed_at`), each indexed; quarantine its `created`.
The SLA thresholds a ticket has acted on move from its JSON into `sla_fired`, one row per
(ticket, threshold) under a UNIQUE constraint, so two daemons act on a threshold once. A
message's `text` and `quoted` move from its JSON into columns of their own, so a read of
headers only leaves them unread. Existing rows are rewritten here, in batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from mailticket.store.base import utc_text

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 1000

_tickets = sa.table(
    "tickets",
    sa.column("seq", sa.Integer),
    sa.column("doc", sa.JSON),
    sa.column("created", sa.String),
    sa.column("category", sa.String),
    sa.column("assignee", sa.String),
    sa.column("resolved_at", sa.String),
    sa.column("closed_at", sa.String),
)
_messages = sa.table(
    "messages",
    sa.column("seq", sa.Integer),
    sa.column("doc", sa.JSON),
    sa.column("text", sa.Text),
    sa.column("quoted", sa.Text),
)
_quarantine = sa.table(
    "quarantine", sa.column("id", sa.String), sa.column("doc", sa.JSON), sa.column("created")
)
_sla_fired = sa.table(
    "sla_fired", sa.column("ticket_id", sa.String), sa.column("threshold", sa.String)
)
_TEXTS = ("text", "quoted")


def upgrade() -> None:
    op.create_table(
        "sla_fired",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=False),
        sa.Column("threshold", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("ticket_id", "threshold", name="uq_sla_fired_ticket_threshold"),
    )
    text_default: dict[str, Any] = {"nullable": False, "server_default": ""}
    op.add_column("tickets", sa.Column("created", sa.String(length=40), **text_default))
    op.add_column("tickets", sa.Column("category", sa.String(length=64), **text_default))
    op.add_column("tickets", sa.Column("assignee", sa.String(length=320), **text_default))
    op.add_column("tickets", sa.Column("resolved_at", sa.String(length=40), nullable=True))
    op.add_column("tickets", sa.Column("closed_at", sa.String(length=40), nullable=True))
    op.add_column("messages", sa.Column("text", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("quoted", sa.Text(), nullable=True))
    op.add_column("quarantine", sa.Column("created", sa.String(length=40), **text_default))
    _rewrite(_tickets, "seq", _ticket_values)
    _rewrite(_messages, "seq", _message_values)
    _rewrite(_quarantine, "id", _quarantine_values)
    op.create_index("ix_tickets_created", "tickets", ["created", "seq"])
    op.create_index("ix_tickets_status_created", "tickets", ["status", "created", "seq"])
    op.create_index("ix_tickets_category_created", "tickets", ["category", "created", "seq"])
    op.create_index("ix_tickets_assignee_created", "tickets", ["assignee", "created", "seq"])
    op.create_index("ix_tickets_resolved_at", "tickets", ["resolved_at"])
    op.create_index("ix_tickets_closed_at", "tickets", ["closed_at"])
    op.create_index("ix_quarantine_created", "quarantine", ["created"])


def _rewrite(table: Any, key: str, values: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Every row's new columns from its JSON, in batches by key (memory stays flat)."""
    connection = op.get_bind()
    last: Any = None
    while True:
        query = sa.select(table.c[key], table.c.doc).order_by(table.c[key]).limit(_BATCH)
        if last is not None:
            query = query.where(table.c[key] > last)
        rows = connection.execute(query).all()
        if not rows:
            return
        for row_key, doc in rows:
            record = dict(doc)
            fired = record.pop("sla_fired", None) if table is _tickets else None
            for threshold in dict.fromkeys(fired or ()):
                connection.execute(
                    sa.insert(_sla_fired).values(ticket_id=record["id"], threshold=threshold)
                )
            connection.execute(
                sa.update(table).where(table.c[key] == row_key).values(**values(record))
            )
        last = rows[-1][0]


def _ticket_values(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "doc": record,
        "created": utc_text(record.get("created")) or "",
        "category": record.get("category") or "",
        "assignee": (record.get("assignee") or "").lower(),  # addresses match in any case
        "resolved_at": utc_text(record.get("resolved_at")),
        "closed_at": utc_text(record.get("closed_at")),
    }


def _message_values(record: dict[str, Any]) -> dict[str, Any]:
    texts = {name: record.pop(name, "") or "" for name in _TEXTS}
    return {"doc": record, **texts}


def _quarantine_values(record: dict[str, Any]) -> dict[str, Any]:
    return {"created": utc_text(record.get("created")) or ""}


def downgrade() -> None:
    """Not supported: restore the backup taken before `db upgrade` (see the README)."""
    raise NotImplementedError("downgrade from 0002: restore the backup made before upgrading")
