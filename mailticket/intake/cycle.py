"""Intake cycles: an IMAP batch (position and owed moves kept in the store, so a crash costs
one MOVE, never a second ticket), a Maildir folder (demo), and intake followed by a drain.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mailticket.config import Config
from mailticket.desk.context import Desk, log
from mailticket.errors import StoreBusyError
from mailticket.intake.imap import FetchedMail, ImapSettings, Mailbox
from mailticket.intake.record import PROCESSED, QUARANTINED, take_in, take_in_alone
from mailticket.oauth import Tokens, section_tokens
from mailticket.outbound.outbox import DrainResult, Sender, drain_outbox
from mailticket.store import Store
from mailticket.store.leader import Fence, FencedError

# The store mark where the daemon keeps its last IMAP connection error (JSON), for `status`.
IMAP_ERROR_MARK = "imap_error"


def position_key(config: Config) -> str:
    """The store's key for the intake position of the configured IMAP folder."""
    return f"{config.imap.username}@{config.imap.host}/{config.imap.folder}"


def imap_settings(config: Config, tokens: Tokens | None = None) -> ImapSettings:
    return ImapSettings(
        host=config.imap.host,
        port=config.imap.port,
        security=config.imap.security,
        username=config.imap.username,
        password=config.password("imap"),
        folder=config.imap.folder,
        timeout=config.imap.timeout,
        tls_verify=config.imap.tls_verify,
        tls_ca_file=str(config.path_of(config.imap.tls_ca_file)) if config.imap.tls_ca_file else "",
        auth=config.imap.auth,
        tokens=tokens if tokens is not None else section_tokens(config, "imap"),
    )


def open_mailbox(config: Config, tokens: Tokens | None = None) -> Mailbox:
    """A connected mailbox with the processed and quarantine folders in place."""
    mailbox = Mailbox(imap_settings(config, tokens))
    try:
        mailbox.ensure_folder(config.imap.processed_folder)
        mailbox.ensure_folder(config.imap.quarantine_folder)
    except Exception:
        mailbox.close()
        raise
    return mailbox


@contextlib.contextmanager
def _writing(store: Store, fence: Fence | None) -> Iterator[None]:
    """A store transaction that commits only while `fence` is still the leader's epoch."""
    with store.transaction():
        if fence is not None:
            store.check_fence(fence)
        yield


def intake_cycle(
    desk: Desk,
    mailbox: Mailbox,
    after_batch: Callable[[], None] | None = None,
    *,
    fence: Fence | None = None,
) -> Counter[str]:
    """Take in every message of the intake folder not yet taken in, then move it out.

    The position (UIDVALIDITY, last UID, moves still owed) is stored, so a crash between storing
    a ticket and moving its message costs one MOVE on the next cycle, never a second ticket.
    `after_batch` runs once each batch is durable (and moved). With a `fence` (several
    daemons), every write checks it: a leader that was replaced commits nothing.
    """
    config, store = desk.config, desk.store
    folders = {PROCESSED: config.imap.processed_folder, QUARANTINED: config.imap.quarantine_folder}
    key = position_key(config)
    position = store.imap_position(key)
    if position.get("uidvalidity") != mailbox.uidvalidity:
        if position:
            log.warning("UIDVALIDITY of %s changed: reading the folder again", key)
        position = {"uidvalidity": mailbox.uidvalidity, "last_uid": 0, "pending": {}}
    counts: Counter[str] = Counter()
    present = mailbox.uids()
    owed = {int(u): d for u, d in position.get("pending", {}).items() if int(u) in set(present)}
    _move(mailbox, owed, folders)
    position["pending"] = {}
    with _writing(store, fence):
        store.save_imap_position(key, position)
    fresh = [u for u in present if u > position["last_uid"]]
    for start in range(0, len(fresh), config.imap.batch_size):
        batch = list(mailbox.fetch(fresh[start : start + config.imap.batch_size]))
        taken: Counter[str] = Counter()
        try:
            position = _take_in_batch(desk, mailbox, batch, key, taken, fence)
        except (StoreBusyError, FencedError):
            raise  # the store is busy, or another daemon leads: nothing written, try later
        except Exception as exc:  # at a mail or at commit: the whole batch was undone
            log.warning("a batch of %d mails failed (%s): one by one now", len(batch), exc)
            taken.clear()
            done = {f.uid: _take_in_alone(desk, f, key, taken, fence) for f in batch}
            position = _owed(mailbox, done)
            if done:
                with _writing(store, fence):
                    store.save_imap_position(key, position)
        counts.update(taken)
        if batch:
            _move(mailbox, {int(u): d for u, d in position["pending"].items()}, folders)
            position["pending"] = {}
            with _writing(store, fence):
                store.save_imap_position(key, position)
            if after_batch is not None:
                after_batch()
    return counts


def _take_in_batch(
    desk: Desk,
    mailbox: Mailbox,
    batch: list[FetchedMail],
    key: str,
    counts: Counter[str],
    fence: Fence | None,
) -> dict[str, Any]:
    """One transaction for the batch: its mails, blobs and position become durable together
    (three fsyncs a batch, not a few a mail); `take_in` undoes a mail that fails alone (a
    savepoint) and quarantines it. A store failure (at a mail or at commit) undoes it all."""
    done: dict[int, str] = {}
    with _writing(desk.store, fence):
        for fetched in batch:
            result = take_in(desk, fetched.raw, source=f"imap:{key}:{fetched.uid}")
            done[fetched.uid] = result.destination
            counts[result.outcome] += 1
        position = _owed(mailbox, done)
        if done:
            desk.store.save_imap_position(key, position)
    return position


def _owed(mailbox: Mailbox, done: dict[int, str]) -> dict[str, Any]:
    """The position after `done`, with their moves still owed."""
    return {
        "uidvalidity": mailbox.uidvalidity,
        "last_uid": max(done, default=0),
        "pending": {str(u): d for u, d in done.items()},
    }


def _take_in_alone(
    desk: Desk, fetched: FetchedMail, key: str, counts: Counter[str], fence: Fence | None
) -> str:
    source = f"imap:{key}:{fetched.uid}"
    result = take_in_alone(desk, fetched.raw, source, lambda: _writing(desk.store, fence))
    counts[result.outcome] += 1
    return result.destination


def intake_and_send(
    desk: Desk, mailbox: Mailbox, send: Sender, *, fence: Fence | None = None
) -> tuple[Counter[str], DrainResult]:
    """`intake_cycle` with the outbox drained after each batch: a burst is answered batch by
    batch instead of after the whole inbox. (Draining in a thread beside the intake was
    measured too: no faster, as the GIL serialises the SMTP client's Python work.)"""
    result = DrainResult()
    drain = lambda: result.add(drain_outbox(desk, send))  # noqa: E731
    counts = intake_cycle(desk, mailbox, after_batch=drain, fence=fence)
    return counts, result


def _move(mailbox: Mailbox, destinations: dict[int, str], folders: dict[str, str]) -> None:
    for destination, folder in folders.items():
        mailbox.move([u for u, d in destinations.items() if d == destination], folder)


MAILDIR_FOLDERS = {PROCESSED: ".Processed", QUARANTINED: ".Quarantine"}


def maildir_cycle(desk: Desk, root: Path) -> Counter[str]:
    """Take in every mail in a Maildir's new/ and cur/, then rename it into .Processed or
    .Quarantine (Maildir++ folders); a crash before the rename only causes a dedupe hit."""
    for folder in ("", *MAILDIR_FOLDERS.values()):
        for part in ("new", "cur", "tmp"):
            (root / folder / part).mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    waiting = sorted((root / "new").iterdir()) + sorted((root / "cur").iterdir())
    for path in waiting:
        if not path.is_file():
            continue
        result = take_in(desk, path.read_bytes(), source=f"maildir:{path.name}")
        counts[result.outcome] += 1
        os.replace(path, root / MAILDIR_FOLDERS[result.destination] / "cur" / path.name)
    return counts
