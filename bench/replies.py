"""Reply trimming on a labelled set: the share of replies whose new text is exactly the
expected one.

The set is `tests/fixtures/replies/NAME.txt` (a reply body as clients write it: Gmail, Outlook,
Apple Mail, QQ Mail, NetEase, Foxmail, Thunderbird, Yahoo, Zoho, K-9 in Chinese, English and
other languages) with its twin `NAME.new.txt`, labelled for this desk: the new text is the
customer's words without quotes, forwards or signatures (talon's `*_reply_text` twins keep
signatures, so they are not comparable). Text is compared after trimming trailing spaces and
blank edges. Run: `.venv/bin/python bench/replies.py [-v]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mailticket.mail.quotes import split_reply

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "fixtures" / "replies"


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def cases() -> list[tuple[str, str, str]]:
    """(name, new text as trimmed, new text expected) for every labelled reply."""
    found = []
    for path in sorted(LABELLED.glob("*.txt")):
        if path.name.endswith(".new.txt"):
            continue
        expected = path.with_name(path.stem + ".new.txt").read_text(encoding="utf-8")
        got, _quoted = split_reply(path.read_text(encoding="utf-8"))
        found.append((path.stem, got, expected))
    return found


def main(argv: list[str]) -> int:
    results = cases()
    right = 0
    for name, got, expected in results:
        if _norm(got) == _norm(expected):
            right += 1
        elif "-v" in argv:
            print(f"wrong  {name}: got {_norm(got)[:160]!r}")
    share = right / len(results) if results else 0.0
    print(f"replies {len(results)}  trimmed right {right}  share {share:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
