"""`mailticket report --month` at N stored tickets (issue 18: under 2 s at 100,000).

Pre-fills a store as `run.py` does (two years of tickets, closed ones archived), then times
the report command as a subprocess, the way a supervisor runs it. No mail servers needed.

    .venv/bin/python bench/report.py --stored 100000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # the bench's prefill

CONFIG = """
[desk]
address = "complaints@okwallet.example"
ticket_prefix = "OKW"

[storage]
path = "store"
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from mailticket import config as config_module
    from mailticket.desk.context import Desk
    from mailticket.desk.sweep import archive_closed

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mailticket.toml"
        path.write_text(CONFIG, encoding="utf-8")
        desk = Desk.open(config_module.load(path, environ={}))
        counts = run.prefill(desk, args.stored, args.seed)
        archive_closed(desk, datetime.now(UTC))
        desk.store.checkpoint()
        month = datetime.now(UTC).strftime("%Y-%m")
        command = [sys.executable, "-m", "mailticket", "--config", str(path), "report",
                   "--month", month, "--json"]  # fmt: skip
        walls = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, check=True)
            walls.append(time.perf_counter() - started)
        times = ", ".join(f"{w:.2f}" for w in walls)
        print(f"stored {args.stored} ({dict(counts)}); report --month {month}: "
              f"{len(done.stdout)} bytes of JSON; wall s {times}")  # fmt: skip


if __name__ == "__main__":
    main()
