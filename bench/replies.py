"""Reply trimming on labelled sets: the share of replies whose new text is exactly the
expected one.

A set is a folder of replies as clients write them, `NAME.txt` (a plain-text body, trimmed by
`quotes.split_reply`) or `NAME.eml` (a whole mail, HTML-only replies among them, read by
`parse`: the text a ticket gets), each with its twin `NAME.new.txt`, labelled for this desk:
the new text is the customer's words (greeting and sign-off included) without quotes, forwards
or signatures. Text is compared after trimming trailing spaces and blank edges.

- `tests/fixtures/replies/`: the set the reply code was tuned on (Gmail, Outlook, Apple Mail,
  QQ Mail, NetEase, Foxmail, Thunderbird, Yahoo, Zoho, K-9 in Chinese, English and others);
- `tests/fixtures/replies-heldout/`: written apart from that code, measured before it was
  changed for them (82.1%), then fixed;
- `tests/fixtures/replies-heldout2/`: written after those fixes and measured before any more
  (94.4%), then fixed;
- `tests/fixtures/replies-heldout3/`: written after that round (Chinese webmail and lists,
  Lotus Notes, wrapped header blocks) and measured before any more (81.0%).

Run: `.venv/bin/python bench/replies.py [-v]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mailticket.mail.parse import parse
from mailticket.mail.quotes import split_reply

ROOT = Path(__file__).resolve().parents[1]
SETS = {  # label (no digits: the smoke test reads the figures off the line) -> folder
    "tuned": ROOT / "tests" / "fixtures" / "replies",
    "held-out": ROOT / "tests" / "fixtures" / "replies-heldout",
    "held-out, second": ROOT / "tests" / "fixtures" / "replies-heldout2",
    "held-out, third": ROOT / "tests" / "fixtures" / "replies-heldout3",
}


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def trimmed(path: Path) -> str:
    """The new text our parser finds in one labelled reply."""
    if path.suffix == ".eml":
        return parse(path.read_bytes()).text
    return split_reply(path.read_text(encoding="utf-8"))[0]


def cases(folder: Path) -> list[tuple[str, str, str]]:
    """(name, new text as trimmed, new text expected) for every labelled reply in `folder`."""
    found = []
    for path in sorted([*folder.glob("*.txt"), *folder.glob("*.eml")]):
        if path.name.endswith(".new.txt"):
            continue
        expected = path.with_name(path.stem + ".new.txt").read_text(encoding="utf-8")
        found.append((path.stem, trimmed(path), expected))
    return found


def main(argv: list[str]) -> int:
    for label, folder in SETS.items():
        results = cases(folder)
        right = 0
        for name, got, expected in results:
            if _norm(got) == _norm(expected):
                right += 1
            elif "-v" in argv:
                print(f"wrong  {label}/{name}: got {_norm(got)[:200]!r}")
        share = right / len(results) if results else 0.0
        print(f"replies {len(results)}  trimmed right {right}  share {share:.1%}  set {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
