"""The identity providers' HTTP: one `requests.Session` kind for msal and google-auth.

`tls_ca_file` names a private CA for the provider's HTTPS. requests lets an environment
variable (REQUESTS_CA_BUNDLE, set on many systems) override a session's `verify`, so the CA the
admin configured is put back on every request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

TIMEOUT_SECONDS = 30


class Session(requests.Session):
    def __init__(self, ca_file: Path | None = None) -> None:
        super().__init__()
        self._ca_file = str(ca_file) if ca_file is not None else None
        if self._ca_file is not None:
            self.verify = self._ca_file

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        if self._ca_file is not None:
            settings["verify"] = self._ca_file
        return settings

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        return super().request(*args, **kwargs)
