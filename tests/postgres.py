"""A private PostgreSQL for the tests: `initdb` + `pg_ctl` in a temporary folder, listening on
127.0.0.1 only, as an unprivileged user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from servers import LOCALHOST, free_port, missing_tool


def find_postgres_bin() -> Path | None:
    """Debian's `postgresql` puts its server binaries under /usr/lib/postgresql/N/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _major(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def require_postgres() -> Path:
    """Skip without PostgreSQL locally, but fail in CI, where a skip would hide lost coverage."""
    bin_dir = find_postgres_bin()
    if bin_dir is not None:
        return bin_dir
    message = (
        "PostgreSQL not installed: the store's PostgreSQL tests need `apt-get install postgresql`"
    )
    missing_tool(message)


class Postgres:
    """One server for the session; `new_database()` gives each test its own database."""

    def __init__(self, bin_dir: Path, *, fsync: bool = False) -> None:
        self.bin_dir = bin_dir
        self.fsync = fsync  # off for the tests (speed); on for benchmarks (as deployed)
        self.root = Path(tempfile.mkdtemp(prefix="mt-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = "postgres" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            account = pwd.getpwnam("postgres")  # made by Debian's package
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8")
        options = (
            f"-c listen_addresses={LOCALHOST} -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync={'on' if self.fsync else 'off'} "
            "-c max_connections=100"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l",
                  str(self.root / "log"), "start")  # fmt: skip

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{LOCALHOST}:{self.port}/{database}"

    def new_database(self, template: str = "") -> str:
        """A fresh database, empty or a copy of the database `template`; returns its
        SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(
            host=LOCALHOST, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)
