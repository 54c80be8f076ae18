"""Hostile HTML (issue 17): text of any mail grows linearly with the mail, however deep its
nesting. The bound is on the size of the output (the work done), never on time."""

from __future__ import annotations

import pytest

from mailticket.mail.html import html_to_text
from mailticket.mail.parse import parse


def _html_mail(html: str) -> bytes:
    head = (
        "From: a@qq.example\r\nTo: complaints@okwallet.example\r\nSubject: s\r\n"
        "Message-ID: <deep@qq.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
    )
    return (head + html).encode()


@pytest.mark.parametrize("opening", ["<blockquote>", "<ul><li>", "<ol><li>"])
def test_deep_nesting_makes_text_linear_in_the_mail(opening: str) -> None:
    depth = 6000  # quadratic output would be ~18 million characters per kind
    raw = _html_mail(f"{opening}x\n" * depth)
    mail = parse(raw)
    produced = len(mail.text) + len(mail.quoted)
    assert depth <= produced <= 2 * len(raw)


def test_nesting_beyond_the_cap_still_reads_as_quoted() -> None:
    text = html_to_text("<blockquote>" * 40 + "深处的话")
    assert text.startswith(">" * 16 + " 深处的话")
