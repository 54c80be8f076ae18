"""The SLA clock and sweep on a real store, with a plain function standing in for SMTP."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailticket import config as config_module
from mailticket.app.cli import main
from mailticket.desk import sla
from mailticket.desk.calendar import BusinessCalendar
from mailticket.desk.context import Desk
from mailticket.desk.digest import send_digests
from mailticket.desk.sweep import sweep
from mailticket.desk.tickets import save_ticket
from mailticket.errors import DeliveryError
from mailticket.model import MessageKind, OutboxState, Priority, Ticket, TicketStatus
from mailticket.outbound.outbox import drain_outbox
from mailticket.outbound.smtp import Envelope

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = BusinessCalendar(SHANGHAI)
POLICY = sla.Policy()
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)

CONFIG = """
[desk]
address = "complaints@okwallet.example"
ticket_prefix = "OKW"
sla_working_days = 3
escalation_path = "12363"

[agents]
addresses = ["alice@okwallet.example"]
team_address = "team@okwallet.example"
supervisor = "boss@okwallet.example"
require_authentication = false
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY)


@pytest.fixture
def desk(tmp_path: Path, clock: Clock) -> Desk:
    (tmp_path / "mailticket.toml").write_text(CONFIG, encoding="utf-8")
    return Desk.open(config_module.load(tmp_path / "mailticket.toml", environ={}), clock=clock)


def new_ticket(desk: Desk, number: int = 1, **changes: object) -> Ticket:
    ticket = Ticket(
        id=f"OKW-2026-{number:06d}",
        status=TicketStatus.OPEN,
        customer=f"c{number}@qq.example",
        customer_name="张伟",
        subject="充值没到账",
        language="zh",
        created=MONDAY,
        updated=MONDAY,
        due=CALENDAR.add_working_days(MONDAY, 3),
        sla_working_days=3,
    )
    return save_ticket(desk, replace(ticket, **changes), new=True)


def names(actions: Sequence[object]) -> list[str]:
    return [a.threshold for a in actions]  # type: ignore[attr-defined]


def test_thresholds_fall_at_fractions_of_working_time() -> None:
    ticket = Ticket("T", TicketStatus.OPEN, "c@x", "", "s", "zh", MONDAY, MONDAY)
    ticket = replace(ticket, due=CALENDAR.add_working_days(MONDAY, 3))  # Thu 18:00
    found = {t.name: t.at for t in sla.thresholds(ticket, CALENDAR, POLICY)}
    # 3 working days from Mon 10:00 to Thu 18:00 = 8 + 9 + 9 + 9 = 35 working hours.
    assert found["remind-50"] == datetime(2026, 11, 25, 9, 30, tzinfo=SHANGHAI)
    assert found["remind-80"] == datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI)
    assert found["remind-100"] == found["escalate"] == found["delay-1"] == ticket.due


def test_each_threshold_fires_once_even_across_restarts(desk: Desk, clock: Clock) -> None:
    ticket = new_ticket(desk)
    assert ticket.first_response_due == datetime(2026, 11, 23, 18, 0, tzinfo=SHANGHAI)
    assert ticket.next_check == ticket.first_response_due
    clock.now = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
    assert names(sweep(desk)) == ["first-response", "remind-50"]
    assert names(sweep(desk)) == []
    restarted = Desk.open(desk.config, clock=clock)
    assert names(sweep(restarted)) == []
    recipients = [(m.kind, m.rcpt_to) for m in restarted.store.outbox()]
    assert recipients == [
        (MessageKind.REMINDER, ("team@okwallet.example",)),
        (MessageKind.REMINDER, ("team@okwallet.example",)),
    ]


def test_breach_escalates_tells_the_customer_and_starts_a_new_round(
    desk: Desk, clock: Clock
) -> None:
    ticket = new_ticket(desk, assignee="alice@okwallet.example")
    clock.now = ticket.due + timedelta(minutes=1)  # type: ignore[operator]
    actions = sweep(desk)
    assert names(actions) == [
        "first-response",
        "remind-50",
        "remind-80",
        "remind-100",
        "escalate",
        "delay-1",
    ]
    by_threshold = {a.threshold: a.to for a in actions}
    assert by_threshold["remind-100"] == ("alice@okwallet.example",)
    assert by_threshold["escalate"] == ("boss@okwallet.example",)
    assert by_threshold["delay-1"] == ("c1@qq.example",)
    moved = desk.store.get_ticket(ticket.id)
    assert moved.due == datetime(2026, 12, 1, 18, 0, tzinfo=SHANGHAI)  # 3 more working days
    notice = next(m for m in desk.store.outbox() if m.kind == MessageKind.DELAY_NOTICE)
    text = body(desk, notice.id)
    assert "2026年12月1日" in text and "12363" in text
    assert names(sweep(desk)) == []
    clock.now = moved.due + timedelta(minutes=1)  # type: ignore[operator]
    assert names(sweep(desk)) == ["remind-100-2", "escalate-2", "delay-2"]


def body(desk: Desk, outbox_id: str) -> str:
    import email
    from email.policy import default

    message = email.message_from_string(desk.store.get_outgoing(outbox_id).raw, policy=default)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_waiting_for_the_customer_stops_the_clock(desk: Desk, clock: Clock) -> None:
    ticket = new_ticket(desk, category="topup_not_credited", complete=False, missing=("account",))
    assert ticket.paused_since == MONDAY
    clock.now = datetime(2026, 11, 30, 12, 0, tzinfo=SHANGHAI)  # past the original deadline
    # Only the reminder for the missing information: no escalation while we wait for them.
    assert names(sweep(desk)) == ["info-reminder-20261123T0200"]
    # The customer completes the ticket a week later: the deadline moves by the time waited.
    clock.now = datetime(2026, 11, 30, 15, 0, tzinfo=SHANGHAI)
    resumed = save_ticket(desk, replace(desk.store.get_ticket(ticket.id), complete=True))
    assert resumed.paused_since is None
    waited = CALENDAR.working_seconds(MONDAY, clock.now)
    assert resumed.due == CALENDAR.add_working_seconds(ticket.due, waited)  # type: ignore[arg-type]


def test_silence_closes_a_waiting_ticket_with_a_mail(desk: Desk, clock: Clock) -> None:
    ticket = new_ticket(desk, status=TicketStatus.PENDING)
    clock.now = datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI)  # 7 working days later
    assert names(sweep(desk))[-1] == "auto-close-20261123T0200"
    closed = desk.store.get_ticket(ticket.id)
    assert (closed.status, closed.closed_at) == (TicketStatus.CLOSED, clock.now)
    assert closed.next_check is None
    kinds = [m.kind for m in desk.store.outbox()]
    assert kinds == [MessageKind.INFO_REMINDER, MessageKind.CLOSING_NOTICE]
    assert names(sweep(desk)) == []


def test_a_dry_run_says_what_it_would_do_and_does_nothing(desk: Desk, clock: Clock) -> None:
    new_ticket(desk)
    clock.now = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
    assert names(sweep(desk, dry_run=True)) == ["first-response", "remind-50"]
    assert desk.store.outbox() == []
    assert names(sweep(desk)) == ["first-response", "remind-50"]


def test_the_sweep_reads_only_tickets_that_are_due(desk: Desk, clock: Clock) -> None:
    with desk.store.transaction():
        for number in range(1, 2001):
            created = MONDAY if number <= 5 else MONDAY + timedelta(days=60)
            new_ticket(desk, number, created=created, due=CALENDAR.add_working_days(created, 3))
    clock.now = datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
    due = desk.store.tickets_to_check(clock.now)
    assert [t.id for t in due] == [f"OKW-2026-{n:06d}" for n in range(1, 6)]


def test_a_digest_goes_once_a_day(desk: Desk, clock: Clock) -> None:
    new_ticket(desk, 1, assignee="alice@okwallet.example")
    new_ticket(desk, 2)
    clock.now = datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)
    assert send_digests(desk) == []  # before digest_time
    clock.now = datetime(2026, 11, 24, 9, 5, tzinfo=SHANGHAI)
    digests = send_digests(desk)
    assert sorted(d.rcpt_to for d in digests) == [
        ("alice@okwallet.example",),
        ("team@okwallet.example",),
    ]
    assert "OKW-2026-000001" in body(desk, digests[0].id)
    assert send_digests(Desk.open(desk.config, clock=clock)) == []
    clock.now += timedelta(days=1)
    assert len(send_digests(desk)) == 2


def test_sla_sweep_command(desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    new_ticket(desk)
    config_path = desk.config.source
    code = main(
        [
            "--config",
            config_path,
            "sla",
            "sweep",
            "--now",
            "2026-11-25T10:00",
            "--dry-run",
            "--json",
        ]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["threshold"], r["to"]) for r in rows] == [
        ("first-response", "team@okwallet.example"),
        ("remind-50", "team@okwallet.example"),
    ]
    assert main(["--config", config_path, "sla", "sweep", "--now", "yesterday"]) == 64


def test_scheduled_mail_is_sent_like_any_other(desk: Desk, clock: Clock) -> None:
    new_ticket(desk)
    clock.now = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
    sweep(desk)
    delivered: list[Envelope] = []

    def send(envelopes: Sequence[Envelope]) -> dict[str, DeliveryError | None]:
        delivered.extend(envelopes)
        return {e.key: None for e in envelopes}

    assert len(drain_outbox(desk, send).sent) == 2
    assert all(m.state == OutboxState.SENT for m in desk.store.outbox())
    assert all(b"Auto-Submitted: auto-generated" in e.data for e in delivered)


def test_priority_scales_the_targets(desk: Desk) -> None:
    policy = desk.sla_policy
    assert [policy.scaled(4, p) for p in ("urgent", "high", "normal", "low")] == [1, 2, 4, 8]
    urgent = new_ticket(desk, 7, priority=Priority.URGENT, first_response_due=None)
    assert urgent.first_response_due == datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI)  # 2 h


def test_a_closed_ticket_long_untouched_is_still_found_by_an_answer(
    desk: Desk, clock: Clock
) -> None:
    from mailticket.intake.record import take_in

    ticket = new_ticket(desk, 99, status=TicketStatus.PENDING)  # a number no counter gives
    clock.now = datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI)
    sweep(desk)  # auto-close, with a closing notice still to send: not archived yet
    notice = desk.store.outbox()[-1]
    assert notice.kind == MessageKind.CLOSING_NOTICE
    drain_outbox(desk, lambda envelopes: {e.key: None for e in envelopes})
    clock.now += timedelta(days=8)
    sweep(desk)
    assert desk.store.get_ticket(ticket.id).status == TicketStatus.CLOSED

    answer = (
        "From: c99@qq.example\r\nTo: complaints@okwallet.example\r\n"
        f"Subject: Re: [{ticket.id}] 充值没到账\r\nMessage-ID: <late@qq.example>\r\n"
        f"In-Reply-To: {notice.message_id}\r\nReferences: {notice.message_id}\r\n"
        "Date: Mon, 14 Dec 2026 09:00:00 +0800\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n还是没到账\r\n"
    ).encode()
    result = take_in(desk, answer, "test")
    assert result.outcome == "created"
    successor = desk.store.get_ticket(result.ticket_id)
    assert successor.previous_ticket == ticket.id
    assert desk.store.get_ticket(ticket.id).continued_by == successor.id
    assert take_in(desk, answer, "test").outcome == "duplicate"
