"""Token providers through their libraries' own transports against a fake IdP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from idp import IdP, new_key, private_pem

from mailticket import config as config_module
from mailticket.errors import ConfigError, TokenError
from mailticket.oauth import provider, token_source
from mailticket.oauth.tokens import Token, Tokens

DESK = '[desk]\naddress = "support@desk.test"\n'
SECRET_ENV = 'client_secret_env = "M365_SECRET"'
NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def idp() -> Iterator[IdP]:
    with tempfile.TemporaryDirectory() as root, IdP(Path(root)) as server:
        yield server


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> config_module.Config:
    path = tmp_path / "mailticket.toml"
    path.write_text(DESK + text, encoding="utf-8")
    return config_module.load(path, environ=environ or {})


def claims_of(idp: IdP, token: Token) -> dict[str, object]:
    return jwt.decode(token.value, idp.signing_key.public_key(), algorithms=["RS256"])


def microsoft(idp: IdP, flow: str, extra: str = "") -> str:
    return f"""
[oauth.m365]
provider = "microsoft"
flow = "{flow}"
authority = "{idp.authority}"
client_id = "client"
tls_ca_file = "{idp.cert_path}"
{extra}"""


def test_microsoft_app_only_secret_cached_then_refreshed_once_when_rejected(
    idp: IdP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("M365_SECRET", idp.client_secret)
    config = load(tmp_path, microsoft(idp, "client_credentials", SECRET_ENV))
    tokens = token_source(config, "m365", lambda: NOW)
    first = tokens.get()
    assert claims_of(idp, first)["email"] == "support@desk.test"
    assert tokens.get() == first  # cached
    assert idp.grants() == ["client_credentials"]
    assert idp.requests[0]["scope"] == "https://outlook.office365.com/.default"
    tokens.invalidate()  # a server refused it: MSAL's cache is dropped, a new token is asked for
    assert tokens.get() != first
    assert idp.grants() == ["client_credentials", "client_credentials"]
    assert idp.client_secret not in repr(first) and first.value not in repr(first)


def test_microsoft_app_only_wrong_secret_gives_the_providers_text(
    idp: IdP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("M365_SECRET", "wrong")
    config = load(tmp_path, microsoft(idp, "client_credentials", SECRET_ENV))
    with pytest.raises(TokenError, match=r"invalid_client: AADSTS7000215"):
        token_source(config, "m365", lambda: NOW).get()


def _certificate(tmp_path: Path) -> tuple[Path, str, object]:
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailticket")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2040, 1, 1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = private_pem(key) + cert.public_bytes(serialization.Encoding.PEM).decode()
    path = tmp_path / "app.pem"
    path.write_text(pem, encoding="utf-8")
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return path, thumbprint, key


def test_microsoft_app_only_certificate_signs_an_assertion(idp: IdP, tmp_path: Path) -> None:
    path, thumbprint, key = _certificate(tmp_path)
    idp.assertion_keys.append(key)  # type: ignore[arg-type]
    extra = f'certificate_file = "{path}"\ncertificate_thumbprint = "{thumbprint}"'
    config = load(tmp_path, microsoft(idp, "client_credentials", extra))
    token = token_source(config, "m365", lambda: NOW).get()
    assert claims_of(idp, token)["sub"] == "support@desk.test"
    assert "client_secret" not in idp.requests[0]
    assert idp.requests[0]["client_assertion_type"].endswith("jwt-bearer")


def test_microsoft_delegated_device_login_keeps_rotated_refresh_tokens(
    idp: IdP, tmp_path: Path
) -> None:
    cache = tmp_path / "state" / "m365-cache.json"
    config = load(tmp_path, microsoft(idp, "delegated", f'token_cache_file = "{cache}"'))
    with pytest.raises(TokenError, match="oauth login m365"):
        provider(config, "m365", lambda: NOW)(force=False)
    said: list[str] = []
    signed_in = provider(config, "m365", lambda: NOW).login(said.append)  # type: ignore[attr-defined]
    assert signed_in == "support@desk.test" and "ABCD-EFGH" in said[0]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    first_refresh = next(iter(idp.refresh_tokens))
    assert first_refresh in cache.read_text()
    # A daemon started later reads the cache; a rejected token forces a refresh, which rotates.
    tokens = token_source(config, "m365", lambda: NOW)
    tokens.invalidate()
    assert claims_of(idp, tokens.get())["email"] == "support@desk.test"
    assert idp.grants()[-1] == "refresh_token" and first_refresh not in idp.refresh_tokens
    (rotated,) = idp.refresh_tokens
    assert rotated in cache.read_text() and first_refresh not in cache.read_text()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    cache.chmod(0o644)  # an older version, or a copy, left it readable: repaired when read
    again = token_source(config, "m365", lambda: NOW)  # another restart: the rotated one works
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    again.invalidate()
    again.get()
    idp.refresh_tokens.clear()  # revoked (password reset, 90 days unused)
    again.invalidate()
    with pytest.raises(TokenError, match="invalid_grant: AADSTS700082"):
        again.get()


def _service_account(idp: IdP, tmp_path: Path) -> tuple[Path, object]:
    key = new_key()
    info = {"type": "service_account", "project_id": "p", "private_key_id": "k1",
            "private_key": private_pem(key), "client_email": "desk@p.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": idp.token_uri}  # fmt: skip
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path, key


def test_google_service_account_acts_for_the_mailbox(idp: IdP, tmp_path: Path) -> None:
    path, key = _service_account(idp, tmp_path)
    idp.assertion_keys.append(key)  # type: ignore[arg-type]
    config = load(
        tmp_path,
        f"""
[oauth.gws]
provider = "google"
service_account_file = "{path}"
subject = "support@desk.test"
tls_ca_file = "{idp.cert_path}"
""",
    )
    token = token_source(config, "gws", lambda: NOW).get()
    assert claims_of(idp, token)["email"] == "support@desk.test"
    assert token.expires_at.tzinfo is not None
    assertion = jwt.decode(idp.requests[0]["assertion"], options={"verify_signature": False})
    assert assertion["sub"] == "support@desk.test"
    assert assertion["scope"] == "https://mail.google.com/"


def test_google_service_account_refused_assertion(idp: IdP, tmp_path: Path) -> None:
    path, _ = _service_account(idp, tmp_path)  # its key is not known to the IdP
    config = load(
        tmp_path,
        f"""
[oauth.gws]
provider = "google"
service_account_file = "{path}"
subject = "support@desk.test"
tls_ca_file = "{idp.cert_path}"
""",
    )
    with pytest.raises(TokenError, match="invalid_grant: Invalid JWT"):
        token_source(config, "gws", lambda: NOW).get()


def test_gmail_refresh_token(idp: IdP, tmp_path: Path) -> None:
    idp.refresh_tokens.add("rt-1")
    text = f"""
[oauth.gmail]
provider = "google"
flow = "refresh_token"
client_id = "desktop-app"
client_secret_env = "GMAIL_SECRET"
refresh_token_env = "GMAIL_REFRESH"
token_uri = "{idp.token_uri}"
tls_ca_file = "{idp.cert_path}"
"""
    environ = {"GMAIL_SECRET": "s", "GMAIL_REFRESH": "rt-1"}
    path = tmp_path / "mailticket.toml"
    path.write_text(DESK + text, encoding="utf-8")
    config = config_module.load(path, environ=environ)
    with pytest.MonkeyPatch.context() as env:
        for name, value in environ.items():
            env.setenv(name, value)
        tokens = token_source(config, "gmail", lambda: NOW)
    assert claims_of(idp, tokens.get())["email"] == "support@desk.test"
    assert idp.requests[0]["refresh_token"] == "rt-1"
    idp.refresh_tokens.clear()
    tokens.invalidate()
    with pytest.raises(TokenError, match="Google refused"):
        tokens.get()


def test_command_prints_a_token_or_json(tmp_path: Path) -> None:
    script = "import json; print(json.dumps({'access_token': 'abc', 'expires_in': 900}))"
    config = load(
        tmp_path,
        f"""
[oauth.cmd]
provider = "command"
command = {json.dumps([sys.executable, "-c", script])}

[oauth.plain]
provider = "command"
command = {json.dumps([sys.executable, "-c", "print('tok-1')"])}
token_lifetime_seconds = 120

[oauth.broken]
provider = "command"
command = {json.dumps([sys.executable, "-c", "import sys; sys.exit('vault sealed')"])}
""",
    )
    token = token_source(config, "cmd", lambda: NOW).get()
    assert (token.value, token.expires_at) == ("abc", NOW + timedelta(seconds=900))
    token = token_source(config, "plain", lambda: NOW).get()
    assert (token.value, token.expires_at) == ("tok-1", NOW + timedelta(seconds=120))
    with pytest.raises(TokenError, match=r"exited 1.*vault sealed"):
        token_source(config, "broken", lambda: NOW).get()


def test_tokens_refresh_before_expiry_with_the_injected_clock() -> None:
    now = [NOW]
    asked: list[bool] = []

    def fetch(*, force: bool) -> Token:
        asked.append(force)
        return Token(f"t{len(asked)}", now[0] + timedelta(minutes=60))

    tokens = Tokens("x", fetch, lambda: now[0])
    assert tokens.get().value == "t1"
    now[0] += timedelta(minutes=54)
    assert tokens.get().value == "t1"  # 6 minutes left: kept
    now[0] += timedelta(minutes=1, seconds=1)
    assert tokens.get().value == "t2"  # under 5 minutes left: refreshed before expiry
    tokens.invalidate()
    assert tokens.get().value == "t3"
    assert asked == [False, False, True]
    assert tokens.renew_at(tokens.get()) == now[0] + timedelta(minutes=55)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[oauth.m]\nprovider = "microsoft"\nclient_idd = "x"\n',
         r"mailticket.toml:5: oauth.m.client_idd: unknown key"),
        ('[oauth.m]\nprovider = "microsoft"\ntenant = "t"\nclient_secret_env = "S"\n',
         r"mailticket.toml:3: oauth.m.client_id: is required for provider microsoft"),
        ('[oauth.m]\nprovider = "yahoo"\n', r"mailticket.toml:4: oauth.m.provider: must be one"),
        ('[imap]\nauth = "xoauth2"\n', r"mailticket.toml:3: imap.oauth: must name an \[oauth"),
        ('[smtp]\nauth = "xoauth2"\noauth = "none"\n',
         r"mailticket.toml:5: smtp.oauth: no table \[oauth.none\]"),
        ('[imap]\nauth = "kerberos"\n', r"mailticket.toml:4: imap.auth: must be one of"),
        ('[oauth.m]\nprovider = "command"\ncommand = "x"\n',
         r"mailticket.toml:5: oauth.m.command: must be a list of strings"),
    ],
)  # fmt: skip
def test_oauth_config_errors_name_file_key_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load(tmp_path, text)


def test_missing_secret_variable_names_the_variable(tmp_path: Path) -> None:
    config = load(tmp_path, '[oauth.m]\nprovider = "microsoft"\ntenant = "t"\nclient_id = "c"\n'
                  'client_secret_env = "NOT_SET_ANYWHERE"\n')  # fmt: skip
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        provider(config, "m", lambda: NOW)
