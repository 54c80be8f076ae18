"""TLS for the IMAP and SMTP edges: one way to build the client context, and one way to say
that a server's certificate is not trusted.

Verification is on unless `tls_verify = false`; `tls_ca_file` names a private CA (PEM) that is
trusted besides the system's. A certificate that does not verify is an admin's problem, not a
network one: the message names the server, OpenSSL's reason and the setting that fixes it.
"""

from __future__ import annotations

import functools
import ssl

CA_HINT = "set tls_ca_file to the PEM of the CA that signed it / 证书不受信任，请设置 tls_ca_file"


@functools.cache
def client_context(verify: bool = True, ca_file: str = "") -> ssl.SSLContext:
    """Made once per setting: loading the CA store costs a few ms per connection."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def untrusted(exc: BaseException | None) -> str:
    """OpenSSL's reason when `exc` (or what caused it) is a failed certificate check, else ""."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return str(exc.verify_message or exc.reason or exc)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return ""


def certificate_error(server: str, reason: str) -> str:
    return f"TLS certificate of {server} not trusted: {reason}; {CA_HINT}"


def ca_file_problem(path: str) -> str:
    """Why `path` cannot serve as `tls_ca_file` (missing, not PEM), or ""."""
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        return f"{path} cannot be read as PEM certificates: {getattr(exc, 'strerror', '') or exc}"
    return ""
