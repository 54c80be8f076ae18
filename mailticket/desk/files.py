"""Files on a ticket for the people who work it: the customer's attachments for agents (in
the notice of a new mail, up to `[agents] attach_max_bytes`, the rest listed; all of them on
`#attachments`), and an agent's own files relayed to the customer. Bytes come from the mail
just read, else from the store's blobs by sha256.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mailticket.desk.context import Desk, log
from mailticket.desk.tickets import CUSTOMER_KINDS
from mailticket.errors import NotFoundError
from mailticket.model import Attachment, Direction, Ticket

ATTACHED, ELSEWHERE, NOT_KEPT = "attached", "elsewhere", "not_kept"


@dataclass(frozen=True)
class Bundle:
    """One mail's worth of files: those attached to it, and every file of the set listed by
    name, size and state (ATTACHED here, in another mail or left out: ELSEWHERE, NOT_KEPT)."""

    attached: tuple[Attachment, ...]
    listed: tuple[dict[str, str], ...]


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} B"


def _loaded(desk: Desk, attachment: Attachment) -> Attachment | None:
    """The attachment with its bytes, or None when they were not kept (too large) or lost."""
    if attachment.payload:
        return attachment
    if attachment.too_large:
        return None
    try:
        return replace(attachment, payload=desk.store.get_blob(attachment.sha256))
    except NotFoundError as exc:  # listed as not kept: never a failed intake
        log.warning(
            "attachment %s (%s) not in the store: %s", attachment.filename, attachment.sha256, exc
        )
        return None


def bundles(desk: Desk, files: Sequence[Attachment], limit: int, *, split: bool) -> list[Bundle]:
    """`files` packed into mails of at most `limit` bytes of attachments, in order: one mail
    (the rest listed as ELSEWHERE) or, with `split`, as many as it takes (a file larger than
    `limit` alone in its own). Never empty: a first mail lists what could not be attached."""
    loaded = [(f, _loaded(desk, f)) for f in files]
    groups: list[list[Attachment]] = [[]]
    used = 0
    for _, found in loaded:
        if found is None:
            continue
        if used + found.size > limit and (groups[-1] or not split):
            if not split:
                continue
            groups.append([])
            used = 0
        groups[-1].append(found)
        used += found.size
    result = []
    for group in groups:
        here = {a.sha256 for a in group}
        listed = tuple(
            {
                "name": f.filename,
                "size": human_size(f.size),
                "state": NOT_KEPT if found is None else ATTACHED if f.sha256 in here else ELSEWHERE,
            }
            for f, found in loaded
        )
        result.append(Bundle(tuple(group), listed))
    return result


def customer_files(desk: Desk, ticket: Ticket) -> list[Attachment]:
    """Every file the customer (or anyone writing in on the ticket) sent, once each, in order."""
    seen: dict[str, Attachment] = {}
    for message in desk.store.messages(ticket.id, bodies=False):
        if message.direction == Direction.IN and message.kind in CUSTOMER_KINDS:
            for attachment in message.attachments:
                seen.setdefault(attachment.sha256, attachment)
    return list(seen.values())


def agent_files(desk: Desk, ticket: Ticket, files: Sequence[Attachment]) -> list[Attachment]:
    """An agent's own files for the customer: those with their bytes, but none the ticket
    received already (a mail client re-attaching what it quotes, or another sender's file)."""
    files = [f for f in files if f.payload]
    if not files:
        return []
    received = {
        a.sha256
        for m in desk.store.messages(ticket.id, bodies=False)
        if m.direction == Direction.IN
        for a in m.attachments
    }
    return [f for f in files if f.sha256 not in received]
