"""The report's SQL range queries give the very figures a scan of every ticket gives, on both
engines and for periods that cut tickets at each edge (`report_data`'s hand-counted store)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from report_data import CONFIG, NOW, PERIOD, Clock, build_store

from mailticket import config as config_module
from mailticket.desk import report
from mailticket.desk.context import Desk
from mailticket.desk.report_gather import gather
from mailticket.model import OutboxState


@pytest.fixture(params=["sqlite", "postgresql"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Desk:
    storage = ""
    if request.param == "postgresql":
        storage = f'\n[storage]\nurl = "{request.getfixturevalue("postgres").new_database()}"\n'
    (tmp_path / "mailticket.toml").write_text(CONFIG + storage, encoding="utf-8")
    config = config_module.load(tmp_path / "mailticket.toml", environ={})
    clock = Clock(NOW)
    opened = Desk.open(config, clock=clock)
    request.addfinalizer(opened.store.close)
    build_store(opened, clock)
    return opened


def scanned(desk: Desk, period: report.Period) -> report.ReportInput:
    """The input as the report read it before the range queries: every ticket, in Python."""
    calendar = desk.config.business_calendar
    store, tickets, backlog, failed = desk.store, [], [], []
    for ticket in store.tickets():
        if ticket.status in report.OPEN_STATUSES:
            backlog.append(ticket)
        if any(period.contains(m, calendar) for m in (ticket.created, ticket.resolved_at,
                                                      ticket.closed_at)):  # fmt: skip
            messages = tuple(store.messages(ticket.id, bodies=False))
            tickets.append(report.TicketFacts(ticket, messages))
            failed += [m for m in store.outbox_of(ticket.id) if m.state == OutboxState.FAILED]
    return report.ReportInput(period, NOW, tuple(tickets), tuple(backlog),
                              tuple(store.quarantine()), tuple(failed))  # fmt: skip


@pytest.mark.parametrize(
    "period",
    [
        PERIOD,
        report.Period(date(2026, 10, 1), date(2026, 10, 31)),
        *(report.Period(date(2026, 10, d), date(2026, 10, d)) for d in range(8, 23)),
        report.Period(date(2026, 12, 1), date(2026, 12, 31)),  # nothing in it
    ],
    ids=str,
)
def test_range_queries_give_the_figures_of_a_full_scan(desk: Desk, period: report.Period) -> None:
    calendar = desk.config.business_calendar
    expected = report.compute(scanned(desk, period), calendar)
    assert report.compute(gather(desk.store, period, calendar, NOW), calendar) == expected


def test_the_hand_counted_period_is_not_empty(desk: Desk) -> None:
    """The comparison above compares something: the period has tickets, resolutions,
    the backlog and quarantine of `report_data`."""
    data = gather(desk.store, PERIOD, desk.config.business_calendar, NOW)
    assert len(data.tickets) >= 5 and data.backlog and data.quarantine
    assert any(facts.messages for facts in data.tickets)
    assert all(m.text == "" for facts in data.tickets for m in facts.messages)  # no bodies
