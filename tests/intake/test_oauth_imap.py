"""IMAP XOAUTH2 / OAUTHBEARER against a Dovecot that verifies signed JWTs offline."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from idp import IdP, access_token, new_key
from oauth_dovecot import OAuthDovecot
from servers import require_mail_servers

from mailticket import config as config_module
from mailticket.errors import MailboxLoginError
from mailticket.intake.imap import ImapSettings, Mailbox
from mailticket.oauth import token_source
from mailticket.oauth.tokens import Token, Tokens

USER = "support@desk.test"
NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def dovecot(signing_key: rsa.RSAPrivateKey) -> Iterator[OAuthDovecot]:
    require_mail_servers()
    root = Path(tempfile.mkdtemp(prefix="mt-oauth-"))
    try:
        with OAuthDovecot(root, signing_key) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


class Issued:
    """A provider handing out the given tokens in turn, recording whether each was forced."""

    def __init__(self, *values: str) -> None:
        self.values, self.forced = list(values), list[bool]()

    def __call__(self, *, force: bool) -> Token:
        self.forced.append(force)
        return Token(self.values.pop(0), NOW + timedelta(hours=1))


def settings(dovecot: OAuthDovecot, auth: str, tokens: Tokens) -> ImapSettings:
    return ImapSettings(host=dovecot.host, port=dovecot.imap_port, security="none",
                        username=USER, password="", auth=auth, tokens=tokens)  # fmt: skip


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_login_with_a_signed_token(
    dovecot: OAuthDovecot, signing_key: rsa.RSAPrivateKey, auth: str
) -> None:
    issued = Issued(access_token(signing_key, USER))
    mailbox = Mailbox(settings(dovecot, auth, Tokens("t", issued, lambda: NOW)))
    try:
        assert mailbox.uids() == []
        assert mailbox.renew_at == NOW + timedelta(minutes=55)
        assert not mailbox.token_expiring(NOW + timedelta(minutes=54))
        assert mailbox.token_expiring(NOW + timedelta(minutes=55))
    finally:
        mailbox.close()
    assert issued.forced == [False]


def test_refused_token_is_refreshed_once_then_accepted(
    dovecot: OAuthDovecot, signing_key: rsa.RSAPrivateKey
) -> None:
    expired = access_token(signing_key, USER, lifetime=-60)
    issued = Issued(expired, access_token(signing_key, USER))
    mailbox = Mailbox(settings(dovecot, "xoauth2", Tokens("t", issued, lambda: NOW)))
    mailbox.close()
    assert issued.forced == [False, True]


@pytest.mark.parametrize("case", ["expired", "other key", "other user", "wrong scope"])
def test_bad_tokens_are_refused_and_reported(
    dovecot: OAuthDovecot, signing_key: rsa.RSAPrivateKey, case: str
) -> None:
    make = {
        "expired": lambda: access_token(signing_key, USER, lifetime=-60),
        "other key": lambda: access_token(new_key(), USER),
        "other user": lambda: access_token(signing_key, "alice@desk.test"),
        "wrong scope": lambda: access_token(signing_key, USER, scope="other"),
    }[case]
    issued = Issued(make(), make())
    with pytest.raises(MailboxLoginError, match=r"IMAP login failed for support@desk.test.*"
                       r"XOAUTH2 token refused twice.*AUTHENTICATIONFAILED"):  # fmt: skip
        Mailbox(settings(dovecot, "xoauth2", Tokens("t", issued, lambda: NOW)))
    assert issued.forced == [False, True]


def test_microsoft_token_from_the_idp_opens_the_mailbox(
    dovecot: OAuthDovecot,
    signing_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One chain with no network: msal -> fake Entra on 127.0.0.1 -> token -> Dovecot login."""
    with IdP(tmp_path, signing_key=signing_key) as idp:
        monkeypatch.setenv("M365_SECRET", idp.client_secret)
        path = tmp_path / "mailticket.toml"
        path.write_text(
            f'[desk]\naddress = "{USER}"\n[imap]\nhost = "{dovecot.host}"\n'
            f'port = {dovecot.imap_port}\nsecurity = "none"\nusername = "{USER}"\n'
            'auth = "xoauth2"\noauth = "m365"\n[oauth.m365]\nprovider = "microsoft"\n'
            f'authority = "{idp.authority}"\nclient_id = "c"\nclient_secret_env = "M365_SECRET"\n'
            f'tls_ca_file = "{idp.cert_path}"\n',
            encoding="utf-8",
        )
        config = config_module.load(path, environ={})
        tokens = token_source(config, "m365", lambda: NOW)
        mailbox = Mailbox(settings(dovecot, config.imap.auth, tokens))
        mailbox.close()
        assert idp.grants() == ["client_credentials"]


def test_daemon_reconnects_with_a_new_token_before_the_old_one_expires(
    dovecot: OAuthDovecot, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    from mailticket.app.daemon import Daemon
    from mailticket.desk.context import Desk

    path = tmp_path / "mailticket.toml"
    path.write_text(f'[desk]\naddress = "{USER}"\n[storage]\npath = "store"\n', encoding="utf-8")
    clock = {"now": NOW}
    desk = Desk.open(config_module.load(path, environ={}), clock=lambda: clock["now"])
    issued = Issued(access_token(signing_key, USER), access_token(signing_key, USER))
    tokens = Tokens("t", issued, lambda: clock["now"])
    daemon = Daemon(desk, lambda envelopes: {}, connect=lambda: Mailbox(
        settings(dovecot, "xoauth2", tokens)), use_idle=False)  # fmt: skip
    daemon.stopping.set()  # each step connects and runs due jobs, then returns without waiting
    try:
        daemon.step()
        first = daemon.mailbox
        assert first is not None and issued.forced == [False]
        clock["now"] = NOW + timedelta(minutes=54)
        daemon.step()
        assert daemon.mailbox is first  # six minutes left: the session stays
        clock["now"] = NOW + timedelta(minutes=55, seconds=1)
        daemon.step()
        assert daemon.mailbox is not None and daemon.mailbox is not first
        assert issued.forced == [False, False]  # a new token, fetched before the old expired
    finally:
        daemon._drop_mailbox()
