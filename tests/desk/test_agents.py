"""Authentication-Results as real servers write them, and who they vouch for."""

from __future__ import annotations

import pytest

from mailticket.desk.agents import (
    MethodResult,
    aligned,
    parse_authentication_results,
    verify_sender,
)

TRUSTED = ["mx.okwallet.example"]
ALICE = "alice@okwallet.example"

GMAIL = (
    "mx.google.com;\r\n"
    "       dkim=pass header.i=@okwallet.example header.s=google header.b=Kq3f9XyZ;\r\n"
    "       spf=pass (google.com: domain of alice@okwallet.example designates 209.85.220.41 as "
    "permitted sender) smtp.mailfrom=alice@okwallet.example;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=okwallet.example"
)
EXCHANGE_ONLINE = (
    "spf=pass (sender IP is 40.107.255.82)\r\n smtp.mailfrom=okwallet.example; dkim=pass "
    "(signature was verified)\r\n header.d=okwallet.example;dmarc=pass action=none\r\n "
    "header.from=okwallet.example;compauth=pass reason=100"
)
OPENDKIM = (
    "mx.okwallet.example;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=okwallet.example "
    "header.i=@okwallet.example header.a=rsa-sha256 header.s=mail header.b=AbCdEf12;\r\n"
    "\tdkim-atps=neutral"
)
OPENDMARC = "mx.okwallet.example; dmarc=pass (p=reject dis=none) header.from=okwallet.example"
POLICYD_SPF = (
    "mx.okwallet.example; spf=pass (sender SPF authorized) smtp.mailfrom=alice@okwallet.example"
)


def test_gmail() -> None:
    parsed = parse_authentication_results(GMAIL)
    assert parsed.authserv_id == "mx.google.com"
    assert [(r.method, r.result, r.domain) for r in parsed.results] == [
        ("dkim", "pass", "okwallet.example"),
        ("spf", "pass", "okwallet.example"),
        ("dmarc", "pass", ""),
    ]
    assert parsed.results[0].properties["header.s"] == "google"
    verdict = verify_sender([GMAIL], ALICE, ["mx.google.com"])
    assert verdict.trusted
    assert verdict.reason == "dkim=pass for okwallet.example (mx.google.com)"


def test_exchange_online_names_no_server_so_it_cannot_be_trusted() -> None:
    parsed = parse_authentication_results(EXCHANGE_ONLINE)
    assert parsed.authserv_id == ""
    assert [(r.method, r.result) for r in parsed.results] == [
        ("spf", "pass"),
        ("dkim", "pass"),
        ("dmarc", "pass"),
        ("compauth", "pass"),
    ]
    assert parsed.results[1].domain == "okwallet.example"
    verdict = verify_sender([EXCHANGE_ONLINE], ALICE, TRUSTED)
    assert not verdict.trusted
    assert verdict.reason == (
        "no Authentication-Results from a trusted server (only from (no authserv-id))"
    )


def test_postfix_with_opendkim_opendmarc_and_policyd_spf() -> None:
    headers = [OPENDMARC, OPENDKIM, POLICYD_SPF]
    parsed = parse_authentication_results(OPENDKIM)
    assert parsed.authserv_id == "mx.okwallet.example"
    dkim, atps = parsed.results  # "dkim-atps=neutral" is a result of another method
    assert dkim == MethodResult(
        "dkim",
        "pass",
        {
            "header.d": "okwallet.example",
            "header.i": "@okwallet.example",
            "header.a": "rsa-sha256",
            "header.s": "mail",
            "header.b": "AbCdEf12",
        },
    )
    assert (atps.method, atps.result, atps.domain) == ("dkim-atps", "neutral", "")
    assert verify_sender(headers, ALICE, TRUSTED).trusted
    spf_only = verify_sender([OPENDMARC, POLICYD_SPF], ALICE, TRUSTED)
    assert spf_only.reason == "spf=pass for okwallet.example (mx.okwallet.example)"


def test_dmarc_alone_is_not_proof() -> None:
    verdict = verify_sender([OPENDMARC], ALICE, TRUSTED)
    assert not verdict.trusted
    assert verdict.reason == (
        "mx.okwallet.example: nothing passes aligned with okwallet.example (no dkim or spf result)"
    )


def test_a_header_the_sender_wrote_under_another_name_says_nothing() -> None:
    forged = "mail.attacker.example; dkim=pass header.d=okwallet.example"
    verdict = verify_sender([forged], ALICE, TRUSTED)
    assert not verdict.trusted
    assert "only from mail.attacker.example" in verdict.reason


def test_no_header_at_all() -> None:
    verdict = verify_sender([], ALICE, TRUSTED)
    assert (verdict.trusted, verdict.reason) == (
        False,
        "no Authentication-Results from a trusted server",
    )


def test_a_pass_for_another_domain_is_not_aligned() -> None:
    header = (
        "mx.okwallet.example; dkim=pass header.d=attacker.example; "
        "spf=pass smtp.mailfrom=bounce@attacker.example"
    )
    verdict = verify_sender([header], ALICE, TRUSTED)
    assert not verdict.trusted
    assert verdict.reason == (
        "mx.okwallet.example: nothing passes aligned with okwallet.example "
        "(dkim=pass for attacker.example; spf=pass for attacker.example)"
    )


def test_failures_are_named() -> None:
    header = (
        "mx.okwallet.example; dkim=fail (bad signature) header.d=okwallet.example; "
        "spf=softfail smtp.mailfrom=okwallet.example"
    )
    verdict = verify_sender([header], ALICE, TRUSTED)
    assert not verdict.trusted
    assert "dkim=fail for okwallet.example; spf=softfail for okwallet.example" in verdict.reason


def test_one_passing_header_among_several_is_enough() -> None:
    failing = "mx.okwallet.example; dkim=none"
    passing = "mx.okwallet.example 1; spf=pass smtp.mailfrom=okwallet.example"
    assert verify_sender([failing, passing], ALICE, TRUSTED).trusted


def test_authserv_ids_methods_and_results_ignore_case() -> None:
    header = "MX.OkWallet.Example; DKIM=Pass Header.D=OKWALLET.EXAMPLE"
    assert verify_sender([header], "Alice@OKWallet.example", ["mx.okwallet.EXAMPLE"]).trusted


def test_comments_and_quoted_strings() -> None:
    header = (
        'mx.okwallet.example (Postfix (nested) ; not a separator); dkim=pass reason="ok; good" '
        'header.d="okwallet.example" (signed ( by ) us)'
    )
    parsed = parse_authentication_results(header)
    assert parsed.authserv_id == "mx.okwallet.example"
    assert [(r.method, r.result, r.domain) for r in parsed.results] == [
        ("dkim", "pass", "okwallet.example")
    ]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "mx.okwallet.example; none",
        "mx.okwallet.example;;; =pass ; dkim= ; dkim",
        "(only a comment",
        '"unterminated; dkim=pass header.d=okwallet.example',
    ],
)
def test_nothing_readable_is_nothing(header: str) -> None:
    assert not verify_sender([header], ALICE, TRUSTED).trusted


@pytest.mark.parametrize(
    ("authenticated", "sender_domain", "expected"),
    [
        ("okwallet.example", "okwallet.example", True),
        ("okwallet.example", "cs.okwallet.example", True),
        ("cs.okwallet.example", "okwallet.example", False),  # a subdomain cannot speak up
        ("wallet.example", "okwallet.example", False),  # not a label boundary
        ("", "okwallet.example", False),
    ],
)
def test_alignment(authenticated: str, sender_domain: str, expected: bool) -> None:
    assert aligned(authenticated, sender_domain) is expected


FORGED_BELOW = "mx.okwallet.example; dkim=pass header.d=okwallet.example"


def test_only_the_topmost_run_of_our_own_headers_counts() -> None:
    """RFC 8601 section 5 (issue 17): our server's verdicts sit on top; a header with our
    authserv-id below another server's was written by the sender (or by a server on the way)."""
    ours_fail = "mx.okwallet.example; dkim=fail header.d=okwallet.example; spf=fail"
    relay = "relay.attacker.example; dkim=pass header.d=attacker.example"
    below_ours = verify_sender([ours_fail, relay, FORGED_BELOW], ALICE, TRUSTED)
    assert not below_ours.trusted
    assert "nothing passes aligned" in below_ours.reason
    below_relay = verify_sender([relay, FORGED_BELOW], ALICE, TRUSTED)
    assert not below_relay.trusted and "forged" in below_relay.reason
    assert verify_sender([FORGED_BELOW, relay], ALICE, TRUSTED).trusted
