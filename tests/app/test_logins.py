"""`mailticket check --connect` and `mailticket oauth login NAME` through the CLI."""

from __future__ import annotations

import json
import stat
import tempfile
from pathlib import Path

import pytest
from helpers import write_config
from idp import IdP
from servers import ImapAccount, SmtpSink, make_certificate

from mailticket.app.cli import main


def test_check_connect_logs_in_and_names_what_failed(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(tmp_path, imap_account, smtp_sink)
    assert main(["--config", str(path), "check", "--connect", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["imap_login"], report["smtp_login"]) == ("ok", "ok")

    (tmp_path / "imap-password").write_text("wrong", encoding="utf-8")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_certificate(cert, key)
    with SmtpSink(
        security="starttls", credentials=("desk", "right"), certificate=(cert, key)
    ) as sink:
        text = path.read_text(encoding="utf-8").replace(
            f'port = {smtp_sink.port}\nsecurity = "none"',
            f'port = {sink.port}\nsecurity = "starttls"\nusername = "desk"\n'
            'password_env = "T_SMTP_PASSWORD"\ntls_verify = false',
        )
        path.write_text(text, encoding="utf-8")
        with pytest.MonkeyPatch.context() as env:
            env.setenv("T_SMTP_PASSWORD", "wrong")
            assert main(["--config", str(path), "check", "--connect"]) == 75
    out, err = capsys.readouterr()
    assert f"IMAP login failed for {imap_account.username}" in err
    assert "SMTP login failed for desk" in err and "535" in err
    assert "wrong" not in out + err.replace("password", "")  # no secret shown


def test_oauth_login_with_a_device_code_writes_a_private_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as root, IdP(Path(root)) as idp:
        cache = tmp_path / "state" / "cache.json"
        path = tmp_path / "mailticket.toml"
        path.write_text(
            '[desk]\naddress = "support@desk.test"\n[oauth.m365]\nprovider = "microsoft"\n'
            f'flow = "delegated"\nauthority = "{idp.authority}"\nclient_id = "c"\n'
            f'token_cache_file = "{cache}"\ntls_ca_file = "{idp.cert_path}"\n',
            encoding="utf-8",
        )
        assert main(["--config", str(path), "oauth", "login", "m365"]) == 0
        assert main(["--config", str(path), "oauth", "login", "nope"]) == 64
    out, err = capsys.readouterr()
    assert "ABCD-EFGH" in out and "signed in as support@desk.test" in out
    assert "no table [oauth.nope]" in err
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_check_connect_verifies_tls_certificates_with_a_private_ca(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Dovecot's and the SMTP server's self-signed certificates fail verification until
    `tls_ca_file` names them; the message says which server and what to set."""
    dovecot_cert = imap_account.dovecot.cert_path
    assert dovecot_cert is not None
    cert, key = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    make_certificate(cert, key)
    path = write_config(tmp_path, imap_account, smtp_sink)
    (tmp_path / "smtp-password").write_text("right", encoding="utf-8")
    plain = path.read_text(encoding="utf-8")
    with SmtpSink(
        security="starttls", credentials=("desk", "right"), certificate=(cert, key)
    ) as sink:

        def configure(imap_ca: str, smtp_ca: str) -> None:
            text = plain.replace(
                f'port = {imap_account.port}\nsecurity = "none"',
                f'port = {imap_account.imaps_port}\nsecurity = "ssl"\n{imap_ca}',
            ).replace(
                f'port = {smtp_sink.port}\nsecurity = "none"',
                f'port = {sink.port}\nsecurity = "starttls"\nusername = "desk"\n'
                f'password_file = "smtp-password"\n{smtp_ca}',
            )
            path.write_text(text, encoding="utf-8")

        configure("", "")
        assert main(["--config", str(path), "check", "--connect", "--json"]) == 75
        report = json.loads(capsys.readouterr().out)
        imap_where = f"IMAP server {imap_account.host}:{imap_account.imaps_port}"
        assert report["imap_login"].startswith(
            f"TLS certificate of {imap_where} not trusted: self-signed certificate; "
            "set tls_ca_file to the PEM of the CA that signed it"
        )
        assert report["smtp_login"].startswith(
            f"TLS certificate of SMTP server {sink.host}:{sink.port} not trusted: "
            "self-signed certificate; set tls_ca_file"
        )

        configure(f'tls_ca_file = "{dovecot_cert}"', 'tls_ca_file = "smtp-cert.pem"')
        assert main(["--config", str(path), "check", "--connect", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["imap_login"], report["smtp_login"]) == ("ok", "ok")

        # A CA file that is not there is a configuration error, found before any connection.
        configure(f'tls_ca_file = "{dovecot_cert}"', 'tls_ca_file = "no-such.pem"')
        assert main(["--config", str(path), "check"]) == 78
        out = capsys.readouterr().out
        assert "smtp.tls_ca_file:" in out and "no-such.pem cannot be read" in out
