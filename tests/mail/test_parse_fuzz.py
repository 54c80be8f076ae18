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


# Header values as hostile senders and broken relays write them: 8-bit bytes of no charset,
# control characters, NULs, encoded words cut in half.
HEADER_BYTES = st.binary(max_size=300) | st.lists(
    st.sampled_from([b"<", b">", b"@", b" ", b"\x00", b"\x07", b"\x1b", b"\x7f", b"\xc3", b"\xff",
                     b"\xe5\x86\x99", b"=?utf-8?q?", b"?=", b"a", b"x.example", b"\t", b","]),
    max_size=60,
).map(b"".join)  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(
    message_id=HEADER_BYTES,
    in_reply_to=HEADER_BYTES,
    references=HEADER_BYTES,
    sender=HEADER_BYTES,
    subject=HEADER_BYTES,
)
def test_headers_with_8bit_and_control_bytes_are_kept_only_as_clean_text(
    message_id: bytes, in_reply_to: bytes, references: bytes, sender: bytes, subject: bytes
) -> None:
    raw = b"\r\n".join(
        [
            b"From: " + sender,
            b"Subject: " + subject,
            b"Message-ID: " + message_id,
            b"In-Reply-To: " + in_reply_to,
            b"References: " + references,
            b"",
            b"body",
        ]
    )
    try:
        mail = parse(raw)
    except ParseError:
        return
    ids = [mail.message_id, *mail.in_reply_to, *mail.references]
    # What we keep and would write into our own In-Reply-To/References: printable ASCII only.
    assert all(len(i) <= 902 and all("!" <= c <= "~" for c in i) for i in ids if i)
    assert not any(c < " " or c == "\x7f" for c in mail.subject + mail.from_addr)
    mail.dedupe_key.encode("utf-8")  # stored as text: never a lone surrogate
    assert len(mail.dedupe_key) <= 128
