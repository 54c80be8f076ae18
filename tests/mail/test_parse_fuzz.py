"""Fuzzing the parser: mutated real mails and random bytes never raise anything but ParseError,
and every text field of what comes back is a str."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailticket.mail.parse import ParseError, parse

FIXTURES = Path(__file__).parents[1] / "fixtures"
SEEDS = [
    path.read_bytes()
    for folder in (FIXTURES / "mail", FIXTURES / "corpus")
    for path in sorted(folder.rglob("*.eml"))
]
# Tokens that steer mutations into the parser's hard paths: boundaries, encoded-words, charsets.
TOKENS = [
    b"\r\n", b"\n\n", b"--", b"=?utf-8?B?", b"=?gb2312?Q?=B0", b"?=", b"\x00", b"\xff\xfe",
    b"\x1b$B", b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
    b"Content-Type: message/rfc822\r\n\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"; charset=rot13", b"; charset=\"gb2312\"", b"filename*0*=utf-8''%E8", b"<blockquote>",
    b"cid:", b"\xe5\x86\x99\xe9\x81\x93\xef\xbc\x9a\n",
]  # fmt: skip


@st.composite
def mutated_mail(draw: st.DrawFn) -> bytes:
    """A real mail with a few bytes flipped, cut, repeated or replaced by a hard token."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "repeat"]))
        if operation == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        elif operation == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=16))
        elif operation == "truncate":
            del data[at:]
        elif operation == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 400))] * draw(st.integers(2, 20))
    return bytes(data)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.one_of(mutated_mail(), st.binary(max_size=4000)))
def test_parse_never_raises_anything_but_parse_error(raw: bytes) -> None:
    try:
        mail = parse(raw)
    except ParseError:
        return
    texts = [mail.text, mail.quoted, mail.subject, mail.from_addr, mail.from_name, mail.message_id]
    texts += [a.filename for a in mail.attachments] + [a.sniffed_type for a in mail.attachments]
    texts += list(mail.defects) + list(mail.auto_headers.values())
    assert all(isinstance(t, str) for t in texts)
    assert "\n" not in mail.subject
