"""A fake identity provider on 127.0.0.1 (HTTPS, self-signed): token endpoints for msal and
google-auth, speaking real HTTP so the libraries' own transports are what is tested.

It answers OpenID discovery, Microsoft's device-code and token endpoints (client credentials with
a secret or a certificate assertion, device code, refresh token with rotation) and Google's
(JWT-bearer assertion of a service account, refresh token). Access tokens are RS256 JWTs signed
with `signing_key`, the key the OAuth2 Dovecot trusts, so provider -> token -> login is one chain.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from servers import LOCALHOST, make_certificate

ISSUER = "https://idp.test.local/"
SCOPE = "mail.imap"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def access_token(
    key: rsa.RSAPrivateKey, user: str, *, lifetime: int = 3600, scope: str = SCOPE,
    kid: str = "kid1", issuer: str = ISSUER,
) -> str:  # fmt: skip
    """A small RS256 JWT of the kind Dovecot's oauth2 passdb checks (few claims: its submission
    service refuses AUTH lines over ~1 KB)."""
    now = int(time.time())
    claims = {"sub": user, "email": user, "iss": issuer, "iat": now - 5, "nbf": now - 5,
              "exp": now + lifetime, "scope": scope, "jti": secrets.token_hex(4)}  # fmt: skip
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@dataclass
class IdP:
    """The provider's state: what it accepts and what it saw."""

    root: Path
    user: str = "support@desk.test"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    token_lifetime: int = 3600
    signing_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    # keys whose JWT assertions it accepts: client certificates, service accounts
    assertion_keys: list[rsa.RSAPrivateKey] = field(default_factory=list)
    refresh_tokens: set[str] = field(default_factory=set)
    requests: list[dict[str, str]] = field(default_factory=list)
    refuse: tuple[str, str] | None = None  # (error, error_description) for every token request
    port: int = 0
    rejections: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cert_path, key_path = self.root / "idp-cert.pem", self.root / "idp-key.pem"
        make_certificate(self.cert_path, key_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert_path), str(key_path))
        self.server = ThreadingHTTPServer((LOCALHOST, 0), _handler(self))
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"https://{LOCALHOST}:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.base}/tenant1"

    @property
    def token_uri(self) -> str:
        return f"{self.base}/token"

    def grants(self) -> list[str]:
        return [r.get("grant_type", "") for r in self.requests]

    def __enter__(self) -> IdP:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    # --- answers ----------------------------------------------------------------------------

    def discovery(self, path: str) -> dict[str, Any]:
        tenant = path.strip("/").split("/")[0]
        base = f"{self.base}/{tenant}"
        return {
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/v2.0",
        }

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.requests.append(form)
        if self.refuse is not None:
            return 400, {"error": self.refuse[0], "error_description": self.refuse[1]}
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            if form.get("client_secret") != self.client_secret and not self._assertion_ok(
                form.get("client_assertion", ""), None
            ):
                return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: "
                             "Invalid client secret provided."}  # fmt: skip
            return 200, self._access()
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":  # a Google service account
            # google-auth addresses the assertion to Google's endpoint whatever token_uri is
            if not self._assertion_ok(form.get("assertion", ""), GOOGLE_TOKEN_URI):
                return 400, {"error": "invalid_grant", "error_description": "Invalid JWT"}
            return 200, self._access()
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return 200, self._with_refresh(self._access())
        if grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return 400, {"error": "invalid_grant", "error_description": "AADSTS700082: The "
                             "refresh token has expired due to inactivity."}  # fmt: skip
            self.refresh_tokens.discard(form["refresh_token"])  # rotation: the old one dies
            return 200, self._with_refresh(self._access())
        return 400, {"error": "unsupported_grant_type", "error_description": grant}

    def _assertion_ok(self, assertion: str, audience: str | None) -> bool:
        for key in self.assertion_keys:
            try:
                claims = jwt.decode(
                    assertion, key.public_key(), algorithms=["RS256"],
                    audience=audience, options={"verify_aud": audience is not None},
                )  # fmt: skip
            except jwt.PyJWTError as exc:
                self.rejections.append(str(exc))
                continue
            return audience is None or claims.get("sub") == self.user
        return False

    def _access(self) -> dict[str, Any]:
        token = access_token(self.signing_key, self.user, lifetime=self.token_lifetime)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}

    def _with_refresh(self, answer: dict[str, Any]) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens.add(refresh)
        now = int(time.time())
        id_claims = {"iss": f"{self.authority}/v2.0", "sub": "u1", "oid": "u1", "tid": "t1",
                     "aud": "client", "iat": now, "exp": now + 3600,
                     "preferred_username": self.user}  # fmt: skip
        return {
            **answer,
            "refresh_token": refresh,
            "scope": "https://outlook.office.com/IMAP.AccessAsUser.All",
            "id_token": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(id_claims)}.",
            "client_info": _b64({"uid": "u1", "utid": "t1"}),
        }


def _handler(idp: IdP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.split("?")[0].endswith("/.well-known/openid-configuration"):
                self._answer(200, idp.discovery(self.path))
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path.endswith("/devicecode"):
                self._answer(200, {
                    "device_code": "dc1", "user_code": "ABCD-EFGH", "interval": 1,
                    "verification_uri": f"{idp.base}/devicelogin", "expires_in": 900,
                    "message": f"To sign in, open {idp.base}/devicelogin and enter ABCD-EFGH",
                })  # fmt: skip
                return
            status, body = idp.token(form)
            self._answer(status, body)

    return Handler
