"""Real mail servers for tests: a private Dovecot (IMAP, IMAPS, LMTP) and an SMTP sink.

Mocks of IMAP/SMTP hide exactly the bugs that matter to a mail daemon (capabilities only
after login, IDLE batching, servers going away), so the tests talk to real servers that
live entirely under a temporary directory and listen only on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LOCALHOST = "127.0.0.1"
_POLL_INTERVAL = 0.02
# Unix socket paths are limited to 108 bytes; Dovecot puts names of up to ~30 characters
# (e.g. "login/imap-urlauth-login") under base_dir.
_MAX_BASE_DIR_LEN = 70
# Fixed uid/gid for mailboxes when running as root: Dovecot refuses uid 0 for mail.
_NOBODY = 65534
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (servers get fixed ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _free_ports(count: int) -> list[int]:
    """Like free_port(), but ``count`` distinct ports (all held open while choosing)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOCALHOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def find_dovecot() -> str | None:
    """Locate the dovecot binary; /usr/sbin is often not on a non-root user's PATH."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
    return shutil.which("dovecot", path=path)


def _port_is_bindable(port: int) -> bool:
    """True if a listener could bind the port now (with SO_REUSEADDR, like the servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCALHOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
        return True


def _wait_ports_free(ports: Iterable[int], timeout: float) -> None:
    """Wait (briefly) until ports are released by a previous instance's processes."""
    deadline = time.monotonic() + timeout
    for port in ports:
        while not _port_is_bindable(port) and time.monotonic() < deadline:
            time.sleep(_POLL_INTERVAL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group we created (start_new_session), if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group is still running (zombies do not count).

    Orphaned zombies are reaped by PID 1, which in some containers never happens, so
    ``killpg(pgid, 0)`` alone could report them forever.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
            # Format: "pid (comm) state ppid pgrp ..."; comm may contain spaces and parens.
            state, _ppid, pgrp = stat_line[stat_line.rindex(")") + 2 :].split()[:3]
        except (OSError, ValueError):  # exited meanwhile
            continue
        if int(pgrp) == pgid and state not in ("Z", "X"):
            return True
    return False


def _check_traversable(path: Path) -> None:
    """Raise if Dovecot's unprivileged processes could not reach files under ``path``.

    As root, auth runs as the ``dovecot`` user and mail access as uid 65534; both need
    search permission on every ancestor (pytest's ``tmp_path`` lives in a 0700 directory).
    """
    for parent in path.parents:
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            raise ValueError(
                f"{parent} is not world-searchable, so Dovecot's unprivileged processes "
                f"cannot reach {path}; use a directory from tempfile.mkdtemp() instead"
            )


def require_mail_servers() -> None:
    """Skip without Dovecot locally, but fail in CI, where a skip would hide lost coverage."""
    missing = [
        name
        for name, found in (("dovecot", find_dovecot()), ("openssl", shutil.which("openssl")))
        if not found
    ]
    if not missing:
        return
    message = (
        f"{' and '.join(missing)} not installed: the IMAP/LMTP tests need "
        "`apt-get install dovecot-imapd dovecot-lmtpd openssl`"
    )
    missing_tool(message)


def missing_tool(message: str) -> NoReturn:
    """A test's server or program is not installed: skip locally, fail in CI (CI=true), where a
    skip would hide lost coverage."""
    import pytest  # here: bench/ uses this module without pytest installed

    if os.environ.get("CI"):
        pytest.fail(f"{message}; in CI, run the test command from README.md", pytrace=False)
    pytest.skip(message)


def make_certificate(cert_path: Path, key_path: Path) -> None:
    """Make a self-signed EC certificate for localhost/127.0.0.1 (a few ms)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl command not found (needed for TLS)")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "7", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key_path), "-out", str(cert_path)],
        check=True,
        capture_output=True,
    )  # fmt: skip


class Dovecot:
    """A private Dovecot (IMAP + STARTTLS, IMAPS, LMTP) under ``root``, run as a child process.

    Everything (config, sockets, state, log, maildirs, users file) lives under ``root``;
    the system configuration in /etc/dovecot is never read. Works as root (mail stored as
    uid 65534) and as an ordinary user (everything runs as that user).
    """

    host: str = LOCALHOST

    def __init__(self, root: Path, *, tls: bool = True) -> None:
        self.root = Path(root).resolve()
        self.tls = tls
        self.imap_port, self.imaps_port, self.lmtp_port = _free_ports(3)
        if not tls:
            self.imaps_port = 0  # "port = 0" disables the listener (else it binds 993)
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self.users_dir = self.root / "users"
        self.mail_dir = self.root / "mail"
        self.cert_path: Path | None = self.root / "cert.pem" if tls else None
        self.key_path: Path | None = self.root / "key.pem" if tls else None
        self._base_dir = self.root / "run"
        self._state_dir = self.root / "state"
        self._stdio_path = self.root / "dovecot.stdio"
        self._proc: subprocess.Popen[bytes] | None = None
        self._binary = find_dovecot()
        if self._binary is None:
            raise FileNotFoundError(
                "dovecot not found (apt-get install dovecot-imapd dovecot-lmtpd)"
            )
        if len(str(self._base_dir)) > _MAX_BASE_DIR_LEN:
            raise ValueError(f"{self.root} is too long for Dovecot's unix socket paths")
        self._prepare()

    # -- setup ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Create the directory tree, users file, certificate and config (once)."""
        as_root = os.geteuid() == 0
        if as_root:
            _check_traversable(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        if as_root:
            self.root.chmod(0o755)
        for directory in (self._base_dir, self._state_dir, self.mail_dir, self.users_dir):
            directory.mkdir(exist_ok=True)
        self.users_dir.chmod(0o755)  # read by the auth process as user "dovecot"
        if as_root:
            os.chown(self.mail_dir, _NOBODY, _NOBODY)
        if self.tls:
            self._make_certificate()
        self.config_path.write_text(self.config_text(), encoding="utf-8")

    def _make_certificate(self) -> None:
        assert self.cert_path is not None and self.key_path is not None
        make_certificate(self.cert_path, self.key_path)

    def config_text(self) -> str:
        """The complete dovecot.conf; ``-c`` makes Dovecot ignore /etc/dovecot entirely."""
        root = self.root
        if os.geteuid() == 0:
            uid = gid = _NOBODY
            identity = ""
        else:
            uid, gid = os.getuid(), os.getgid()
            try:
                user = pwd.getpwuid(uid).pw_name
                group = grp.getgrgid(gid).gr_name
            except KeyError as exc:
                raise RuntimeError(f"Dovecot needs a user and group name for {uid}:{gid}") from exc
            identity = (
                "# Not root: every process runs as this user, and chroot needs root.\n"
                f"default_internal_user = {user}\n"
                f"default_login_user = {user}\n"
                f"default_internal_group = {group}\n"
                "service anvil {\n  chroot =\n}\n"
                "service imap-login {\n  chroot =\n}\n"
            )
        if self.tls:
            ssl = f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{self.key_path}\n"
        else:
            ssl = "ssl = no\n"
        return f"""\
# Private Dovecot for mailticket tests; generated by tests/servers.py.
base_dir = {self._base_dir}
state_dir = {self._state_dir}
log_path = {self.log_path}
listen = {self.host}
protocols = imap lmtp
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0
# No slow-down of failed logins: tests of wrong passwords would wait up to 15 s.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# "desk", "Desk" and "desk@example.com" are all the user "desk".
auth_username_format = %Ln
first_valid_uid = 1
mail_location = maildir:{root}/mail/%n/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
protocol imap {{
  # The default 10 is easily reached by a daemon plus the tests' own connections.
  mail_max_userip_connections = 100
}}
lmtp_save_to_detail_mailbox = no
# One passwd-file per user: Dovecot re-checks a changed file at most once a second, so
# a user appended to a shared file right after another login may be refused; a new file
# is read on its first lookup.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.users_dir}/%n
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.imaps_port}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
}}
{identity}"""

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the master process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start Dovecot and return once the IMAP greeting arrives (raises with the log if not)."""
        if self.running:
            return
        # After restart() the old login processes may hold the listeners for a moment.
        _wait_ports_free(self._ports(), timeout=timeout)
        with self._stdio_path.open("ab") as stdio:
            self._proc = subprocess.Popen(
                [str(self._binary), "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stdio,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: cleanup never hits the test runner
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()  # reap any child processes it left behind
                raise RuntimeError(f"dovecot exited with status {code}\n{self._diagnostics()}")
            if self._greeting_ok():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"dovecot did not greet within {timeout}s\n{self._diagnostics()}"
                )
            time.sleep(_POLL_INTERVAL)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Dovecot and wait until all of its processes are gone.

        SIGTERM goes to the whole process group: sent to the master alone, shutdown takes
        ~1 s and the log process lingers ~1 s more; sent to all, everything exits at once.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        deadline = time.monotonic() + timeout
        while _group_alive(proc.pid):
            if time.monotonic() > deadline:
                _signal_group(proc.pid, signal.SIGKILL)
                break
            time.sleep(_POLL_INTERVAL)

    def restart(self) -> None:
        """Stop and start again on the same ports, dropping every client connection."""
        self.stop()
        self.start()

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _ports(self) -> list[int]:
        return [p for p in (self.imap_port, self.imaps_port, self.lmtp_port) if p]

    def _greeting_ok(self) -> bool:
        try:
            with socket.create_connection((self.host, self.imap_port), timeout=1.0) as sock:
                return sock.makefile("rb").readline().startswith(b"* OK")
        except OSError:
            return False

    def log_tail(self, n: int = 50) -> str:
        """The last ``n`` lines of Dovecot's log: the only place its errors show up."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-n:])

    def _diagnostics(self) -> str:
        try:
            stdio = self._stdio_path.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            stdio = ""
        return f"--- dovecot output ---\n{stdio}\n--- {self.log_path} ---\n{self.log_tail()}"

    # -- users and mail ------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add a mail user, usable at once without a restart (its own passwd-file)."""
        if not _USERNAME_RE.match(name):
            raise ValueError(f"unsupported user name {name!r} (use lowercase [a-z0-9._-])")
        if not password or any(c in password for c in ":\r\n"):
            raise ValueError("password must be non-empty, without ':' or line breaks")
        path = self.users_dir / name
        # Written aside and linked so the auth process never reads a half-written file.
        fd, tmp_name = tempfile.mkstemp(dir=self.users_dir, prefix=".new-")
        with os.fdopen(fd, "w", encoding="utf-8") as tmp_file:
            tmp_file.write(f"{name}:{{PLAIN}}{password}\n")
        tmp = Path(tmp_name)
        tmp.chmod(0o644)
        try:
            os.link(tmp, path)  # fails if the user exists: a changed password could go unseen
        except FileExistsError:
            raise ValueError(f"user {name!r} already exists") from None
        finally:
            tmp.unlink()

    def deliver_lmtp(self, user: str, raw: bytes, mail_from: str = "sender@example.com") -> None:
        """Deliver ``raw`` into ``user``'s INBOX by LMTP, as an MTA would."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(mail_from, [user], raw)

    def append(self, user: str, password: str, raw: bytes, folder: str = "INBOX") -> int | None:
        """APPEND ``raw`` to ``folder`` with plain imaplib (not our code); return its UID.

        ``folder`` is sent as is: ASCII names only (imaplib does no modified UTF-7).
        """
        client = imaplib.IMAP4(self.host, self.imap_port, timeout=10)
        try:
            client.login(user, password)
            typ, data = client.append(_quote_mailbox(folder), None, None, raw)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"APPEND failed: {data!r}")
            match = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0] or b"")
            client.logout()
            return int(match.group(1)) if match else None
        finally:
            with contextlib.suppress(Exception):
                client.shutdown()


def _quote_mailbox(name: str) -> str:
    """Quote a mailbox name for imaplib, which sends arguments verbatim."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class ImapAccount:
    """A throw-away mailbox user on the test Dovecot."""

    host: str
    port: int
    imaps_port: int
    username: str
    password: str
    dovecot: Dovecot


# -- SMTP ------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    """One message as the SMTP sink received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # raw message bytes as received (CRLF line ends, dot-unstuffed)


class _SinkHandler:
    """aiosmtpd handler: record the message, or answer DATA with ``sink.reject_with``."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        rejection = self._sink.reject_recipients.get(address.lower())
        if rejection:
            return rejection
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rejection = self._sink.reject_with
        if rejection:
            return rejection
        self._sink._record(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content or b""),
            )
        )
        return "250 2.0.0 OK: queued"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it receives, for assertions.

    Set ``reject_with`` (e.g. ``"450 4.3.0 try later"`` or ``"550 5.1.1 no such user"``)
    to make it answer DATA with that reply instead, to test retries and bounces.
    """

    host: str = LOCALHOST

    def __init__(
        self,
        port: int | None = None,
        *,
        security: str = "none",
        credentials: tuple[str, str] | None = None,
        certificate: tuple[Path, Path] | None = None,
    ) -> None:
        """`security` is none, starttls (required) or ssl; `credentials` requires AUTH."""
        self.port = port or free_port()
        self.security = security
        self.credentials = credentials
        self._tls: ssl.SSLContext | None = None
        if security != "none":
            if certificate is None:
                raise ValueError("a TLS sink needs certificate=(cert_path, key_path)")
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(*map(str, certificate))
        self._reject_with: str | None = None
        # Per-recipient RCPT replies, e.g. {"gone@x.example": "550 5.1.1 no such user"}.
        self.reject_recipients: dict[str, str] = {}
        self._messages: list[ReceivedMail] = []
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    @property
    def reject_with(self) -> str | None:
        """Reply to DATA instead of accepting, e.g. "450 4.3.0 try later"; None accepts."""
        return self._reject_with

    @reject_with.setter
    def reject_with(self, reply: str | None) -> None:
        if reply is not None and not re.fullmatch(r"[45]\d\d( .*)?", reply):
            raise ValueError(f"reject_with must be a 4xx or 5xx SMTP reply, not {reply!r}")
        self._reject_with = reply

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of the messages received so far (safe to read from any thread)."""
        with self._cond:
            return list(self._messages)

    def _record(self, mail: ReceivedMail) -> None:
        with self._cond:
            self._messages.append(mail)
            self._cond.notify_all()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Start listening; returns once the server answers."""
        if self._controller is not None:
            return
        # A Controller's event loop is closed on stop, so each start needs a new one.
        # asyncio's create_server sets SO_REUSEADDR, so restarting on the port works
        # even with the previous connections still in TIME_WAIT.
        options: dict[str, Any] = {}
        if self.security == "starttls":
            options.update(tls_context=self._tls, require_starttls=True)
        if self.credentials is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd does not count implicit TLS as TLS for this check (and then hides
                # AUTH); the session is encrypted either way. pyproject.toml silences the
                # warning aiosmtpd gives for it.
                auth_require_tls=self.security != "ssl",
            )
        controller = Controller(
            _SinkHandler(self),
            hostname=self.host,
            port=self.port,
            decode_data=False,
            ready_timeout=10.0,
            ssl_context=self._tls if self.security == "ssl" else None,
            server_hostname="localhost",
            **options,
        )
        controller.start()
        self._controller = controller

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        # handled=False: aiosmtpd then answers "535 5.7.8"; its default (handled=True) sends
        # nothing, and a wrong password looked like a read timeout to the client.
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        given = (auth_data.login.decode(), auth_data.password.decode())
        return AuthResult(success=given == self.credentials, handled=False)

    def stop(self) -> None:
        """Stop listening and close the server's connections."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def restart(self) -> None:
        """Stop and start again on the same port (received messages are kept)."""
        self.stop()
        self.start()

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._cond:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 10) -> list[ReceivedMail]:
        """Wait until at least ``count`` messages arrived and return them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout=timeout):
                raise AssertionError(
                    f"expected {count} message(s) within {timeout}s, got "
                    f"{len(self._messages)}: {self._messages!r}"
                )
            return list(self._messages)

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
