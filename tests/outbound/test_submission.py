"""Replies sent through Dovecot's submission service (a real SMTP submission server: AUTH
against its passdb, STARTTLS with its own certificate), which relays them to a sink."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import complaint, cycle, load, write_config
from servers import Dovecot, ImapAccount, SmtpSink, free_port, missing_tool

from mailticket.model import OutboxState
from mailticket.outbound.outbox import drain_outbox, retry_outgoing, smtp_sender

pytestmark = pytest.mark.integration

SUBMISSION = Path("/usr/lib/dovecot/submission")


class SubmissionDovecot(Dovecot):
    """Dovecot with `protocols = ... submission` on a loopback port, relaying to `relay`."""

    def __init__(self, root: Path, relay: SmtpSink) -> None:
        self.relay, self.submission_port = relay, free_port()
        super().__init__(root)

    def config_text(self) -> str:
        text = super().config_text().replace("protocols = imap lmtp", "protocols = imap submission")
        return text + (
            "hostname = desk.test\n"
            f"submission_relay_host = {self.relay.host}\n"
            f"submission_relay_port = {self.relay.port}\n"
            "submission_relay_trusted = yes\n"
            "service submission-login {\n  chroot =\n"
            f"  inet_listener submission {{\n    address = {self.host}\n"
            f"    port = {self.submission_port}\n  }}\n}}\n"
        )


@pytest.fixture
def submission(smtp_sink: SmtpSink) -> Iterator[SubmissionDovecot]:
    if not SUBMISSION.exists():
        missing_tool("Dovecot's submission service is not installed (dovecot-submissiond)")
    root = Path(tempfile.mkdtemp(prefix="mt-subm-"))
    try:
        with SubmissionDovecot(root, smtp_sink) as server:
            server.add_user("desk", "s3cret")
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_replies_go_out_through_dovecot_submission_with_a_verified_certificate(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, submission: SubmissionDovecot
) -> None:
    path = write_config(tmp_path, imap_account, smtp_sink)
    (tmp_path / "smtp-password").write_text("wrong\n", encoding="utf-8")
    text = path.read_text(encoding="utf-8").replace(
        f'host = "{smtp_sink.host}"\nport = {smtp_sink.port}\nsecurity = "none"',
        f'host = "{submission.host}"\nport = {submission.submission_port}\n'
        'security = "starttls"\nusername = "desk"\npassword_file = "smtp-password"\n'
        f'tls_ca_file = "{submission.cert_path}"',
    )
    path.write_text(text, encoding="utf-8")
    imap_account.dovecot.append(imap_account.username, imap_account.password, complaint())
    desk = cycle(load(path))
    [waiting] = desk.store.outbox()
    assert waiting.state == OutboxState.QUEUED  # a refused login keeps the reply
    assert "SMTP login failed for desk" in waiting.last_error and "535" in waiting.last_error

    (tmp_path / "smtp-password").write_text("s3cret\n", encoding="utf-8")
    retry_outgoing(desk, waiting.id)  # due now, not after its backoff
    assert drain_outbox(desk, smtp_sender(load(path))).sent == [waiting.id]
    [received] = smtp_sink.wait_for(1)
    assert received.rcpt_tos == ["zhang.wei@qq.example"]
    assert received.mail_from == "complaints@okwallet.example"
    assert f"Message-ID: {waiting.message_id}".encode() in received.data
    # Dovecot's submission service took it (authenticated, over TLS) and relayed it.
    assert b"by desk.test with ESMTPSA" in received.data
