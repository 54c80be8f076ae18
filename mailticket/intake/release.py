"""Taking a quarantined mail in again once its cause is fixed (`quarantine release`, what
Mailman calls unshunting): exactly once, and through the same `take_in` as any new mail.

The release is one store transaction: the quarantine record is claimed (a compare-and-set,
so a second release, even a concurrent one, is refused), its raw mail taken in, and what it
became noted on the record. A mail that fails again goes back to quarantine as a new record
with the new reason; the mail's dedupe key keeps a second ticket from ever being made.
"""

from __future__ import annotations

from dataclasses import replace

from mailticket.desk.context import Desk
from mailticket.errors import UsageError
from mailticket.intake.record import IntakeResult, take_in


class AlreadyReleased(UsageError):
    """A quarantined mail is released once; it was already."""


def release(desk: Desk, record_id: str) -> IntakeResult:
    """Take quarantined mail `record_id` in again; raises `AlreadyReleased` the second time,
    `NotFoundError` for an unknown id, `StoreError` (nothing changed) when the store fails."""
    store = desk.store
    with store.transaction():
        record = store.claim_release(record_id, desk.clock())
        if record is None:
            done = store.quarantined(record_id)
            when = f" on {done.released_at:%Y-%m-%d %H:%M}" if done.released_at else ""
            raise AlreadyReleased(
                f"{record_id} was released already{when} (as {done.released_as or '?'}): "
                "a mail is taken in again only once / 该邮件已放行过，不能再次放行"
            )
        raw = store.get_blob(record.raw_sha256)
        result = take_in(desk, raw, source=f"release:{record_id}")
        became = result.ticket_id or result.quarantine_id or result.outcome
        store.note_release(replace(record, released_as=became))
    return result
