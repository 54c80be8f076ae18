"""The commands a person runs, at N stored tickets: `report --month` (issue 18: < 2 s at
100,000), `tickets list` (< 1 s) and `tickets show` (< 0.5 s) (issue 14), and `status`.

Pre-fills a SQL store as `run.py` does (two years of tickets through the Store API, in one
transaction), then times each command as a subprocess, the way an admin runs it, with the
child's own peak RSS (wait4). No mail servers needed. SQLite by default; `--url` names a
PostgreSQL database (empty) to fill instead.

    .venv/bin/python bench/report.py --stored 100000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import run  # the bench's prefill

CONFIG = """
[desk]
address = "complaints@okwallet.example"
ticket_prefix = "OKW"

[storage]
path = "store"
"""


def last_full_month(today: date) -> str:
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def commands(config: Path, month: str, deep: str, show: str) -> dict[str, list[str]]:
    base = [sys.executable, "-m", "mailticket", "--config", str(config)]
    return {
        "--version (start-up floor: imports only)": [*base, "--version"],
        f"report --month {month} --json": [*base, "report", "--month", month, "--json"],
        "tickets list": [*base, "tickets", "list"],
        "tickets list --status open --category topup": [
            *base, "tickets", "list", "--status", "open", "--category", "topup"],
        "tickets list --assignee bob@… --since": [
            *base, "tickets", "list", "--assignee", "bob@okwallet.example", "--since",
            f"{month}-01"],
        f"tickets list --before {deep} (deep page)": [
            *base, "tickets", "list", "--before", deep],
        "tickets list --offset 50000": [*base, "tickets", "list", "--offset", "50000"],
        f"tickets show {show} --json": [*base, "tickets", "show", show, "--json"],
        "status --json": [*base, "status", "--json"],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default="", help="an empty PostgreSQL database to fill")
    parser.add_argument(
        "--dir", help="keep the work folder here; a store already filled there is reused"
    )
    parser.add_argument("--json", action="store_true", help="the figures as JSON after the table")
    args = parser.parse_args()
    from mailticket import config as config_module
    from mailticket.desk.context import Desk
    from mailticket.store import TicketFilter

    with contextlib.ExitStack() as stack:
        folder = args.dir or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="mt-bench-report-")
        )
        path = Path(folder) / "mailticket.toml"
        path.write_text(CONFIG + (f'url = "{args.url}"\n' if args.url else ""), "utf-8")
        desk = Desk.open(config_module.load(path, environ={}))
        started = time.perf_counter()
        counts: dict[str, int] = {"reused": 1}
        if not desk.store.list_tickets(TicketFilter(limit=1)):
            counts = run.prefill(desk, args.stored, args.seed)
        prefill_s = time.perf_counter() - started
        deep, show = (
            desk.store.list_tickets(TicketFilter(limit=1, offset=args.stored // n))[0].id
            for n in (10, 2)
        )  # a page a tenth of the way down; a ticket from the middle of the history
        desk.store.close()
        month = last_full_month(datetime.now(UTC).date())
        figures: dict[str, Any] = {}
        for name, command in commands(path, month, deep, show).items():
            runs = [common.time_command(command, common.PROJECT) for _ in range(args.repeat)]
            if any(r.returncode != 0 for r in runs):
                raise RuntimeError(f"{name} failed with {runs[0].returncode}")
            figures[name] = {
                "seconds": statistics.median(r.seconds for r in runs),
                "cpu_seconds": statistics.median(r.cpu_seconds for r in runs),
                "peak_rss_mb": max(r.peak_rss_mb for r in runs),
                "output_lines": runs[0].output_lines,
                "runs": [round(r.seconds, 3) for r in runs],
            }
    engine = "postgresql" if args.url else "sqlite"
    print(f"{args.stored:,} stored tickets on {engine} ({dict(counts)}), "
          f"prefill {prefill_s:.0f} s; median of {args.repeat} runs, real processes "
          "(wall, CPU, peak RSS):")  # fmt: skip
    for name, figure in figures.items():
        runs = ", ".join(f"{s:.2f}" for s in figure["runs"])
        print(f"  {name:<52} {figure['seconds']:>6.2f} s   CPU {figure['cpu_seconds']:>5.2f} s   "
              f"peak RSS {figure['peak_rss_mb']:>4.0f} MB   ({runs}; {figure['output_lines']} "
              "lines)")  # fmt: skip
    if args.json:
        print(json.dumps({"machine": common.machine(), "stored": args.stored, "engine": engine,
                          "prefill_s": prefill_s, "commands": figures}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
