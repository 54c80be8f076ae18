"""Two daemons sweeping one store: each SLA threshold acts once, decided by the UNIQUE row in
`sla_fired` (insert-if-absent), on SQLite and on the private PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from test_sla import CONFIG, MONDAY, SHANGHAI, Clock, new_ticket

from mailticket import config as config_module
from mailticket.desk import sweep as sweep_module
from mailticket.desk.context import Desk
from mailticket.desk.sweep import sweep
from mailticket.model import MessageKind

DUE = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)  # first-response and remind-50 have come


def two_desks(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[Desk]:
    storage = ""
    if engine == "postgresql":
        storage = f'\n[storage]\nurl = "{request.getfixturevalue("postgres").new_database()}"\n'
    (tmp_path / "mailticket.toml").write_text(CONFIG + storage, encoding="utf-8")
    config = config_module.load(tmp_path / "mailticket.toml", environ={})
    desks = [Desk.open(config, clock=Clock(MONDAY)) for _ in range(2)]
    for desk in desks:  # a pooled PostgreSQL connection must be closed, not left to the GC
        request.addfinalizer(desk.store.close)
    return desks


def reminders(desk: Desk) -> list[str]:
    return sorted(m.ticket_id for m in desk.store.outbox() if m.kind == MessageKind.REMINDER)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_daemon_with_a_stale_ticket_leaves_a_won_threshold_alone(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first, second = two_desks(engine, tmp_path, request)
    ticket = new_ticket(first)
    stale = second.store.get_ticket(ticket.id)  # read before the first daemon acts
    assert [a.threshold for a in sweep(first, now=DUE)] == ["first-response", "remind-50"]
    queued = len(first.store.outbox())
    with second.store.transaction(), pytest.raises(sweep_module._Taken):
        sweep_module._sweep_ticket(second, stale, DUE)  # what a racing sweep would do
    assert len(first.store.outbox()) == queued  # nothing more queued
    assert first.store.get_ticket(ticket.id).sla_fired == ("first-response", "remind-50")
    assert sweep(second, now=DUE) == []  # and a later sweep finds nothing due


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_two_daemons_sweeping_at_once_act_on_each_threshold_once(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first, second = two_desks(engine, tmp_path, request)
    with first.store.transaction():
        for number in range(1, 41):
            new_ticket(first, number)
    done: list[list[str]] = [[], []]

    def run(index: int, desk: Desk) -> None:
        done[index] = [f"{a.ticket_id}/{a.threshold}" for a in sweep(desk, now=DUE)]

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    acted = done[0] + done[1]
    assert len(acted) == len(set(acted)) == 80  # 40 tickets x (first-response, remind-50)
    # two reminders per ticket (first response, remind-50), none twice
    assert reminders(first) == sorted([f"OKW-2026-{n:06d}" for n in range(1, 41)] * 2)
