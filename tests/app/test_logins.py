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
