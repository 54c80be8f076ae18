from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from mailticket.parse import (
    ParseError,
    decode_header_value,
    detect_language,
    html_to_text,
    parse,
    sanitise_filename,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def test_gb2312_label_on_gbk_bytes_is_read_as_gb18030() -> None:
    # 喆 and 堃 are GBK-only: a strict gb2312 decoder fails on them.
    text = "李喆和王堃的充值没有到账"
    raw = (
        b"From: =?gb2312?B?" + b64("李喆".encode("gbk")) + b"?= <li@163.example>\r\n"
        b"Subject: =?gb2312?B?" + b64("提现（喆）".encode("gbk")) + b"?=\r\n"
        b"Message-ID: <a@163.example>\r\n"
        b"Content-Type: text/plain; charset=gb2312\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(text.encode("gbk")) + b"\r\n"
    )
    mail = parse(raw)
    assert mail.text == text
    assert mail.subject == "提现（喆）"
    assert mail.from_name == "李喆"
    assert mail.from_addr == "li@163.example"


def test_encoded_word_split_inside_a_character_is_joined() -> None:
    encoded = "充值未到账".encode()
    first, second = encoded[:4], encoded[4:]  # splits the second character
    header = f"=?UTF-8?B?{b64(first).decode()}?=\r\n =?UTF-8?B?{b64(second).decode()}?="
    assert decode_header_value(header) == "充值未到账"


def test_raw_8bit_header_and_missing_charset() -> None:
    raw = "Subject: 账户被锁定\r\nFrom: 王 <w@x.example>\r\n\r\n我的账户被锁定了".encode("gb18030")
    mail = parse(raw)
    assert mail.subject == "账户被锁定"
    assert mail.text == "我的账户被锁定了"


def test_broken_encoded_word_is_kept_not_dropped() -> None:
    value = decode_header_value("=?utf-8?Q?caf=C3=A9?= =?bogus-charset?B?5Lit?= end")
    assert value.startswith("café")
    assert value.endswith("end")


def test_header_injection_is_flattened() -> None:
    assert "\n" not in decode_header_value("=?utf-8?Q?a=0D=0ABcc:_evil@x.example?=")


def test_html_only_mail_becomes_readable_text() -> None:
    html = (
        "<html><head><style>p{}</style><script>alert(1)</script></head><body>"
        "<p>Hello</p><ul><li>one</li><li>two</li></ul>"
        '<p>see <a href="https://ok.example/help">help</a></p></body></html>'
    )
    text = html_to_text(html)
    assert "alert" not in text and "p{}" not in text
    assert "- one\n" in text
    assert "help (https://ok.example/help)" in text


def test_inline_screenshot_and_rfc2231_filename_are_attachments() -> None:
    raw = (
        b"From: a@x.example\r\nMessage-ID: <m@x.example>\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b'--B\r\nContent-Type: multipart/related; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>\xe6\x88\xaa\xe5\x9b\xbe</p><img src="cid:shot@x">\r\n'
        b"--R\r\nContent-Type: image/png\r\nContent-ID: <shot@x>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--R--\r\n"
        b"--B\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''%E8%B4%A6%E5%8D%95.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--B--\r\n"
    )
    mail = parse(raw)
    assert mail.text == "截图"
    names = [(a.filename, a.content_type, a.inline, a.content_id) for a in mail.attachments]
    assert names == [
        ("attachment-2.png", "image/png", True, "<shot@x>"),
        ("账单.pdf", "application/pdf", False, ""),
    ]
    assert mail.attachments[1].payload == b"%PDF-"


def test_rfc2047_file_name_from_chinese_clients() -> None:
    name = b"=?GB2312?B?" + b64("截图.png".encode("gbk")) + b"?="
    raw = (
        b"From: a@x.example\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b'Content-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: image/png; name="'
        + name
        + b'"\r\nContent-Disposition: attachment; filename="'
        + name
        + b'"\r\n\r\nxx\r\n--B--\r\n'
    )
    assert parse(raw).attachments[0].filename == "截图.png"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("a\x00b\x07c.png", "abc.png"),
        ("...", "attachment-1.png"),
        ("", "attachment-1.png"),
    ],
)
def test_file_names_are_sanitised(given: str, expected: str) -> None:
    assert sanitise_filename(given, "image/png", 1) == expected


def test_attachment_over_the_limit_is_recorded_not_kept() -> None:
    raw = (
        b"From: a@x.example\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: image/png\r\n"
        b"Content-Disposition: attachment; filename=big.png\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(b"x" * 5000) + b"\r\n--B--\r\n"
    )
    attachment = parse(raw, max_attachment_bytes=1000).attachments[0]
    assert attachment.too_large and attachment.size == 5000 and attachment.payload == b""


def test_damaged_mail_is_read_as_far_as_it_goes() -> None:
    raw = (
        b"From: a@x.example\r\nSubject: broken\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n'
        b"--never-closed\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"5oiR5Lus!!!not-base64\r\n"
    )
    mail = parse(raw)
    assert mail.subject == "broken"
    assert mail.defects  # recorded, not raised


def test_deep_nesting_and_huge_header_do_not_raise() -> None:
    nested = b"From: a@x.example\r\nSubject: " + b"x" * 100_000 + b"\r\n"
    for depth in range(300):
        nested += (
            f'Content-Type: multipart/mixed; boundary="b{depth}"\r\n\r\n--b{depth}\r\n'.encode()
        )
    nested += b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    mail = parse(nested)
    assert mail.text == "deep"
    assert len(mail.subject) <= 64 * 1024


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\x89PNG\r\n\x1a\nbinary"])
def test_not_a_mail_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse(raw)


def test_language_detection() -> None:
    assert detect_language("充值没到账", "我的钱包 balance 不对") == "zh"
    assert detect_language("Top-up missing", "My wallet top-up of 500 CNY is missing") == "en"


def test_every_corpus_mail_parses_or_is_refused_cleanly() -> None:
    """Real-world mail from other projects' suites: never an unexpected exception."""
    if not CORPUS.is_dir() and not os.environ.get("CI"):
        pytest.skip(f"the shared corpus is not beside this checkout ({CORPUS})")
    files = [p for p in CORPUS.rglob("*") if p.is_file() and "LICENSE" not in p.name]
    assert len(files) > 200, f"corpus not found at {CORPUS}"
    parsed = 0
    for path in files:
        try:
            mail = parse(path.read_bytes())
        except ParseError:
            continue
        parsed += 1
        assert isinstance(mail.text, str)
        assert "\n" not in mail.subject
    assert parsed > 150
