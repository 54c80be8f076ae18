"""What the benchmarks share: the tests' private Dovecot and SMTP sink, a desk config pointing at
them, and small helpers for percentiles, child processes and the machine description.

Why the tests' servers (`tests/servers.py`) and config (`tests/helpers.py`): the figures are
only worth something if they come from the same real servers and the same daemon code paths
the integration tests prove correct.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
BENCH = PROJECT / "bench"
sys.path.insert(0, str(PROJECT / "tests"))

from helpers import write_config  # noqa: E402
from postgres import Postgres, find_postgres_bin  # noqa: E402
from servers import Dovecot, ImapAccount, SmtpSink, find_dovecot  # noqa: E402

from mailticket.config_sections import BUILTIN_RULES  # noqa: E402

__all__ = ["Dovecot", "ImapAccount", "SmtpSink", "write_config"]


def require_dovecot() -> None:
    """Say how to get Dovecot instead of failing deep inside a benchmark."""
    if find_dovecot() is None:
        sys.exit("dovecot not found: apt-get install -y dovecot-imapd dovecot-lmtpd")


@contextlib.contextmanager
def servers(keep: bool = False) -> Iterator[tuple[Path, Dovecot, SmtpSink]]:
    """A work folder (under /tmp, short enough for Dovecot's socket paths), a private Dovecot
    and an SMTP sink; everything is stopped and removed afterwards unless `keep`."""
    require_dovecot()
    work = Path(tempfile.mkdtemp(prefix="mt-bench-"))
    work.chmod(0o755)  # Dovecot's unprivileged processes must reach the mail below it
    try:
        with Dovecot(work / "dovecot", tls=False) as dovecot, SmtpSink() as sink:
            yield work, dovecot, sink
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def new_account(dovecot: Dovecot, name: str) -> ImapAccount:
    password = secrets.token_urlsafe(12)
    dovecot.add_user(name, password)
    return ImapAccount(
        host=dovecot.host,
        port=dovecot.imap_port,
        imaps_port=dovecot.imaps_port,
        username=name,
        password=password,
        dovecot=dovecot,
    )


def desk_config(
    folder: Path, account: ImapAccount, sink: SmtpSink, imap_extra: str = "", storage_url: str = ""
) -> Path:
    """The tests' config (plain IMAP and SMTP on loopback, store in `folder/store`), with two
    agents as config.example.toml has (so agent notices and SLA reminders go out as in real
    use), plus the built-in completeness rules, so scoring is measured too."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = '\n[agents]\naddresses = ["alice@okwallet.example", "bob@okwallet.example"]\n'
    extra += f'\n[rules]\npath = "{BUILTIN_RULES}"\n'
    storage = f'url = "{storage_url}"' if storage_url else ""
    return write_config(
        folder, account, sink, imap_extra=imap_extra, storage_extra=storage, extra=extra
    )


@contextlib.contextmanager
def postgres(wanted: bool) -> Iterator[Postgres | None]:
    """A private PostgreSQL with fsync on (as deployed: the tests run theirs without), or
    None when the benchmark runs on SQLite."""
    if not wanted:
        yield None
        return
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        sys.exit("PostgreSQL not found: apt-get install -y postgresql")
    server = Postgres(bin_dir, fsync=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: with few samples it reports a value that was measured."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[min(len(ordered), int(rank)) - 1]


def run_child(args: list[str], *, env: dict[str, str] | None = None, log: Path) -> dict[str, Any]:
    """Run a worker (`python bench/run.py --worker ...`) and return the JSON of its last line.

    Workers are separate processes so their CPU time and peak RSS are theirs alone, not the
    SMTP sink's thread or the benchmark's own bookkeeping.
    """
    with log.open("wb") as errors:
        done = subprocess.run(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**os.environ, **(env or {})},
            cwd=PROJECT,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise RuntimeError(f"worker {args[1:4]} failed ({done.returncode}):\n{tail}")
    last = done.stdout.decode().strip().splitlines()[-1]
    return json.loads(last)


@dataclass
class ChildRun:
    seconds: float
    peak_rss_mb: float
    returncode: int
    output_lines: int
    cpu_seconds: float = 0.0  # the child's user + system CPU: steadier than wall on a busy host


def time_command(args: list[str], cwd: Path) -> ChildRun:
    """Wall time, CPU time and peak RSS of one command, from wait4: the child's own figures."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = out.read().count(b"\n")
    cpu = usage.ru_utime + usage.ru_stime
    return ChildRun(seconds, usage.ru_maxrss / 1024, process.returncode, lines, cpu)


def machine() -> dict[str, str]:
    """Date, CPUs, memory and Python: what a reader needs to compare figures."""
    memory = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        text = Path("/proc/meminfo").read_text()
        kilobytes = int(re.search(r"MemTotal:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
        memory = f"{kilobytes / 1024 / 1024:.1f} GiB"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def rusage_self() -> tuple[float, float]:
    """CPU seconds (user + system) and peak RSS in MB of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
