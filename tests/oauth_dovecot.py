"""A private Dovecot whose `oauth2` passdb verifies signed JWTs itself, offline
(`introspection_mode = local`, keys in a folder: research/oauth2-mail.md §7.1)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from idp import ISSUER, SCOPE, public_pem
from servers import Dovecot


class OAuthDovecot(Dovecot):
    def __init__(self, root: Path, signing_key: rsa.RSAPrivateKey) -> None:
        self.signing_key = signing_key
        super().__init__(root, tls=False)

    def _prepare(self) -> None:
        super()._prepare()
        keys = self.root / "keys" / "default" / "RS256"
        keys.mkdir(parents=True)
        (keys / "kid1").write_text(public_pem(self.signing_key), encoding="utf-8")
        for folder, _dirs, files in os.walk(self.root / "keys"):  # read by user "dovecot"
            Path(folder).chmod(0o755)
            for name in files:
                (Path(folder) / name).chmod(0o644)
        (self.root / "dovecot-oauth2.conf.ext").write_text(
            "introspection_mode = local\n"
            f"local_validation_key_dict = fs:posix:prefix={self.root}/keys/\n"
            f"username_attribute = email\nissuers = {ISSUER}\nscope = {SCOPE}\n",
            encoding="utf-8",
        )

    def config_text(self) -> str:
        text = super().config_text()
        text = text.replace(
            "auth_mechanisms = plain login", "auth_mechanisms = xoauth2 oauthbearer"
        )
        text = text.replace("auth_username_format = %Ln", "auth_username_format = %Lu")
        passdb = (
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {self.root}/dovecot-oauth2.conf.ext\n}}"
        )
        return re.sub(r"passdb \{.*?\n\}", passdb, text, count=1, flags=re.S)
