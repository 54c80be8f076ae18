"""Two `mailticket run` daemons on one PostgreSQL and one mailbox, against one.

    .venv/bin/python bench/ha.py --mails 500 [--repeat 2] [--json]

Each run: a fresh database on a private PostgreSQL (the tests' `postgres.py`), a fresh mailbox
on the tests' private Dovecot filled with `--mails` generated mails (complaints, replies,
auto-replies), an SMTP sink; then 1 or 2 real daemon processes are started and the clock runs
until the inbox is empty and the outbox has nothing queued or sending. The third setup
("leader killed", two daemons) kills the leader with SIGKILL when half the mail is in: what a
failover costs end to end.

Only one daemon takes mail in at a time, so a second one is for availability, not speed: it
shares the sending and stands by.
"""

from __future__ import annotations

import argparse
import contextlib
import imaplib
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import generate
import psycopg
from postgres import Postgres

SETUPS = ("one daemon", "two daemons", "leader killed")


def _sql(url: str, query: str) -> list[tuple[Any, ...]]:
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as c:
            return list(c.execute(query).fetchall())  # type: ignore[arg-type]
    except psycopg.errors.UndefinedTable:  # the first daemon is still making the schema
        return []


def _left(url: str) -> int:
    rows = _sql(url, "SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending')")
    return int(rows[0][0]) if rows else -1


def _leader_pid(url: str) -> int:
    rows = _sql(url, "SELECT value FROM marks WHERE name LIKE 'leader:%'")
    return int(json.loads(rows[0][0])["pid"]) if rows else 0


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def one_run(
    work: Path, dovecot: Any, sink: Any, pg: Postgres, setup: str, mails: int, timeout: float
) -> dict:
    name = f"ha{int(time.time() * 1000) % 10**9}"
    account = common.new_account(dovecot, name)
    folder = work / name
    url = pg.new_database()
    config = common.desk_config(folder, account, sink, storage_url=url)
    raws = list(generate.mails(mails))
    generate.append_all(account.host, account.port, account.username, account.password, raws)
    sent_before = len(sink.messages)
    count = 1 if setup == "one daemon" else 2
    logs = [(folder / f"daemon{n}.log").open("wb") for n in range(count)]
    started = time.monotonic()
    daemons = [
        subprocess.Popen(
            [sys.executable, "-m", "mailticket", "--config", str(config), "run"],
            cwd=common.PROJECT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    killed_at = None
    try:
        while True:
            inbox = _inbox(account)
            if killed_at is None and setup.endswith("killed") and inbox <= mails // 2:
                pid = _leader_pid(url)
                victim = next(d for d in daemons if d.pid == pid)
                victim.send_signal(signal.SIGKILL)
                killed_at = time.monotonic() - started
            if inbox == 0 and _left(url) == 0:
                break
            if time.monotonic() - started > timeout:
                tails = [log.name + ":\n" + _tail(Path(log.name)) for log in logs]
                raise SystemExit(
                    f"{setup}: not done after {timeout:.0f} s (inbox {inbox}, outbox left "
                    f"{_left(url)})\n" + "\n".join(tails)
                )
            time.sleep(0.1)
        seconds = time.monotonic() - started
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
        for daemon in daemons:
            daemon.wait(timeout=60)
        for log in logs:
            log.close()
    tickets = int(_sql(url, "SELECT count(*) FROM tickets")[0][0])
    return {
        "setup": setup,
        "mails": mails,
        "seconds": round(seconds, 2),
        "mails_per_s": round(mails / seconds, 1),
        "tickets": tickets,
        "sent": len(sink.messages) - sent_before,
        "killed_at_s": None if killed_at is None else round(killed_at, 2),
    }


def _inbox(account: Any) -> int:
    client = imaplib.IMAP4(account.host, account.port, timeout=30)
    try:
        client.login(account.username, account.password)
        _typ, data = client.select("INBOX", readonly=True)
        client.logout()
        return int(data[0] or 0)
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a run may take")
    parser.add_argument(
        "--setups", default=",".join(SETUPS), help=f"comma-separated, of: {', '.join(SETUPS)}"
    )
    args = parser.parse_args(argv)
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    if not setups or set(setups) - set(SETUPS):
        parser.error(f"--setups takes some of: {', '.join(SETUPS)}")
    runs: list[dict] = []
    with common.postgres(True) as pg, common.servers() as (work, dovecot, sink):
        assert pg is not None
        for _ in range(args.repeat):
            for setup in setups:  # alternating, so load drifts hit all setups alike
                runs.append(one_run(work, dovecot, sink, pg, setup, args.mails, args.timeout))
    print(f"{args.mails} mails, {args.repeat} run(s) each, PostgreSQL with fsync on")
    print(f"{'setup':<22}{'mails/s (median)':>18}{'seconds':>10}{'tickets':>9}{'sent':>7}")
    for setup in setups:
        mine = [r for r in runs if r["setup"] == setup]
        rate = statistics.median(r["mails_per_s"] for r in mine)
        print(
            f"{setup:<22}{rate:>18.1f}{statistics.median(r['seconds'] for r in mine):>10.1f}"
            f"{mine[-1]['tickets']:>9}{mine[-1]['sent']:>7}"
        )
    if args.json:
        print(json.dumps({"machine": common.machine(), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
