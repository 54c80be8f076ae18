"""Two sweeper processes on one PostgreSQL store at the same moment (test_sweep_once has
threads): each SLA threshold and the day's digest act once (the sweep locks each ticket's row
and claims each threshold in `sla_fired`; the digest claims its day's mark)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from postgres import Postgres
from test_sla import CALENDAR, CONFIG, MONDAY, SHANGHAI, Clock

from mailticket import config as config_module
from mailticket.desk.context import Desk
from mailticket.desk.tickets import save_ticket
from mailticket.model import MessageKind, Ticket, TicketStatus

TICKETS = 120

SWEEPER = """
import json, sys, time
from datetime import datetime
from pathlib import Path
from mailticket import config as config_module
from mailticket.desk.context import Desk
from mailticket.desk.digest import send_digests
from mailticket.desk.sweep import sweep
now = datetime.fromisoformat(sys.argv[2])
desk = Desk.open(config_module.load(Path(sys.argv[1]), environ={}), clock=lambda: now)
go = Path(sys.argv[3])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
actions, digests = sweep(desk), send_digests(desk)
print(json.dumps({"actions": len(actions), "digests": len(digests)}), flush=True)
"""


def test_two_sweepers_at_once_act_on_each_threshold_and_the_digest_once(
    tmp_path: Path, postgres: Postgres
) -> None:
    config_path = tmp_path / "mailticket.toml"
    config_path.write_text(
        CONFIG + f'\n[storage]\nurl = "{postgres.new_database()}"\n', encoding="utf-8"
    )
    config = config_module.load(config_path, environ={})
    desk = Desk.open(config, clock=Clock(MONDAY))
    template = Ticket(
        id="",
        status=TicketStatus.OPEN,
        customer="",
        customer_name="张伟",
        subject="充值没到账",
        language="zh",
        created=MONDAY,
        updated=MONDAY,
        due=CALENDAR.add_working_days(MONDAY, 3),
        sla_working_days=3,
    )
    with desk.store.transaction():
        for n in range(TICKETS):
            ticket = replace(template, id=f"OKW-2026-{n:06d}", customer=f"c{n}@qq.example")
            save_ticket(desk, ticket, new=True)
    later = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)  # two thresholds due, past 09:00
    go = tmp_path / "go"
    sweepers = [
        subprocess.Popen(
            [sys.executable, "-c", SWEEPER, str(config_path), later.isoformat(), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for sweeper in sweepers:
        assert sweeper.stdout is not None and sweeper.stdout.readline().strip() == "ready"
    go.touch()  # both start at once
    results = []
    for sweeper in sweepers:
        out, _ = sweeper.communicate(timeout=120)
        assert sweeper.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    kinds = Counter(m.kind for m in desk.store.outbox())
    print(f"\ntwo sweepers at once over {TICKETS} due tickets: {results}, outbox {dict(kinds)}")
    assert kinds[MessageKind.REMINDER] == 2 * TICKETS  # first-response + remind-50, each once
    assert kinds[MessageKind.DIGEST] == 1  # one digest to the team
    assert sum(r["actions"] for r in results) == 2 * TICKETS
    assert sum(r["digests"] for r in results) == 1
    fired = [desk.store.get_ticket(f"OKW-2026-{n:06d}").sla_fired for n in range(TICKETS)]
    assert all(sorted(f) == ["first-response", "remind-50"] for f in fired)
    desk.store.close()
