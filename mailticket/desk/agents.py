"""Whether a mail that claims to come from an agent really does: `Authentication-Results`.

Anyone can write an agent's address into From, and an agent's mail can close tickets and speak
to customers in the desk's name. So an agent's mail is trusted only when our own mail server
vouches for it: an `Authentication-Results` header (RFC 8601) whose authserv-id is one we trust
says `dkim=pass` for the From domain (header.d, or the domain of header.i) or `spf=pass` for it
(smtp.mailfrom). Headers from other servers, and the sender's own, say nothing: the receiving
MTA must remove incoming headers that carry its authserv-id (RFC 8601, section 5). A header
without an authserv-id (Exchange Online writes them so) cannot be told apart from a forged one.

For a desk whose mailbox is in Exchange Online (which writes no authserv-id), `[agents]
trust_exchange_internal` accepts Exchange's own stamp instead: `verify_exchange_internal`.

Alignment is strict towards subdomains only: a signature for `okwallet.example` vouches for
`alice@okwallet.example` and `alice@cs.okwallet.example`, never the other way round, so a
delegated subdomain (a mailing vendor's) cannot speak for the parent domain's agents.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

METHODS = ("dkim", "spf")  # what counts as proof of the sender's domain


@dataclass(frozen=True)
class MethodResult:
    """One `method=result` of a header with its properties (`header.d` -> `okwallet.example`)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        """The domain this result is about: header.d or header.i for DKIM, smtp.mailfrom for
        SPF; "" when the header does not say."""
        if self.method == "dkim":
            value = self.properties.get("header.d") or self.properties.get("header.i", "")
        elif self.method == "spf":
            value = self.properties.get("smtp.mailfrom", "")
        else:
            value = ""
        return value.rpartition("@")[2].strip().strip(".").lower()


@dataclass(frozen=True)
class AuthenticationResults:
    authserv_id: str  # "" when the header names no server
    results: tuple[MethodResult, ...]


@dataclass(frozen=True)
class Verdict:
    trusted: bool
    reason: str  # what vouched for the sender, or why nothing did (for notes and flags)


def _strip_comments(value: str) -> str:
    """The header without (comments), which may nest; parentheses in "quoted strings" stay."""
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            out.append(" ")
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return "".join(out)


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[;=]|[^\s;="]+')


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _pairs(tokens: list[str]) -> list[tuple[str, str]]:
    """`key = value` pairs of one `;`-separated part, in order; stray tokens are skipped."""
    pairs = []
    i = 0
    while i < len(tokens):
        if (
            i + 2 < len(tokens)
            and tokens[i + 1] == "="
            and tokens[i] != "="
            and tokens[i + 2] != "="
        ):
            pairs.append((tokens[i].lower(), _unquote(tokens[i + 2])))
            i += 3
        else:
            i += 1
    return pairs


def parse_authentication_results(value: str) -> AuthenticationResults:
    """One `Authentication-Results` value; what cannot be read is left out, never guessed."""
    segments: list[list[str]] = [[]]
    for token in _TOKEN.findall(_strip_comments(value)):
        if token == ";":
            segments.append([])
        else:
            segments[-1].append(token)
    authserv_id = ""
    if segments[0] and "=" not in segments[0]:
        authserv_id = _unquote(segments.pop(0)[0]).lower()
    results = []
    for segment in segments:
        pairs = _pairs(segment)
        if not pairs:
            continue  # "none", or something this parser does not know
        (method, result), *rest = pairs
        properties: dict[str, str] = {}
        for key, item in rest:
            if "." in key:
                properties.setdefault(key, item)
        results.append(MethodResult(method.split("/")[0], result.lower(), properties))
    return AuthenticationResults(authserv_id, tuple(results))


def aligned(authenticated: str, from_domain: str) -> bool:
    """The From domain is the authenticated domain or one of its subdomains."""
    authenticated, from_domain = authenticated.lower(), from_domain.lower()
    return bool(authenticated) and (
        from_domain == authenticated or from_domain.endswith(f".{authenticated}")
    )


def verify_sender(
    headers: Sequence[str], from_addr: str, trusted_authserv_ids: Collection[str]
) -> Verdict:
    """Whether a trusted server vouches for the From domain (aligned DKIM or SPF pass).

    Only the topmost run of headers from a trusted authserv-id counts (RFC 8601 section 5):
    our server adds its own above whatever the mail arrived with, so one with our id below a
    header from elsewhere (or below the run ours starts) was written by the sender: forged."""
    from_domain = from_addr.rpartition("@")[2].lower()
    trusted = {t.lower() for t in trusted_authserv_ids}
    parsed = [parse_authentication_results(h) for h in headers]
    ours = list(
        itertools.takewhile(lambda p: bool(p.authserv_id) and p.authserv_id in trusted, parsed)
    )
    if not ours and any(p.authserv_id in trusted for p in parsed if p.authserv_id):
        return Verdict(
            False, "Authentication-Results from a trusted server only below others: forged"
        )
    if not ours:
        seen = ", ".join(sorted({p.authserv_id or "(no authserv-id)" for p in parsed}))
        where = f" (only from {seen})" if seen else ""
        return Verdict(False, f"no Authentication-Results from a trusted server{where}")
    found = []
    for header in ours:
        for result in header.results:
            if result.method not in METHODS:
                continue
            if result.result == "pass" and aligned(result.domain, from_domain):
                return Verdict(
                    True, f"{result.method}=pass for {result.domain} ({header.authserv_id})"
                )
            about = f" for {result.domain}" if result.domain else ""
            found.append(f"{result.method}={result.result}{about}")
    said = "; ".join(found) or "no dkim or spf result"
    return Verdict(
        False, f"{ours[0].authserv_id}: nothing passes aligned with {from_domain} ({said})"
    )


EXCHANGE_AUTH_AS = "x-ms-exchange-organization-authas"
EXCHANGE_AUTH_SOURCE = "x-ms-exchange-organization-authsource"


def verify_exchange_internal(headers: Sequence[tuple[str, str]]) -> Verdict:
    """Whether Exchange Online says the mail was submitted by someone signed in to its own
    organisation: `X-MS-Exchange-Organization-AuthAs: Internal` with the `AuthSource` server
    that authenticated it. Exchange's header firewall removes these headers from mail that
    comes from outside and stamps its own (`Anonymous` for the internet), so they cannot be
    forged from there; Exchange itself refuses a From the signed-in user may not send as.
    More than one AuthAs, disagreeing, is not Exchange's doing: nothing is trusted then."""
    auth_as = [value.strip() for name, value in headers if name == EXCHANGE_AUTH_AS]
    sources = [value.strip() for name, value in headers if name == EXCHANGE_AUTH_SOURCE]
    if not auth_as:
        return Verdict(False, "no X-MS-Exchange-Organization-AuthAs (not delivered by Exchange)")
    if len({a.lower() for a in auth_as}) > 1:
        return Verdict(False, f"X-MS-Exchange-Organization-AuthAs disagrees: {', '.join(auth_as)}")
    if auth_as[0].lower() != "internal":
        return Verdict(False, f"X-MS-Exchange-Organization-AuthAs: {auth_as[0]}, not Internal")
    if not sources or not sources[0]:
        return Verdict(False, "AuthAs Internal without X-MS-Exchange-Organization-AuthSource")
    return Verdict(True, f"Exchange: AuthAs Internal (AuthSource {sources[0]})")
