"""Tests of the test servers themselves, so a broken fixture is not mistaken for a bug."""

from __future__ import annotations

import contextlib
import imaplib
import secrets
import shutil
import smtplib
import ssl
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Literal

import pytest
from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError
from imap_tools.mailbox import BaseMailBox
from servers import Dovecot, ImapAccount, SmtpSink

pytestmark = pytest.mark.integration

Transport = Literal["plain", "starttls", "imaps"]


def _message(subject: str, body: str = "你好, this is a test.\r\n") -> bytes:
    """A small RFC 5322 message with CRLF line ends and an 8-bit UTF-8 body."""
    headers = (
        "From: Customer <customer@example.com>\r\n"
        "To: Desk <desk@example.com>\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
    )
    return (headers + body).encode("utf-8")


def _unverified_context() -> ssl.SSLContext:
    """TLS without certificate checks: the test server's certificate is self-signed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _login(account: ImapAccount, transport: Transport = "plain") -> BaseMailBox:
    """Log in with imap-tools, the way the daemon does."""
    mailbox: BaseMailBox
    if transport == "plain":
        mailbox = MailBoxUnencrypted(account.host, account.port)
    elif transport == "starttls":
        mailbox = MailBoxStartTls(account.host, account.port, ssl_context=_unverified_context())
    else:
        mailbox = MailBox(account.host, account.imaps_port, ssl_context=_unverified_context())
    try:
        return mailbox.login(account.username, account.password)
    except BaseException:
        # Unclosed sockets are ResourceWarnings, which pyproject.toml turns into errors.
        with contextlib.suppress(OSError):
            mailbox.client.shutdown()
        raise


# -- Dovecot --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["plain", "starttls", "imaps"])
def test_login_append_and_fetch(imap_account: ImapAccount, transport: Transport) -> None:
    """Each way the daemon may connect can log in, store and read back a message."""
    subject = f"hello over {transport}"
    with _login(imap_account, transport) as mailbox:
        assert isinstance(mailbox.client.sock, ssl.SSLSocket) == (transport != "plain")
        mailbox.append(_message(subject), "INBOX")
        messages = list(mailbox.fetch(mark_seen=False))
    assert [m.subject for m in messages] == [subject]
    assert messages[0].text == "你好, this is a test.\r\n"


def test_certificate_verifies_for_127_0_0_1(imap_account: ImapAccount) -> None:
    """The generated certificate is valid for 127.0.0.1, so verifying clients work too."""
    cert_path = imap_account.dovecot.cert_path
    assert cert_path is not None
    context = ssl.create_default_context(cafile=str(cert_path))
    with MailBox(imap_account.host, imap_account.imaps_port, ssl_context=context).login(
        imap_account.username, imap_account.password
    ) as mailbox:
        assert mailbox.folder.exists("INBOX")


def test_new_users_can_log_in_at_once(dovecot: Dovecot) -> None:
    """Users added back to back log in immediately (a shared passwd-file lags up to 1 s)."""
    users = [(f"burst-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(12)) for _ in range(3)]
    for name, password in users:
        dovecot.add_user(name, password)
        assert dovecot.append(name, password, _message("first")) == 1
    with pytest.raises(ValueError, match="already exists"):
        dovecot.add_user(users[0][0], "another")


def test_wrong_password_is_refused(imap_account: ImapAccount) -> None:
    """Bad credentials fail as on a real server (no test-only backdoor)."""
    imap_account.password = "wrong"
    with pytest.raises(MailboxLoginError, match="AUTHENTICATIONFAILED"):
        _login(imap_account)


def test_folders_can_be_created(imap_account: ImapAccount) -> None:
    """The daemon files mail into folders it creates itself, including nested ones."""
    with _login(imap_account) as mailbox:
        for name in ("Processed", "Quarantine", "Quarantine/2024"):
            mailbox.folder.create(name)
        names = {folder.name for folder in mailbox.folder.list()}
    assert {"INBOX", "Processed", "Quarantine", "Quarantine/2024"} <= names
    uid = imap_account.dovecot.append(
        imap_account.username, imap_account.password, _message("filed"), folder="Processed"
    )
    assert uid == 1
    with _login(imap_account) as mailbox:
        mailbox.folder.set("Processed")
        assert [m.subject for m in mailbox.fetch(mark_seen=False)] == ["filed"]


def test_idle_is_woken_by_an_append_from_another_connection(imap_account: ImapAccount) -> None:
    """IDLE reports mail stored by someone else: the daemon's main way to notice new mail."""
    results: list[list[bytes] | BaseException] = []

    with _login(imap_account) as mailbox:

        def idle() -> None:
            try:
                results.append(mailbox.idle.wait(timeout=10))
            except BaseException as exc:  # re-raised in the test's thread
                results.append(exc)

        thread = threading.Thread(target=idle)
        thread.start()
        # Dovecot does not report mail that arrived before IDLE began (only at DONE), and
        # this thread cannot see when that is: append until the IDLE thread wakes up.
        for _ in range(10):
            imap_account.dovecot.append(
                imap_account.username, imap_account.password, _message("wake up")
            )
            thread.join(timeout=1)
            if not thread.is_alive():
                break
        thread.join()
    [responses] = results
    if isinstance(responses, BaseException):
        raise responses
    assert responses, "IDLE returned without any untagged response"
    assert any(line.endswith(b"EXISTS") for line in responses)


def test_lmtp_delivery_lands_in_inbox(imap_account: ImapAccount) -> None:
    """LMTP is how mail "from outside" reaches the inbox; user@domain maps to the user."""
    dovecot = imap_account.dovecot
    dovecot.deliver_lmtp(imap_account.username, _message("via lmtp"))
    dovecot.deliver_lmtp(f"{imap_account.username}@example.com", _message("with domain"))
    with _login(imap_account) as mailbox:
        subjects = [m.subject for m in mailbox.fetch(mark_seen=False)]
    assert subjects == ["via lmtp", "with domain"]


def test_lmtp_refuses_unknown_users(dovecot: Dovecot) -> None:
    """Unknown recipients are refused rather than silently creating a mailbox."""
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        dovecot.deliver_lmtp(f"nobody-{uuid.uuid4().hex[:8]}", _message("lost"))


def test_restart_keeps_ports_and_drops_connections(imap_account: ImapAccount) -> None:
    """restart() simulates the IMAP server going away: old sessions die, new ones work."""
    dovecot = imap_account.dovecot
    ports = (dovecot.imap_port, dovecot.imaps_port, dovecot.lmtp_port)
    old = _login(imap_account)
    try:
        dovecot.restart()
        assert (dovecot.imap_port, dovecot.imaps_port, dovecot.lmtp_port) == ports
        with pytest.raises((imaplib.IMAP4.abort, OSError)):
            old.client.noop()
    finally:
        with contextlib.suppress(OSError):
            old.client.shutdown()
    for transport in ("plain", "starttls", "imaps"):
        with _login(imap_account, transport) as mailbox:
            assert mailbox.folder.exists("INBOX")
    dovecot.deliver_lmtp(imap_account.username, _message("after restart"))


def test_log_tail_shows_dovecot_log(imap_account: ImapAccount) -> None:
    """Dovecot reports problems only in its log, so failing tests need to read it."""
    with _login(imap_account):
        pass
    assert f"user=<{imap_account.username}>" in imap_account.dovecot.log_tail(200)


def test_dovecot_without_tls(dovecot: Dovecot) -> None:
    """tls=False gives a plain-only server with IMAPS disabled (``dovecot``: skip check)."""
    root = Path(tempfile.mkdtemp(prefix="mt-dovecot-"))
    try:
        with Dovecot(root, tls=False) as server:
            assert server.imaps_port == 0
            assert server.cert_path is None
            server.add_user("plain", "secret")
            assert server.append("plain", "secret", _message("no tls")) == 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- SMTP sink ------------------------------------------------------------------------


def test_smtp_sink_records_raw_messages(smtp_sink: SmtpSink) -> None:
    """The sink keeps envelope and exact bytes, so tests can check what was really sent."""
    raw = _message("reply", body="Line one\r\n.leading dot survives\r\n你好\r\n")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        refused = client.sendmail("desk@example.com", ["a@example.com", "b@example.com"], raw)
    assert refused == {}
    [mail] = smtp_sink.wait_for(1)
    assert mail.mail_from == "desk@example.com"
    assert mail.rcpt_tos == ["a@example.com", "b@example.com"]
    assert mail.data == raw
    smtp_sink.clear()
    assert smtp_sink.messages == []


@pytest.mark.parametrize(
    ("reply", "code"), [("450 4.3.0 try later", 450), ("550 5.1.1 no such user", 550)]
)
def test_smtp_sink_reject_with(smtp_sink: SmtpSink, reply: str, code: int) -> None:
    """reject_with makes DATA fail like a real server, temporarily (4xx) or for good (5xx)."""
    smtp_sink.reject_with = reply
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as excinfo:
            client.sendmail("desk@example.com", ["a@example.com"], _message("bounced"))
        assert excinfo.value.smtp_code == code
        assert excinfo.value.smtp_error == reply[4:].encode()
    assert smtp_sink.messages == []
    smtp_sink.reject_with = None
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.sendmail("desk@example.com", ["a@example.com"], _message("accepted"))
    assert len(smtp_sink.wait_for(1)) == 1


def test_smtp_sink_rejects_malformed_reject_with(smtp_sink: SmtpSink) -> None:
    """A typo in reject_with fails the test at once instead of confusing the client."""
    with pytest.raises(ValueError, match="4xx or 5xx"):
        smtp_sink.reject_with = "try later"


def test_smtp_sink_restart_keeps_port(smtp_sink: SmtpSink) -> None:
    """restart() drops open sessions and comes back on the same port.

    The sink closed the first session after QUIT, so that connection is in TIME_WAIT on
    the sink's port: binding again works only with SO_REUSEADDR.
    """
    port = smtp_sink.port
    with smtplib.SMTP(smtp_sink.host, port, timeout=10) as client:
        client.sendmail("desk@example.com", ["a@example.com"], _message("before"))
    idle_client = smtplib.SMTP(smtp_sink.host, port, timeout=10)
    try:
        smtp_sink.restart()
        assert smtp_sink.port == port
        with pytest.raises(smtplib.SMTPServerDisconnected):
            idle_client.noop()
    finally:
        idle_client.close()
    with smtplib.SMTP(smtp_sink.host, port, timeout=10) as client:
        client.sendmail("desk@example.com", ["a@example.com"], _message("after"))
    assert len(smtp_sink.wait_for(2)) == 2


def test_smtp_sink_stopped_refuses_connections(smtp_sink: SmtpSink) -> None:
    """While stopped, the port refuses connections, as a server that is down would."""
    smtp_sink.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10)
    smtp_sink.start()
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        assert client.noop()[0] == 250


def test_smtp_sink_wait_for_reports_what_arrived(smtp_sink: SmtpSink) -> None:
    """A missing message fails with what did arrive, not with a bare timeout."""
    with pytest.raises(AssertionError, match=r"expected 1 message\(s\).*got 0"):
        smtp_sink.wait_for(1, timeout=0.05)
