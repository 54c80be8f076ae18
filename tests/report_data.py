"""A store of known tickets for the report's tests, built through the real SLA clock.

October 2026 in Shanghai: 1-7 October are the National Day holidays, Saturday 10 October is a
make-up working day (调休). Working hours 09:00-18:00, 9 h a day.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from mailticket.desk import report
from mailticket.desk.context import Desk
from mailticket.desk.tickets import save_ticket
from mailticket.model import (
    Direction,
    MessageKind,
    QuarantineRecord,
    Ticket,
    TicketMessage,
    TicketStatus,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD = report.Period(datetime(2026, 9, 28).date(), datetime(2026, 10, 31).date())
NOW = datetime(2026, 10, 22, 12, 0, tzinfo=SHANGHAI)
ALICE = "alice@okwallet.example"

CONFIG = """
[desk]
address = "complaints@okwallet.example"
ticket_prefix = "OKW"
sla_working_days = 3

[agents]
addresses = ["alice@okwallet.example"]
team_address = "team@okwallet.example"
require_authentication = false
"""


def at(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def open_ticket(
    desk: Desk, clock: Clock, number: int, created: datetime, days: int, **changes: object
) -> Ticket:
    clock.now = created
    calendar = desk.config.business_calendar
    ticket = Ticket(
        id=f"OKW-2026-{number:06d}",
        status=TicketStatus.OPEN,
        customer=f"c{number}@qq.example",
        customer_name="张伟",
        subject="<b>充值没到账</b>",
        language="zh",
        created=created,
        updated=created,
        due=calendar.add_working_days(created, days),
        sla_working_days=days,
        category="recharge",
        complete=True,
    )
    return save_ticket(desk, replace(ticket, **changes), new=True)


def mail(desk: Desk, ticket: Ticket, kind: MessageKind, when: datetime) -> None:
    direction = Direction.IN if kind == MessageKind.FOLLOWUP else Direction.OUT
    desk.store.add_message(
        TicketMessage(
            ticket.id,
            direction,
            kind,
            f"<{kind}-{when:%d%H}@x>",
            "a@x",
            ("b@x",),
            "s",
            when,
            text="秘密正文 body",
        )
    )


def resolve(desk: Desk, clock: Clock, ticket: Ticket, when: datetime) -> Ticket:
    clock.now = when
    mail(desk, ticket, MessageKind.RESOLUTION, when)
    current = desk.store.get_ticket(ticket.id)
    return save_ticket(desk, replace(current, status=TicketStatus.RESOLVED, resolved_at=when))


def build_store(desk: Desk, clock: Clock) -> None:
    # T1: before the holiday, answered and resolved after it, resolved on the make-up Saturday.
    t1 = open_ticket(desk, clock, 1, at(9, 30, 17), 3)
    assert t1.due == at(10, 10, 18)  # 8, 9 Oct and the make-up Saturday 10 Oct
    mail(desk, t1, MessageKind.ACKNOWLEDGEMENT, at(9, 30, 17))
    mail(desk, t1, MessageKind.REPLY, at(10, 8, 10))  # 1 h on 30 Sep + 1 h on 8 Oct
    resolve(desk, clock, t1, at(10, 10, 12))  # 1 + 9 + 9 + 3 = 22 h, within
    # T2: one working day promised, resolved late, then the customer writes again: reopened.
    t2 = open_ticket(desk, clock, 2, at(10, 12, 10), 1, assignee=ALICE)
    mail(desk, t2, MessageKind.ACKNOWLEDGEMENT, at(10, 12, 10))
    mail(desk, t2, MessageKind.REPLY, at(10, 12, 11))  # 1 h
    resolve(desk, clock, t2, at(10, 14, 10))  # 8 + 9 + 1 = 18 h, after 13 Oct 18:00
    mail(desk, t2, MessageKind.FOLLOWUP, at(10, 14, 15))
    # T3: incomplete on arrival, the clock stands while we wait for the customer.
    t3 = open_ticket(desk, clock, 3, at(10, 15, 9), 3, category="account", complete=False)
    assert t3.paused_since == at(10, 15, 9)
    mail(desk, t3, MessageKind.ACKNOWLEDGEMENT, at(10, 15, 9))
    mail(desk, t3, MessageKind.INFORMATION_REQUEST, at(10, 15, 10))  # 1 h
    clock.now = at(10, 16, 15)
    t3 = save_ticket(desk, replace(t3, complete=True))  # waited 9 + 6 = 15 working hours
    assert t3.due == at(10, 22, 15)  # 20 Oct 18:00 moved on by 15 h
    resolve(desk, clock, t3, at(10, 21, 10))  # 9 + 9 + 9 + 9 + 1 = 37 h, within thanks to pause
    # T4: received in September, still open and overdue. T5: open, not yet due.
    open_ticket(desk, clock, 4, at(9, 28, 10), 2)
    open_ticket(desk, clock, 5, at(10, 19, 9), 5, category="account", assignee=ALICE)
    for number, (when, reason) in enumerate(
        [
            (at(10, 2, 8), "no sender"),
            (at(10, 5, 8), "too large"),
            (at(10, 9, 8), "no sender"),
            (at(9, 9, 8), "old"),
        ]
    ):
        record = QuarantineRecord(f"Q{number}", "sha", reason, "imap", when)
        desk.store.add_quarantine(record, f"k{number}")
    clock.now = NOW
