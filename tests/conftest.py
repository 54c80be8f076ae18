"""Shared pytest fixtures: real mail servers from ``servers.py``."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helpers
import pytest
from postgres import Postgres, require_postgres
from servers import Dovecot, ImapAccount, SmtpSink, require_mail_servers
from sqlalchemy import Engine

from mailticket.store import base as store_base
from mailticket.store import engine as store_engine


@pytest.fixture
def mail_servers() -> None:
    """For tests that start their own servers: skip without Dovecot locally, fail in CI."""
    require_mail_servers()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One private Dovecot for the whole session; tests isolate themselves by user."""
    require_mail_servers()
    # Not tmp_path_factory: its 0700 parent keeps Dovecot's unprivileged processes out.
    root = Path(tempfile.mkdtemp(prefix="mt-dovecot-"))
    try:
        with Dovecot(root) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imap_account(dovecot: Dovecot) -> ImapAccount:
    """A fresh mailbox user, so no test sees another test's mail."""
    if not dovecot.running:  # an earlier test stopped it and failed before restarting
        dovecot.start()
    username = f"user-{uuid.uuid4().hex[:12]}"
    password = secrets.token_urlsafe(12)
    dovecot.add_user(username, password)
    return ImapAccount(
        host=dovecot.host,
        port=dovecot.imap_port,
        imaps_port=dovecot.imaps_port,
        username=username,
        password=password,
        dovecot=dovecot,
    )


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server recording what it receives; stopped after the test."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One private PostgreSQL for the whole session; each test takes its own database."""
    server = Postgres(require_postgres())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store's engine for a test marked `helpers.both_engines`: SQLite, or a fresh
    database on the session's private PostgreSQL, whose URL `write_config` then writes.
    The engines the test's stores opened are disposed after it (a test rarely closes the
    `Desk` it opened, and psycopg warns of every connection left open)."""
    name = str(getattr(request, "param", "sqlite"))
    opened: list[Engine] = []
    if name == "postgresql":
        server: Postgres = request.getfixturevalue("postgres")
        monkeypatch.setattr(helpers, "STORE_URL", server.new_database())

        def open_and_keep(*args: Any, **kwargs: Any) -> Engine:
            engine = store_engine.open_engine(*args, **kwargs)
            opened.append(engine)
            return engine

        monkeypatch.setattr(store_base, "open_engine", open_and_keep)
    yield name
    for engine in opened:
        engine.dispose()
