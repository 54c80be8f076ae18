"""The report's figures on a real store and SLA clock, against a hand count (see
`report_data` for the tickets and the calendar)."""

from __future__ import annotations

from datetime import datetime
from email import message_from_string
from email.policy import default
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from report_data import ALICE, CONFIG, NOW, PERIOD, Clock, build_store

from mailticket import config as config_module
from mailticket.desk import report
from mailticket.desk.context import Desk
from mailticket.desk.digest import send_digests
from mailticket.desk.report_gather import gather

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def desk(tmp_path: Path, clock: Clock) -> Desk:
    (tmp_path / "mailticket.toml").write_text(CONFIG, encoding="utf-8")
    return Desk.open(config_module.load(tmp_path / "mailticket.toml", environ={}), clock=clock)


def test_period_figures_match_a_hand_count(desk: Desk, clock: Clock) -> None:
    build_store(desk, clock)
    calendar = desk.config.business_calendar
    figures = report.compute(gather(desk.store, PERIOD, calendar, NOW), calendar)
    totals = figures["totals"]
    assert {
        k: totals[k]
        for k in (
            "received",
            "acknowledged",
            "resolved",
            "closed",
            "still_open",
            "within_deadline",
            "breached",
            "reopened",
            "info_requests",
            "complete_at_intake",
            "quarantined",
            "outbox_failed",
        )
    } == {
        "received": 5,
        "acknowledged": 3,
        "resolved": 3,
        "closed": 0,
        "still_open": 2,
        "within_deadline": 2,
        "breached": 2,
        "reopened": 1,
        "info_requests": 1,
        "complete_at_intake": 4,
        "quarantined": 3,
        "outbox_failed": 0,
    }
    assert totals["sla_compliance"] == 0.5  # T1, T3 in time; T2 late, T4 overdue open
    assert totals["first_response_hours"] == {"median": 1.0, "p90": 2.0, "count": 3}
    assert totals["resolution_hours"] == {"median": 22.0, "p90": 37.0, "count": 3}
    assert totals["rounds_until_complete_median"] == 1  # T3: asked once, complete since
    assert figures["quarantine_reasons"] == {"no sender": 2, "too large": 1}
    groups = {g["key"]: (g["received"], g["breached"]) for g in figures["groups"]}
    assert groups == {"account": (2, 0), "recharge": (3, 2)}


def test_backlog_ages_in_working_days_overdue_first(desk: Desk, clock: Clock) -> None:
    build_store(desk, clock)
    calendar = desk.config.business_calendar
    backlog = report.compute(gather(desk.store, PERIOD, calendar, NOW), calendar)["backlog"]
    # T4: 8 + 9 + 9 (Sep) + 11 working days in Oct before the 22nd (8-10, 12-16, 19-21) x 9
    # + 3 = 128 h.
    # T5: 9 + 9 + 9 + 3 = 30 h.
    assert [(t["id"][-1], t["age_days"], t["overdue"]) for t in backlog["tickets"]] == [
        ("4", round(128 / 9, 2), True),
        ("5", round(30 / 9, 2), False),
    ]
    assert backlog["by_age"] == {"0-1": 0, "2-3": 1, "4-7": 0, "8+": 1}
    assert backlog["by_assignee"] == {"(team)": 1, ALICE: 1}


def test_report_rows_carry_no_mail_text(desk: Desk, clock: Clock) -> None:
    build_store(desk, clock)
    calendar = desk.config.business_calendar
    figures = report.compute(gather(desk.store, PERIOD, calendar, NOW), calendar)
    assert "秘密正文" not in repr(figures)
    assert "充值没到账" not in repr(figures)


def test_the_daily_digest_sums_up_yesterday(desk: Desk, clock: Clock) -> None:
    build_store(desk, clock)
    clock.now = datetime(2026, 10, 22, 9, 30, tzinfo=SHANGHAI)
    digests = send_digests(desk)
    # Yesterday, 21 October: nothing received, T3 resolved; T4 and T5 open now.
    expected = (
        "昨日 / Yesterday: 收到 received 0, 解决 resolved 1, 超期 breached 0, "
        "达标率 SLA -, 积压 backlog 2"
    )
    assert len(digests) == 2
    for digest in digests:
        text = message_from_string(digest.raw, policy=default).get_body(("plain",))
        assert text is not None and expected in text.get_content()  # type: ignore[attr-defined]


def test_groups_by_agent_name_the_unassigned_as_the_team(desk: Desk, clock: Clock) -> None:
    build_store(desk, clock)
    calendar = desk.config.business_calendar
    data = gather(desk.store, PERIOD, calendar, NOW)
    groups = report.compute(data, calendar, by="assignee")["groups"]
    # T2 (late) and T5 are Alice's; T1, T3 and T4 (overdue) the team's.
    assert [(g["key"], g["received"], g["breached"]) for g in groups] == [
        ("(team)", 3, 1),
        (ALICE, 2, 1),
    ]
