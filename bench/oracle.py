"""mailticket's parser against the standard library's `email` parser as an oracle.

For every mail under `../shared/corpus/` and `tests/fixtures/mail/` (files that start like a
mail: a header line in the first 2 KB), prints how many mails `parse` refuses, how many it
garbles (U+FFFD in the subject or text), and how often its subject and sender agree with
`email.message_from_bytes(raw, policy=policy.default)`. Where the oracle itself fails (raises,
or has no usable value) the mail is counted apart, not as agreement: the figures are honest
about what the oracle can judge. Run: `.venv/bin/python bench/oracle.py [-v]`.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
import sys
from pathlib import Path

from mailticket.mail.parse import ParseError, parse

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT.parent / "shared" / "corpus", ROOT / "tests" / "fixtures" / "mail")
_HEADER = re.compile(rb"^[!-9;-~]+[ \t]*:", re.MULTILINE)
_SPACES = re.compile(r"\s+")


def mails() -> list[Path]:
    found = []
    for source in SOURCES:
        for path in sorted(source.rglob("*")):
            skip = path.suffix in (".json", ".md", ".html", ".source") or not path.is_file()
            if not skip and _HEADER.search(path.read_bytes()[:2048]):
                found.append(path)
    return found


def oracle(raw: bytes) -> tuple[str | None, str | None]:
    """(subject, sender address) as the standard library reads them; None where it cannot."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        subject = message.get("subject")
        subject_text = None if subject is None else _SPACES.sub(" ", str(subject)).strip()
    except Exception:
        return None, None
    try:
        sender = message.get("from")
        addresses = email.utils.getaddresses([str(sender)]) if sender is not None else []
        address = next((a for _, a in addresses if "@" in a), None)
    except Exception:
        address = None
    return subject_text, address.lower() if address else None


def main() -> int:
    verbose = "-v" in sys.argv
    total = refused = garbled = 0
    counts = {"subject": [0, 0], "sender": [0, 0]}  # [agree, judged]
    for path in mails():
        raw = path.read_bytes()
        total += 1
        try:
            mail = parse(raw)
        except ParseError as error:
            refused += 1
            if verbose:
                print(f"refused  {path.relative_to(ROOT.parent)}: {error}")
            continue
        if "\ufffd" in mail.subject or "\ufffd" in mail.text:
            garbled += 1
            if verbose:
                print(f"garbled  {path.relative_to(ROOT.parent)}")
        subject, sender = oracle(raw)
        for key, want, got in (
            ("subject", subject, mail.subject),
            ("sender", sender, mail.from_addr.lower()),
        ):
            if want is None or "\ufffd" in want:
                continue
            counts[key][1] += 1
            if got == want:
                counts[key][0] += 1
            elif verbose:
                where = path.relative_to(ROOT.parent)
                print(f"{key:8} {where}: ours {got[:80]!r} oracle {want[:80]!r}")
    print(f"mails {total}  refused {refused}  garbled {garbled}")
    for key, (agree, judged) in counts.items():
        print(f"{key}: agrees with the stdlib oracle on {agree}/{judged} = {agree / judged:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
