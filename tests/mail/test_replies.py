"""The labelled reply set behind `bench/replies.py`: every reply trims to its expected new text
(Gmail, Outlook, Apple, QQ Mail, NetEase, Foxmail, Huawei, Thunderbird, Yahoo, Zoho, K-9 in
Chinese, English and other languages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailticket.mail.quotes import split_reply

REPLIES = Path(__file__).parents[1] / "fixtures" / "replies"
NAMES = sorted(p.stem for p in REPLIES.glob("*.txt") if not p.name.endswith(".new.txt"))


def test_the_set_is_large_and_every_reply_has_a_twin() -> None:
    assert len(NAMES) >= 30
    assert all((REPLIES / f"{name}.new.txt").is_file() for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_labelled_reply_trims_to_its_new_text(name: str) -> None:
    new, quoted = split_reply((REPLIES / f"{name}.txt").read_text(encoding="utf-8"))
    assert new == (REPLIES / f"{name}.new.txt").read_text(encoding="utf-8").strip()
    assert quoted
