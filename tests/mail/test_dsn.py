from __future__ import annotations

from pathlib import Path

import pytest

from mailticket.mail.dsn import looks_like_bounce, read_report
from mailticket.mail.parse import parse

BOUNCES = Path(__file__).parents[1] / "fixtures" / "bounces"


@pytest.mark.parametrize(
    ("name", "message_id", "failed", "delayed"),
    [
        (
            "office365.eml",
            "<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>",
            ["noname@example.com"],
            [],
        ),
        ("mailbox-full.eml", "<4E326A95.3010907@example.com>", ["user@aol.com"], []),
        (
            "report_422.eml",
            "<15655788.13.1200472642578.JavaMail.Administrator@mail.ttttt.com.au>",
            [],
            ["fraser@oooooooo.com.au"],
        ),
        (
            "gmail-invalid-address.eml",
            "<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>",
            [],
            [],
        ),
    ],
)
def test_real_bounces_name_our_mail_and_the_dead_recipients(
    name: str, message_id: str, failed: list[str], delayed: list[str]
) -> None:
    raw = (BOUNCES / name).read_bytes()
    mail = parse(raw)
    assert looks_like_bounce(mail.from_addr, mail.is_delivery_report)
    report = read_report(raw)
    assert message_id in report.message_ids
    assert [recipient for recipient, _ in report.failed] == failed
    assert list(report.delayed) == delayed
    # The bounce's own Message-ID is never taken for the returned mail's.
    assert mail.message_id not in report.message_ids


def test_a_status_is_kept_for_the_agents() -> None:
    report = read_report((BOUNCES / "office365.eml").read_bytes())
    [(_, detail)] = report.failed
    assert detail.startswith("5.1.10") and "RecipientNotFound" in detail


def test_an_ordinary_mail_is_no_bounce() -> None:
    assert not looks_like_bounce("zhang.wei@qq.example", False)
    assert looks_like_bounce("MAILER-DAEMON@mx.example", False)
    assert looks_like_bounce("postmaster@mx.example", False)
    assert looks_like_bounce("anyone@x.example", True)
