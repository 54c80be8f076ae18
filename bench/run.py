"""Throughput of the real intake against real servers, beside the floor, and its growth.

    .venv/bin/python bench/run.py --mails 2000 --stored 1000 [--repeat 3] [--json]
    .venv/bin/python bench/run.py --growth [--mails 2000] [--growth-sizes 1000,100000]

One run: start the tests' private Dovecot and SMTP sink, pre-fill a store with `--stored`
tickets (one transaction through the Store API), APPEND `--mails` generated complaints, then run
`intake_and_send` + `drain_outbox` with the real `open_mailbox` and `smtp_sender` -- what
`mailticket poll --once` does -- until the inbox is empty and every acknowledgement has been
accepted by the sink. The same mails go to a second mailbox for the floor: imap-tools bulk
fetch + mail-parser + one plain SMTP reply per mail on one connection.

Our code and the floor each run in a worker process of their own (`--worker`), so CPU seconds
and peak RSS are theirs alone. Stage shares come from timers wrapped around the module
functions inside our worker only; mailticket itself is not changed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import gc
import inspect
import io
import itertools
import json
import logging
import os
import pstats
import random
import shutil
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import generate

STAGE_ORDER = (
    "IMAP connect/logout",
    "IMAP fetch",
    "parse",
    "thread+decide",
    "guard (redaction, flags)",
    "rules/score",
    "deadline (calendar)",
    "compose",
    "store: records+queries",
    "store commit (fsync)",
    "blob write",
    "SMTP send",
    "IMAP move",
)
FLOOR_FROM = generate.DESK_ADDRESS


# --- stage timers (inside our worker only) ----------------------------------------------------


class Stages:
    """Exclusive time per stage: a timed call inside another timed call is not counted twice."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._inner: list[float] = []
        self.originals: dict[tuple[object, str], Any] = {}

    def _account(self, stage: str, started: float) -> None:
        elapsed = time.perf_counter() - started
        inner = self._inner.pop()
        self.seconds[stage] += elapsed - inner
        self.calls[stage] += 1
        if self._inner:
            self._inner[-1] += elapsed

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._inner.append(0.0)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._account(stage, started)

        return timed

    def wrap_iterator(self, stage: str, function: Callable[..., Iterator[Any]]) -> Callable:
        """For generators such as `Mailbox.fetch`: the time is spent in each `next()`."""

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = function(*args, **kwargs)
            while True:
                self._inner.append(0.0)
                started = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self._account(stage, started)
                yield item

        return timed

    def patch(self, owner: object, name: str, stage: str, iterator: bool = False) -> None:
        """Wrap `owner.name` if it exists: the code under test changes while this bench lives."""
        function = getattr(owner, name, None)
        if function is None or (owner, name) in self.originals:
            return
        self.originals[(owner, name)] = function
        wrapped = self.wrap_iterator(stage, function) if iterator else self.wrap(stage, function)
        setattr(owner, name, wrapped)

    def install(self) -> None:
        from mailticket import store
        from mailticket.desk import agent_mail, context, tickets
        from mailticket.intake import bounces, cycle, record
        from mailticket.outbound import outbox

        glue = (record, bounces, cycle, context, tickets, agent_mail, outbox)
        from mailticket.intake import imap
        from mailticket.outbound import compose

        mailbox, desk_store = imap.Mailbox, store.Store
        for name in ("uids", "fetch"):
            self.patch(mailbox, name, "IMAP fetch", iterator=name == "fetch")
        self.patch(mailbox, "move", "IMAP move")
        self.patch(mailbox, "close", "IMAP connect/logout")
        for name in ("parse", "read_report", "looks_like_bounce", "detect_language"):
            for module in glue:
                self.patch(module, name, "parse")
        for name in (
            "find_ticket",
            "decide_inbound",
            "throttle_reason",
            "wants_information_reply",
            "new_ticket",
        ):
            for module in glue:
                self.patch(module, name, "thread+decide")
        for name in (
            "dedupe_destination",
            "ticket_for_message_ids",
            "find_ticket",
            "automatic_replies_since",
            "has_identical_since",
        ):
            self.patch(desk_store, name, "thread+decide")
        # Scoring lives in modules of its own; time whichever of their functions the glue
        # modules imported (functions only: a wrapped class would break isinstance()).
        for module in glue:
            for name, value in list(vars(module).items()):
                origin = getattr(value, "__module__", "") or ""
                if inspect.isfunction(value) and origin.split(".")[-1] in (
                    "rules",
                    "extract",
                    "score",
                ):
                    self.patch(module, name, "rules/score")
        from mailticket.completeness import guard

        for name in ("redact_mail", "flags"):
            self.patch(guard, name, "guard (redaction, flags)")
        with contextlib.suppress(ImportError):
            from mailticket.desk import calendar

            for owner in (calendar, getattr(calendar, "BusinessCalendar", None)):
                if owner is not None:
                    self.patch(owner, "add_working_days", "deadline (calendar)")
        for name in ("customer_reply", "agent_notice", "scheduled_customer_mail", "build_mail"):
            self.patch(compose, name, "compose")
        for name in (
            "add_ticket",
            "update_ticket",
            "add_message",
            "enqueue",
            "save_outgoing",
            "add_quarantine",
            "save_imap_position",
            "imap_position",
            "next_ticket_id",
            "next_serial",
            "due_outgoing",
            "outbox",
        ):
            self.patch(desk_store, name, "store: records+queries")
        from sqlalchemy.engine import Connection

        self.patch(Connection, "_commit_impl", "store commit (fsync)")
        self.patch(desk_store, "put_blob", "blob write")

    def original(self, owner: object, name: str) -> Any:
        return self.originals.get((owner, name), getattr(owner, name))


class _GcPauses:
    """Time in the cyclic garbage collector: it walks every live object now and then, so a store
    that holds all of its history in memory makes each full collection longer."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.full += info.get("generation") == 2


# --- workers (separate processes) -------------------------------------------------------------


def _load_config(path: str) -> Any:
    from mailticket import config as config_module

    return config_module.load(Path(path), environ={})


def worker_ours(args: argparse.Namespace) -> dict[str, Any]:
    """`mailticket poll --once`, repeated until the inbox is empty and the outbox drained."""
    from mailticket.completeness.normalise import load_readers
    from mailticket.desk.context import Desk
    from mailticket.intake.cycle import intake_and_send, open_mailbox
    from mailticket.intake.imap import Mailbox
    from mailticket.outbound.outbox import drain_outbox, smtp_sender

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("mailticket").setLevel(logging.WARNING)  # as `poll --once` does
    config = _load_config(args.config)
    cpu_start, _ = common.rusage_self()
    started = time.perf_counter()
    desk = Desk.open(config)
    load_readers()  # as `mailticket run` does at start, before its first mail
    store_open = time.perf_counter() - started
    cpu_open, rss_open = common.rusage_self()
    stages = Stages()
    if not args.no_stages:
        stages.install()
    statements = _count_statements(desk.store.engine) if args.statements else None
    connect = stages.wrap("IMAP connect/logout", open_mailbox)
    send = stages.wrap("SMTP send", smtp_sender(config))
    uids = stages.original(Mailbox, "uids")
    gc_pauses = _GcPauses()
    profiler = cProfile.Profile() if args.profile else None
    counts: Counter[str] = Counter()
    sent = deferred = failed = cycles = 0
    cpu_before, _ = common.rusage_self()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    gc.callbacks.append(gc_pauses)
    while True:
        cycles += 1
        mailbox = connect(config)
        try:
            taken, result = intake_and_send(desk, mailbox, send)
            counts.update(taken)
            left = len(uids(mailbox))
        finally:
            mailbox.close()
        result.add(drain_outbox(desk, send))
        sent, deferred = sent + len(result.sent), deferred + len(result.deferred)
        failed += len(result.failed)
        if not left and not desk.store.due_outgoing(desk.clock()):
            break
        if cycles >= 20:
            raise RuntimeError(f"still not done after {cycles} cycles: {left} left in the inbox")
    wall = time.perf_counter() - started
    gc.callbacks.remove(gc_pauses)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu_after, rss_peak = common.rusage_self()
    return {
        "mails": sum(counts.values()),
        "outcomes": dict(counts),
        "wall_s": wall,
        "mails_per_s": sum(counts.values()) / wall,
        "cpu_s": cpu_after - cpu_before,
        "cpu_s_per_mail": (cpu_after - cpu_before) / max(1, sum(counts.values())),
        "peak_rss_mb": rss_peak,
        "rss_after_open_mb": rss_open,
        "store_open_s": store_open,
        "store_open_cpu_s": cpu_open - cpu_start,
        "sent": sent,
        "deferred": deferred,
        "failed": failed,
        "cycles": cycles,
        "stages_s": dict(stages.seconds),
        "stage_calls": dict(stages.calls),
        "gc_s": gc_pauses.seconds,
        "gc_full_collections": gc_pauses.full,
        "statements": dict(statements.most_common()) if statements is not None else {},
    }


def _count_statements(engine: Any) -> Counter[str]:
    """Count the SQL statements the run sends, by their first words and table: where the
    store's per-mail cost goes (each statement costs its driver round trip and SQLAlchemy's
    compile-cache lookup)."""
    from sqlalchemy import event

    counts: Counter[str] = Counter()
    full = bool(os.environ.get("BENCH_SQL_FULL"))  # whole statements, not kinds

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        words = statement.split()
        after = ("FROM", "INTO", "UPDATE")
        table = next((w for p, w in itertools.pairwise(words) if p.upper() in after), "")
        label = f"{' '.join(words[:1]).upper()} {table}".strip()
        counts[" ".join(words)[:150] if full else label] += 1

    event.listen(engine, "before_cursor_execute", before)
    return counts


def worker_floor(args: argparse.Namespace) -> dict[str, Any]:
    """The least any intake must do: bulk fetch, parse, one plain reply per mail."""
    import smtplib

    import mailparser
    from imap_tools import MailBoxUnencrypted

    password = os.environ["BENCH_IMAP_PASSWORD"]
    host, port = args.imap.rsplit(":", 1)
    smtp_host, smtp_port = args.smtp.rsplit(":", 1)
    stages = Stages()
    parse = stages.wrap("parse", mailparser.MailParser)
    mails = 0
    cpu_before, _ = common.rusage_self()
    started = time.perf_counter()
    with (
        MailBoxUnencrypted(host, int(port)).login(args.user, password, "INBOX") as box,
        smtplib.SMTP(smtp_host, int(smtp_port), timeout=30) as smtp,
    ):
        send = stages.wrap("SMTP send", smtp.sendmail)
        fetch = stages.wrap_iterator("IMAP fetch", box.fetch)
        for message in fetch(mark_seen=False, bulk=True):
            parsed = parse(message.obj)  # what imap-tools read already: parsed once, not twice
            sender = parsed.from_[0][1] if parsed.from_ and parsed.from_[0][1] else FLOOR_FROM
            reply = (
                f"From: {FLOOR_FROM}\r\nTo: <{sender}>\r\nSubject: Re: your complaint\r\n"
                f"In-Reply-To: {parsed.message_id or ''}\r\n"
                f"Message-ID: <floor.{mails}@okwallet.example>\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\nWe received your mail.\r\n"
            )
            send(FLOOR_FROM, [sender], reply.encode("utf-8"))
            mails += 1
    wall = time.perf_counter() - started
    cpu_after, rss_peak = common.rusage_self()
    return {
        "mails": mails,
        "wall_s": wall,
        "mails_per_s": mails / wall,
        "cpu_s": cpu_after - cpu_before,
        "cpu_s_per_mail": (cpu_after - cpu_before) / max(1, mails),
        "peak_rss_mb": rss_peak,
        "sent": mails,
        "stages_s": dict(stages.seconds),
    }


def worker_prefill(args: argparse.Namespace) -> dict[str, Any]:
    """`--stored` realistic tickets in one store transaction."""
    from mailticket.desk.context import Desk

    config = _load_config(args.config)
    desk = Desk.open(config)
    started = time.perf_counter()
    counts = prefill(desk, args.stored, args.seed)
    filled = time.perf_counter() - started
    database = sum(p.stat().st_size for p in desk.store.root.glob("mailticket.db*"))
    _, rss = common.rusage_self()
    return {
        **counts,
        "prefill_s": filled,
        "database_mb": database / 1e6,
        "prefill_rss_mb": rss,
    }


def worker_sweep(args: argparse.Namespace) -> dict[str, Any]:
    """The SLA sweep on a store that is already open, as the daemon runs it every minute: its
    earlier sweeps have loaded the holiday tables (55-100 ms, once a process), so this does too
    before the clock starts."""
    from mailticket.desk.context import Desk
    from mailticket.desk.sweep import sweep

    config = _load_config(args.config)
    desk = Desk.open(config)
    now = desk.clock()
    desk.config.business_calendar.add_working_days(now, 1)
    started = time.perf_counter()
    due = desk.store.tickets_to_check(now)
    lookup = time.perf_counter() - started
    started = time.perf_counter()
    planned = sweep(desk, now=now, dry_run=True)
    dry_run = time.perf_counter() - started
    cpu_before, _ = common.rusage_self()
    started = time.perf_counter()
    actions = sweep(desk, now=now)
    acting = time.perf_counter() - started
    cpu_after, rss = common.rusage_self()
    return {
        "due": len(due),
        "lookup_s": lookup,
        "dry_run_s": dry_run,
        "dry_run_actions": len(planned),
        "sweep_s": acting,
        "sweep_cpu_s": cpu_after - cpu_before,
        "actions": len(actions),
        "by_threshold": dict(Counter(a.threshold for a in actions)),
        "queued_mails": len(desk.store.due_outgoing(now + timedelta(days=1))),
        "peak_rss_mb": rss,
    }


def _ack_template(desk: Any, rng: random.Random, language: str) -> tuple[str, str, str, str]:
    """A real acknowledgement from `compose` (raw, text, its ticket id and Message-ID) to copy
    for every stored ticket; a plain stand-in if composing has changed shape meanwhile."""
    from mailticket.mail.parse import parse
    from mailticket.model import MessageKind, Ticket, TicketStatus
    from mailticket.outbound import compose

    sample = next(m for m in generate.corpus(50, rng.randint(0, 10**6)) if m.kind == "complaint")
    now = datetime.now(UTC)
    ticket = Ticket(
        id="OKW-2000-999999", status=TicketStatus.OPEN, customer=sample.sender,
        customer_name="张伟", subject=sample.subject, language=language, created=now,
        updated=now, due=now + timedelta(days=9), sla_working_days=7,
    )  # fmt: skip
    try:
        outgoing, text = compose.customer_reply(
            desk.templates,
            desk.identity,
            ticket,
            parse(sample.raw),
            MessageKind.ACKNOWLEDGEMENT,
            outbox_id="M0",
            now=now,
        )
        return outgoing.raw, text, ticket.id, outgoing.message_id
    except Exception as exc:  # a bench must not stop because compose is being rewritten
        print(f"prefill: composing failed ({exc!r}); using a stand-in", file=sys.stderr)
        text = "您好，我们已收到您的投诉。工单编号：OKW-2000-999999\n" * 8
        return text, text, ticket.id, "<stand-in@okwallet.example>"


def _sla_planner(desk: Any, now: datetime) -> Callable[..., Any]:
    """The SLA clock of a stored ticket as the daemon, sweeping every minute, would have left
    it: planned, with every threshold already passed acted on -- or, for a ticket that is due
    (`acted` false), all but the latest one, which the next sweep must act on."""
    try:
        from mailticket.desk import sla

        calendar, policy = desk.config.business_calendar, desk.sla_policy
    except (ImportError, AttributeError):  # a mailticket without the SLA clock
        return lambda ticket, acted: ticket

    def plan(ticket: Any, acted: bool) -> Any:
        if ticket.status.value not in ("open", "pending", "resolved"):
            return ticket
        ticket = sla.plan(ticket, calendar, policy, now)
        for _ in range(200):  # one threshold at a time, in time order, as sweeps would have
            passed = [
                t
                for t in sla.thresholds(ticket, calendar, policy)
                if t.at <= now and t.name not in ticket.sla_fired
            ]
            if not passed or (not acted and len(passed) == 1):
                break
            first = passed[0]
            if getattr(first, "action", "") == "delay":  # what the sweep's delay notice does
                ticket = replace(ticket, due=sla.extended_due(ticket, calendar, policy, first.at))
            ticket = replace(ticket, sla_fired=(*ticket.sla_fired, first.name))
            ticket = sla.plan(ticket, calendar, policy, now)
        return ticket

    return plan


ASSIGNEES = ("", "alice@okwallet.example", "bob@okwallet.example")  # a third unassigned


def prefill(desk: Any, stored: int, seed: int) -> dict[str, int]:
    """Two years of tickets, oldest first: each with its complaint, our acknowledgement (sent)
    and its outbox entry; a fifth with a follow-up. The last 10 days' tickets are open (a tenth
    waiting for the customer), some of the 10-30 days before resolved a few days ago, the rest
    closed; 1 in 100 (aged 10-120 days) is open with its latest passed SLA threshold not acted
    on yet: due for the sweep. Each has a category and two in three an assignee."""
    from mailticket.model import (
        Direction,
        MessageKind,
        OutboxState,
        OutgoingMail,
        Ticket,
        TicketMessage,
        TicketStatus,
    )

    store, config = desk.store, desk.config
    rng = random.Random(seed ^ 0x5EED)
    templates = {lang: _ack_template(desk, rng, lang) for lang in ("zh", "en")}
    now = datetime.now(UTC)
    start = now - timedelta(days=730)
    step = timedelta(days=730) / max(1, stored)
    # 1 in 100 is open with its SLA thresholds passed and not acted on: what a sweep must find.
    age = lambda index: (stored - index) * step  # noqa: E731
    candidates = [i for i in range(stored) if timedelta(days=10) <= age(i) <= timedelta(days=120)]
    overdue = set(rng.sample(candidates, min(len(candidates), stored // 100)))
    plan = _sla_planner(desk, now)
    counts = Counter()
    with store.transaction():
        for index in range(stored):
            created = start + step * index
            customer = generate._customer(rng)
            language = generate._language(customer)
            category = generate._weighted(rng, generate.CATEGORIES)
            facts = generate._facts(rng, customer, created.astimezone(generate.CST))
            subject = generate._subject(rng, category, language, facts)
            text = generate.complaint_text(rng, category, language, facts)
            ticket_id = store.next_ticket_id(
                config.desk.ticket_prefix, created.astimezone(config.zone).year
            )
            due, closed = created + timedelta(days=9), None
            if index in overdue:
                status = TicketStatus.OPEN
            elif age(index) < timedelta(days=10):
                status = TicketStatus.PENDING if rng.random() < 0.1 else TicketStatus.OPEN
            elif age(index) < timedelta(days=30) and rng.random() < 0.3:
                # resolved a few days ago, still inside the window a customer may reopen it in
                status, closed = TicketStatus.RESOLVED, now - timedelta(days=rng.uniform(0.5, 3))
            else:
                status = TicketStatus.CLOSED
            if status == TicketStatus.CLOSED:
                closed = created + timedelta(days=rng.uniform(0.5, 9))
            followup = rng.random() < 0.2
            updated = created + timedelta(hours=rng.randint(1, 72)) if followup else created
            ticket = Ticket(
                id=ticket_id, status=status, customer=customer.address,
                customer_name=customer.name, subject=subject,
                language="en" if language == "en" else "zh", created=created,
                updated=max(closed or updated, updated), due=due, sla_working_days=7,
                category=str(category), assignee=ASSIGNEES[index % len(ASSIGNEES)],
                complete=True,  # the rules found what they need: the SLA clock runs
            )  # fmt: skip
            if closed is not None and hasattr(ticket, "closed_at"):
                ticket = replace(ticket, resolved_at=closed)
                if status == TicketStatus.CLOSED:
                    ticket = replace(ticket, closed_at=closed)
            planned = plan(ticket, acted=index not in overdue)
            store.add_ticket(planned)
            for threshold in getattr(planned, "sla_fired", ()):  # its own table since 0002
                store.fire_threshold(planned.id, threshold)
            message_id = generate._message_id(rng, customer, created)
            store.add_message(
                TicketMessage(
                    ticket_id=ticket_id, direction=Direction.IN, kind=MessageKind.COMPLAINT,
                    message_id=message_id, from_addr=customer.address,
                    to=(generate.DESK_ADDRESS,), subject=subject, date=created, text=text,
                    raw_sha256=f"{rng.getrandbits(256):064x}", dedupe_key=f"mid:{message_id}",
                )
            )  # fmt: skip
            raw, ack_text, template_id, template_mid = templates["en" if language == "en" else "zh"]
            ack_id = f"<{ticket_id}.ack.{rng.getrandbits(48):012x}@okwallet.example>"
            sent_at = created + timedelta(seconds=2)
            outgoing = OutgoingMail(
                id=f"M{store.next_serial('outbox'):06d}", ticket_id=ticket_id,
                kind=MessageKind.ACKNOWLEDGEMENT, message_id=ack_id,
                mail_from=generate.DESK_ADDRESS, rcpt_to=(customer.address,),
                subject=f"[{ticket_id}] Re: {subject}",
                raw=raw.replace(template_mid, ack_id).replace(template_id, ticket_id),
                created=created, state=OutboxState.SENT, attempts=1, sent_at=sent_at,
                fingerprint=f"{rng.getrandbits(128):032x}",
            )  # fmt: skip
            store.enqueue(outgoing)
            store.add_message(
                TicketMessage(
                    ticket_id=ticket_id, direction=Direction.OUT,
                    kind=MessageKind.ACKNOWLEDGEMENT, message_id=ack_id,
                    from_addr=generate.DESK_ADDRESS, to=(customer.address,),
                    subject=outgoing.subject, date=created,
                    text=ack_text.replace(template_id, ticket_id),
                )
            )  # fmt: skip
            counts["tickets"] += 1
            counts["messages"] += 2
            counts["outbox"] += 1
            counts[f"status_{status.value}"] += 1
            if followup:
                reply_id = generate._message_id(rng, customer, updated)
                store.add_message(
                    TicketMessage(
                        ticket_id=ticket_id, direction=Direction.IN,
                        kind=MessageKind.FOLLOWUP, message_id=reply_id,
                        from_addr=customer.address, to=(generate.DESK_ADDRESS,),
                        subject=f"Re: [{ticket_id}] {subject}", date=updated,
                        text=generate.complaint_text(rng, category, language, facts)[:300],
                        in_reply_to=(ack_id,), references=(message_id, ack_id),
                        raw_sha256=f"{rng.getrandbits(256):064x}",
                        dedupe_key=f"mid:{reply_id}", quoted=text,
                    )
                )  # fmt: skip
                counts["messages"] += 1
    return dict(counts)


# --- the parent: servers, mailboxes, workers, the table ---------------------------------------


def _worker_args(kind: str, **options: Any) -> list[str]:
    args = [str(Path(__file__).resolve()), "--worker", kind]
    for key, value in options.items():
        if value is True:
            args.append(f"--{key.replace('_', '-')}")
        elif value not in (None, False):
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args


class Bench:
    """One set of servers and one corpus, reused by every run of a benchmark invocation."""

    def __init__(
        self, work: Path, dovecot: Any, sink: Any, raws: list[bytes], postgres: Any = None
    ) -> None:
        self.work, self.dovecot, self.sink, self.raws = work, dovecot, sink, raws
        self.postgres = postgres  # a private PostgreSQL (`--store postgresql`), else SQLite
        self.users = 0
        self.templates: dict[int, tuple[Path, dict[str, Any]]] = {}
        self.template_urls: dict[int, str] = {}

    def config(self, folder: Path, account: Any, url: str = "") -> Path:
        return common.desk_config(folder, account, self.sink, storage_url=url)

    def copy_store(self, stored: int, seed: int, folder: Path) -> str:
        """A copy of the pre-filled store for one run: its folder, and on PostgreSQL a new
        database made from the template database; returns the URL to use ("" for SQLite)."""
        template, _ = self.prefilled(stored, seed)
        if template.exists():  # on PostgreSQL nothing may be there
            shutil.copytree(template, folder / "store")
        if self.postgres is None:
            return ""
        template_database = self.template_urls[stored].rsplit("/", 1)[-1]
        return str(self.postgres.new_database(template=template_database))

    def _mailbox(self, prefix: str) -> tuple[Any, float]:
        """A fresh Dovecot user with the corpus APPENDed; returns it and the APPEND seconds."""
        self.users += 1
        account = common.new_account(self.dovecot, f"{prefix}{self.users}")
        started = time.perf_counter()
        generate.append_all(account.host, account.port, account.username, account.password,
                            self.raws)  # fmt: skip
        return account, time.perf_counter() - started

    def prefilled(self, stored: int, seed: int) -> tuple[Path, dict[str, Any]]:
        """A store with `stored` tickets, made once per size and copied for each run."""
        if stored not in self.templates:
            folder = self.work / f"template-{stored}"
            account = common.new_account(self.dovecot, f"template{stored}")
            url = self.postgres.new_database() if self.postgres is not None else ""
            self.template_urls[stored] = url
            config = self.config(folder, account, url)
            figures = common.run_child(
                _worker_args("prefill", config=config, stored=stored, seed=seed),
                log=folder / "prefill.log",
            )
            self.templates[stored] = (folder / "store", figures)
        return self.templates[stored]

    def ours(self, stored: int, seed: int, **options: Any) -> dict[str, Any]:
        _, prefill_figures = self.prefilled(stored, seed)
        account, append_s = self._mailbox("desk")
        folder = self.work / f"run-{account.username}"
        config = self.config(folder, account, self.copy_store(stored, seed, folder))
        self.sink.clear()
        result = common.run_child(
            _worker_args("ours", config=config, **options), log=folder / "worker.log"
        )
        received = len(self.sink.messages)
        if received != result["sent"]:
            raise RuntimeError(f"the sink got {received} mails, the worker sent {result['sent']}")
        if result["mails"] != len(self.raws):
            raise RuntimeError(f"took in {result['mails']} of {len(self.raws)} mails")
        shutil.rmtree(folder / "store", ignore_errors=True)  # large at 100,000 tickets
        return {**result, "append_s": append_s, "stored": stored, "prefill": prefill_figures}

    def sweep(self, stored: int, seed: int) -> dict[str, Any]:
        """The SLA sweep on a copy of the pre-filled store."""
        account = common.new_account(self.dovecot, f"sweep{stored}")
        folder = self.work / f"sweep-{stored}"
        config = self.config(folder, account, self.copy_store(stored, seed, folder))
        result = common.run_child(_worker_args("sweep", config=config), log=folder / "worker.log")
        command = [sys.executable, "-m", "mailticket", "--config", str(config)]
        cli = common.time_command([*command, "sla", "sweep", "--dry-run"], common.PROJECT)
        if cli.returncode != 0:
            raise RuntimeError(f"sla sweep --dry-run failed with {cli.returncode}")
        result["cli_dry_run_s"], result["cli_peak_rss_mb"] = cli.seconds, cli.peak_rss_mb
        shutil.rmtree(folder / "store", ignore_errors=True)
        return result

    def peer(self) -> dict[str, Any]:
        """django-helpdesk's `get_email` on a mailbox with the same corpus (`bench/peer.py`)."""
        import peer

        account, append_s = self._mailbox("peer")
        self.sink.clear()
        folder = self.work / f"peer-{account.username}"
        result = peer.run_get_email(
            folder,
            account,
            (self.sink.host, self.sink.port),
            len(self.raws),
            log=self.work / f"peer-{account.username}.log",
        )
        return {**result, "sent": len(self.sink.messages), "append_s": append_s}

    def floor(self) -> dict[str, Any]:
        account, append_s = self._mailbox("floor")
        self.sink.clear()
        result = common.run_child(
            _worker_args(
                "floor",
                imap=f"{account.host}:{account.port}",
                user=account.username,
                smtp=f"{self.sink.host}:{self.sink.port}",
            ),
            env={"BENCH_IMAP_PASSWORD": account.password},
            log=self.work / f"floor-{account.username}.log",
        )
        if len(self.sink.messages) != result["sent"] or result["mails"] != len(self.raws):
            raise RuntimeError(f"floor: {result['mails']} mails, {len(self.sink.messages)} sent")
        return {**result, "append_s": append_s}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _stage_rows(runs: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(stage, median share of the wall time, median ms per mail); "other" is the rest."""
    rows = []
    names = [s for s in STAGE_ORDER if any(s in r["stages_s"] for r in runs)]
    names += sorted({s for r in runs for s in r["stages_s"]} - set(names))
    for name in names:
        share = statistics.median(r["stages_s"].get(name, 0) / r["wall_s"] for r in runs)
        per_mail = statistics.median(r["stages_s"].get(name, 0) / r["mails"] for r in runs)
        rows.append((name, share, per_mail * 1000))

    other = statistics.median(1 - sum(r["stages_s"].values()) / r["wall_s"] for r in runs)
    other_ms = statistics.median(
        (r["wall_s"] - sum(r["stages_s"].values())) / r["mails"] * 1000 for r in runs
    )
    rows.append(("other (pipeline glue, records, logging)", other, other_ms))
    return rows


def _header(args: argparse.Namespace, what: str) -> list[str]:
    box = common.machine()
    return [
        f"mailticket bench: {what}",
        f"{args.mails} generated mails (seed {args.seed}) · {box['date']} · {box['cpus']} CPUs · "
        f"{box['memory']} · Python {box['python']}",
    ]


def _ours_rows(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    prefill = runs[0]["prefill"]
    outcomes = Counter()
    for run in runs[:1]:
        outcomes.update(run["outcomes"])
    return [
        ("mails/s end to end", f"{_median(runs, 'mails_per_s'):.1f}"),
        ("CPU s per mail", f"{_median(runs, 'cpu_s_per_mail'):.5f}"),
        ("peak RSS MB", f"{_median(runs, 'peak_rss_mb'):.0f}"),
        ("wall s", f"{_median(runs, 'wall_s'):.2f}"),
        ("mails accepted by the sink", f"{_median(runs, 'sent'):.0f}"),
        ("created/appended/quarantined",
         "/".join(str(outcomes.get(k, 0)) for k in ("created", "appended", "quarantined"))),
        ("of which GC pauses s (full collections)",
         f"{_median(runs, 'gc_s'):.2f} ({_median(runs, 'gc_full_collections'):.0f})"),
        ("store open s (before the clock)", f"{_median(runs, 'store_open_s'):.2f}"),
        ("RSS after store open MB", f"{_median(runs, 'rss_after_open_mb'):.0f}"),
        ("prefill s/database MB",
         f"{prefill['prefill_s']:.1f}/{prefill['database_mb']:.1f}"),
        ("APPEND of the corpus s (not timed)", f"{_median(runs, 'append_s'):.2f}"),
    ]  # fmt: skip


def print_run(
    args: argparse.Namespace, ours: list[dict], floor: list[dict], peers: list[dict]
) -> dict[str, Any]:
    count = len(ours)
    label = "median of " + str(count) + " runs" if count > 1 else "one run"
    lines = _header(args, f"end to end, {args.stored} tickets stored ({label})")
    ratios = [o["mails_per_s"] / f["mails_per_s"] for o, f in zip(ours, floor, strict=True)]
    rows = _ours_rows(ours)
    floor_rows = {
        "mails/s end to end": f"{_median(floor, 'mails_per_s'):.1f}",
        "CPU s per mail": f"{_median(floor, 'cpu_s_per_mail'):.5f}",
        "peak RSS MB": f"{_median(floor, 'peak_rss_mb'):.0f}",
        "wall s": f"{_median(floor, 'wall_s'):.2f}",
        "mails accepted by the sink": f"{_median(floor, 'sent'):.0f} (one per mail)",
    }
    width = max(len(name) for name, _ in rows) + 2
    lines.append("")
    lines.append(f"{'figure':<{width}}{'ours':>14}   {'floor':>14}")
    for name, value in rows:
        lines.append(f"{name:<{width}}{value:>14}   {floor_rows.get(name, ''):>14}".rstrip())
    lines.append(
        f"{'ratio ours/floor (mails/s)':<{width}}{statistics.median(ratios):>14.2f}"
        f"   per run: {', '.join(f'{r:.2f}' for r in ratios)}"
    )
    lines.append("")
    lines.append(f"{'stage (ours)':<{width}}{'share':>14}   {'ms/mail':>14}")
    for name, share, per_mail in _stage_rows(ours):
        lines.append(f"{name:<{width}}{share:>13.1%}   {per_mail:>14.3f}")
    lines.append("")
    lines.append(f"{'stage (floor)':<{width}}{'share':>14}   {'ms/mail':>14}")
    for name, share, per_mail in _stage_rows(floor):
        lines.append(f"{name:<{width}}{share:>13.1%}   {per_mail:>14.3f}")
    lines.append("")
    statements = Counter[str]()
    for run in ours:
        statements.update(run.get("statements", {}))
    if statements:
        mails = sum(run["mails"] for run in ours)
        lines.append(f"{'SQL statements (ours)':<{width}}{'count':>14}   {'per mail':>14}")
        for name, count in statements.most_common(20):
            lines.append(f"{name:<{width}}{count:>14}   {count / mails:>14.2f}")
        lines.append(f"{'all':<{width}}{sum(statements.values()):>14}   "
                     f"{sum(statements.values()) / mails:>14.2f}")  # fmt: skip
        lines.append("")
    if peers:
        ours_rate = _median(ours, "mails_per_s")
        peer_rate = _median(peers, "mails_per_s")
        lines += [
            f"{'django-helpdesk get_email':<{width}}{peer_rate:>14.1f}   mails/s (one run; "
            f"{peers[0]['tickets']} tickets, {peers[0]['sent']} mails sent, "
            f"{peers[0]['cpu_s'] / peers[0]['mails']:.4f} CPU s/mail, "
            f"{peers[0]['peak_rss_mb']:.0f} MB)",
            f"{'ratio ours/django-helpdesk':<{width}}{ours_rate / peer_rate:>14.1f}",
        ]
    else:
        lines.append("peer django-helpdesk: not run (add --peer django-helpdesk)")
    print("\n".join(lines), flush=True)
    return {
        "machine": common.machine(),
        "mails": args.mails,
        "seed": args.seed,
        "stored": args.stored,
        "ours": ours,
        "floor": floor,
        "ratio_ours_floor": ratios,
        "ratio_ours_floor_median": statistics.median(ratios),
        "peer": peers,
    }


def cli_timings(bench: Bench, stored: int, seed: int, repeat: int) -> dict[str, Any]:
    """`tickets show` and `tickets list --status open` as a person runs them, on a store of
    `stored` tickets (a copy of the pre-filled one)."""
    folder = bench.work / f"cli-{stored}"
    account = common.new_account(bench.dovecot, f"cli{stored}")
    config = bench.config(folder, account, bench.copy_store(stored, seed, folder))
    base = [sys.executable, "-m", "mailticket", "--config", str(config)]
    ticket = f"{generate.TICKET_PREFIX}-{datetime.now(UTC).year - 1}-000001"  # a full year
    commands = {
        f"tickets show {ticket}": [*base, "tickets", "show", ticket],
        "tickets list --status open": [*base, "tickets", "list", "--status", "open"],
    }
    figures: dict[str, Any] = {}
    for name, command in commands.items():
        runs = [common.time_command(command, common.PROJECT) for _ in range(repeat)]
        if any(r.returncode != 0 for r in runs):
            raise RuntimeError(f"{name} failed with {runs[0].returncode}")
        figures[name] = {
            "seconds": statistics.median(r.seconds for r in runs),
            "peak_rss_mb": statistics.median(r.peak_rss_mb for r in runs),
            "output_lines": runs[0].output_lines,
            "runs": [r.seconds for r in runs],
        }
    shutil.rmtree(folder / "store", ignore_errors=True)
    return figures


def print_growth(
    args: argparse.Namespace,
    sizes: list[int],
    results: dict[int, list[dict]],
    cli: dict,
    sweep: dict,
) -> dict[str, Any]:
    small, large = sizes[0], sizes[-1]
    count = len(results[small])
    label = "median of " + str(count) + " runs" if count > 1 else "one run"
    lines = _header(args, f"growth, {small:,} vs {large:,} tickets stored ({label})")
    rows = {size: dict(_ours_rows(results[size])) for size in sizes}
    names = list(rows[small])
    width = max(len(n) for n in names) + 2
    lines.append("")
    lines.append(
        f"{'figure':<{width}}" + "".join(f"{f'{s:,} stored':>22}" for s in sizes) + "   ratio"
    )
    ratios = [
        b["mails_per_s"] / a["mails_per_s"]
        for a, b in zip(results[small], results[large], strict=True)
    ]
    for name in names:
        line = f"{name:<{width}}" + "".join(f"{rows[s][name]:>22}" for s in sizes)
        if name == "mails/s end to end":
            line += f"   {statistics.median(ratios):.2f} (per run: "
            line += ", ".join(f"{r:.2f}" for r in ratios) + ")"
        lines.append(line)
    lines.append("")
    lines.append(f"{'stage share':<{width}}" + "".join(f"{f'{s:,} stored':>22}" for s in sizes))
    stage_rows = {size: {n: (s, m) for n, s, m in _stage_rows(results[size])} for size in sizes}
    for name in stage_rows[small]:
        cells = "".join(
            f"{f'{stage_rows[s][name][0]:.1%} {stage_rows[s][name][1]:.3f}ms':>22}"
            if name in stage_rows[s]
            else f"{'-':>22}"
            for s in sizes
        )
        lines.append(f"{name:<{width}}{cells}")
    lines.append("")
    lines.append(f"CLI at {large:,} stored tickets (median of {args.cli_repeat}, real processes):")
    for name, figure in cli.items():
        lines.append(
            f"  {name:<36} {figure['seconds']:>7.2f} s   peak RSS {figure['peak_rss_mb']:>6.0f} MB"
            f"   {figure['output_lines']} lines"
        )
    by = ", ".join(f"{k} {v}" for k, v in sorted(sweep["by_threshold"].items()))
    lines += [
        f"SLA sweep at {large:,} stored, store already open (as the daemon runs it):",
        f"  {'tickets due (index lookup)':<36} {sweep['lookup_s']:>7.3f} s   {sweep['due']} due",
        f"  {'sweep --dry-run (in process)':<36} {sweep['dry_run_s']:>7.3f} s   "
        f"{sweep['dry_run_actions']} actions",
        f"  {'sweep, acting (in process)':<36} {sweep['sweep_s']:>7.3f} s   "
        f"{sweep['actions']} actions ({by}); {sweep['queued_mails']} mails queued",
        f"  {'mailticket sla sweep --dry-run (CLI)':<36} {sweep['cli_dry_run_s']:>7.2f} s   "
        f"peak RSS {sweep['cli_peak_rss_mb']:>6.0f} MB",
    ]
    print("\n".join(lines), flush=True)
    return {
        "machine": common.machine(),
        "mails": args.mails,
        "sizes": sizes,
        "runs": {str(s): results[s] for s in sizes},
        "ratio_large_small": ratios,
        "ratio_large_small_median": statistics.median(ratios),
        "cli": cli,
        "sla_sweep": sweep,
    }


def print_profile(path: Path, limit: int = 18) -> None:
    stream = io.StringIO()
    stats = pstats.Stats(str(path), stream=stream)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    print("\nprofile of our worker (cProfile, first run):")
    print(stream.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="mailticket throughput benchmark against a private Dovecot and SMTP sink"
    )
    parser.add_argument("--mails", type=int, default=2000, help="mails per run (default 2000)")
    parser.add_argument("--stored", type=int, default=1000, help="tickets already stored")
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=1, help="runs; medians are printed")
    parser.add_argument("--growth", action="store_true", help="compare two store sizes")
    parser.add_argument("--growth-sizes", default="1000,100000", help="stored tickets, a,b")
    parser.add_argument("--cli-repeat", type=int, default=3, help="runs of each CLI command")
    parser.add_argument("--profile", metavar="FILE", help="cProfile our first run into FILE")
    parser.add_argument("--no-stages", action="store_true", help="no stage timers (overhead)")
    parser.add_argument(
        "--statements", action="store_true", help="count our SQL statements by kind and table"
    )
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the store's engine: SQLite (embedded default) or a private PostgreSQL (fsync on)",
    )
    parser.add_argument(
        "--peer",
        choices=("django-helpdesk",),
        help="also time django-helpdesk's get_email on the same mails (own venv in bench/.peer)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--worker", choices=("ours", "floor", "prefill", "sweep"), help=argparse.SUPPRESS
    )
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--imap", help=argparse.SUPPRESS)
    parser.add_argument("--smtp", help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker = {
            "ours": worker_ours,
            "floor": worker_floor,
            "prefill": worker_prefill,
            "sweep": worker_sweep,
        }
        print(json.dumps(worker[args.worker](args)))
        return 0
    raws = list(generate.mails(args.mails, args.seed))
    with (
        common.servers(keep=args.keep) as (work, dovecot, sink),
        common.postgres(args.store == "postgresql") as postgres,
    ):
        bench = Bench(work, dovecot, sink, raws, postgres)
        options = {"no_stages": args.no_stages, "statements": args.statements}
        if args.growth:
            sizes = [int(s) for s in args.growth_sizes.split(",")]
            results: dict[int, list[dict]] = {s: [] for s in sizes}
            for run in range(args.repeat):
                for size in sizes:
                    profile = args.profile if run == 0 and size == sizes[-1] else None
                    results[size].append(bench.ours(size, args.seed, profile=profile, **options))
            cli = cli_timings(bench, sizes[-1], args.seed, args.cli_repeat)
            sweep = bench.sweep(sizes[-1], args.seed)
            figures = print_growth(args, sizes, results, cli, sweep)
        else:
            ours, floor = [], []
            for run in range(args.repeat):
                profile = args.profile if run == 0 else None
                ours.append(bench.ours(args.stored, args.seed, profile=profile, **options))
                floor.append(bench.floor())
            peers = [bench.peer()] if args.peer else []  # one run: it takes a minute or more
            figures = print_run(args, ours, floor, peers)
    if args.profile:
        print_profile(Path(args.profile))
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
