"""Every repair the parser makes is named in the mail's defects, which `mailticket check`
prints, so an admin can see why a mail reads as it does (issue 15): one mail per kind of
repair, and what it is read as."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailticket.app.cli import main
from mailticket.mail.parse import parse

TAIL = b"To: desk@okwallet.example\r\nMessage-ID: <m1@client.example>\r\n"
PLAIN = b"From: a@client.example\r\nSubject: x\r\n" + TAIL


def _body(content_type: bytes, payload: bytes, extra: bytes = b"") -> bytes:
    return PLAIN + b"Content-Type: " + content_type + b"\r\n" + extra + b"\r\n" + payload + b"\r\n"


ATTACHMENT_NAME = "账单.pdf".encode("gb18030")
KINDS = [
    ("banner", b"---- Original message ----\r\n" + PLAIN + b"\r\nhi", "banner line"),
    ("space before colon", b"From : a@client.example\r\nSubject : x\r\n" + TAIL + b"\r\nhi",
     "whitespace before a header's colon"),
    ("bare fold", b"From: a@client.example\r\nSubject: a long\r\nsubject tail\r\n" + TAIL
     + b"\r\nhi", "folded header line"),
    ("headerless", b"just some text\r\nmore text\r\n", "no header block"),
    ("sender from Reply-To", b'From: "x" <>\r\nReply-To: r@client.example\r\nSubject: x\r\n'
     + TAIL + b"\r\nhi", "sender taken from Reply-To"),
    ("first From unusable", b'From: "x" <>\r\nFrom: b@client.example\r\nSubject: x\r\n' + TAIL
     + b"\r\nhi", "no usable address in From"),
    ("name without brackets", b"From: Chen Jing cj@client.example\r\nSubject: x\r\n" + TAIL
     + b"\r\nhi", "read leniently"),
    ("invalid sender kept", b"From: MAILER-DAEMON\r\nSubject: x\r\n" + TAIL + b"\r\nhi",
     "not a valid address"),
    ("spaces in an encoded word", b"From: a@client.example\r\nSubject: =?UTF-8?Q? Personal"
     b"=C3=A4nderung?=\r\n" + TAIL + b"\r\nhi", "encoded-word with spaces"),
    ("8-bit in a Q word", b"From: a@client.example\r\nSubject: =?ISO-8859-1?Q?caf\xe9?=\r\n"
     + TAIL + b"\r\nhi", "8-bit bytes inside an encoded-word"),
    ("raw 8-bit header", b"From: a@client.example\r\nSubject: " + "退款".encode("gb18030")
     + b"\r\n" + TAIL + b"\r\nhi", "without a charset read as gb18030"),
    ("stray cp1252 bytes", _body(b"text/plain; charset=utf-8",
     "café, déjà vu, ".encode() * 3 + b"na\xefve"), "read as cp1252"),
    ("unlabelled GBK body", _body(b"text/plain", "我的钱没有到账，请帮忙处理".encode("gb18030")),
     "without a charset read as gb18030"),
    ("label that lies", _body(b"text/plain; charset=gb2312", "我的錢沒有到帳".encode("big5")),
     "did not fit the bytes"),
    ("CP50220", _body(b"text/plain; charset=iso-2022-jp", b"\x1b$B-!-5\x1b(B"), "CP50220"),
    ("unknown charset", _body(b"text/plain; charset=x-unheard-of", b"hi"), "unknown charset"),
    ("damaged base64", _body(b"text/plain; charset=utf-8", b"5oiR!!!5piv",
     b"Content-Transfer-Encoding: base64\r\n"), "damaged base64"),
    ("8-bit file name", _body(b"multipart/mixed; boundary=zz", b"--zz\r\nContent-Type: text/plain"
     b"\r\n\r\nhi\r\n--zz\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;"
     b' filename="' + ATTACHMENT_NAME + b'"\r\n\r\nxx\r\n--zz--'), "attachment file name"),
    ("lost boundary", _body(b"multipart/mixed", b"--zz\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
     b"--zz--"), "boundary not found"),
    ("unreadable Date", b"From: a@client.example\r\nSubject: x\r\nDate: yesterday-ish\r\n"
     + TAIL + b"\r\nhi", "unreadable Date"),
    ("Message-ID without brackets", b"From: a@client.example\r\nSubject: x\r\nMessage-ID: "
     b"m1@client.example\r\n\r\nhi", "read as <m1@client.example>"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "raw", "note"), KINDS, ids=[k[0] for k in KINDS])
def test_each_kind_of_repair_is_a_defect(kind: str, raw: bytes, note: str) -> None:
    mail = parse(raw)
    assert any(note in defect for defect in mail.defects), mail.defects
    assert "\ufffd" not in mail.subject + mail.text


def test_a_well_formed_mail_has_no_defects() -> None:
    clean = _body(b"text/plain; charset=utf-8", "我的钱没有到账。café".encode())
    assert (
        parse(clean.replace(b"From: a@client.example", b"From: A <a@client.example>")).defects == ()
    )


def test_check_prints_every_repair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = (
        b"---- Original message ----\r\nFrom : a@client.example\r\n"
        b"Subject: =?UTF-8?Q? caf=C3=A9?=\r\nDate: soon\r\n" + TAIL
        + b"Content-Type: text/plain\r\n\r\n" + "我的钱没有到账".encode("gb18030") + b"\r\n"
    )  # fmt: skip
    (tmp_path / "repaired.eml").write_bytes(raw)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILTICKET_CONFIG", raising=False)
    assert main(["check", "repaired.eml"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("defects"))
    notes = ("banner line", "whitespace before", "encoded-word with spaces", "unreadable Date")
    for note in (*notes, "without a charset read as gb18030"):
        assert note in line
