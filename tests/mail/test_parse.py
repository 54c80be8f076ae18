from __future__ import annotations

import base64
from pathlib import Path

import pytest
from servers import missing_tool

from mailticket.mail.attachments import sanitise_filename, sniff_type
from mailticket.mail.charsets import STRAY_CP1252
from mailticket.mail.headers import decode_header_value
from mailticket.mail.html import html_to_text, html_to_text_split
from mailticket.mail.parse import ParseError, detect_language, parse

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


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
    if not CORPUS.is_dir():  # skip locally, fail in CI, like a missing server
        missing_tool(f"the shared corpus is not beside this checkout ({CORPUS})")
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


# --- charsets ---------------------------------------------------------------------------------


def _plain(body: bytes, content_type: str = "text/plain", extra: bytes = b"") -> bytes:
    return (
        b"From: a@x.example\r\nMessage-ID: <c@x.example>\r\n"
        + f"Content-Type: {content_type}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


@pytest.mark.parametrize("label", ["base64", "rot13", "hex", "utf-8\\0", "x-unknown"])
def test_a_label_naming_no_text_codec_is_unknown_not_fatal(label: str) -> None:
    mail = parse(_plain("账户 hello".encode(), f"text/plain; charset={label}"))
    assert mail.text == "账户 hello"
    assert any("charset" in d for d in mail.defects)


@pytest.mark.parametrize(
    ("text", "codec", "label", "read_as"),
    [
        ("我们的账户被冻结了 frozen", "utf-8", "iso-8859-1", "utf-8"),
        ("我們的帳戶被凍結了，請儘快處理", "big5", "gb2312", "big5hkscs"),
        ("我们的账户被冻结了，请尽快处理", "gbk", "iso-8859-1", "gb18030"),
        ("我们的账户被冻结了", "gbk", "us-ascii", "gb18030"),
    ],
)
def test_a_wrong_label_is_overruled_and_recorded(
    text: str, codec: str, label: str, read_as: str
) -> None:
    mail = parse(_plain(text.encode(codec), f"text/plain; charset={label}"))
    assert mail.text == text
    assert any(read_as in d for d in mail.defects)


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("こんにちは、アカウントが凍結されました", "iso2022_jp"),
        ("こんにちは、アカウントが凍結されました", "cp932"),
        ("こんにちは、アカウントが凍結されました", "euc_jp"),
        ("我們的帳戶被凍結了，請儘快處理", "big5"),
        ("我们的账户被冻结了，请尽快处理", "gb18030"),
        ("Grüße aus München, die Überweisung fehlt", "cp1252"),
    ],
)
def test_unlabelled_bytes_are_detected(text: str, codec: str) -> None:
    assert parse(_plain(text.encode(codec))).text == text


def test_declared_utf8_with_a_stray_byte_keeps_the_rest() -> None:
    body = "充值没有到账，订单号 TX1234，请尽快处理。".encode() + b"\xff"
    mail = parse(_plain(body, "text/plain; charset=utf-8"))
    assert mail.text == "充值没有到账，订单号 TX1234，请尽快处理。ÿ"
    assert STRAY_CP1252 in mail.defects
    unlabelled = parse(_plain(body))  # still UTF-8, not GBK mojibake
    assert (unlabelled.text, unlabelled.defects) == (mail.text, mail.defects)


def test_stray_latin1_bytes_in_utf8_text_are_read_as_cp1252() -> None:
    body = (
        "Überweisung fehlt seit März. ".encode() * 3
        + b"Die \x93Gutschrift\x94 kam nie, Gr\xfc\xdfe."
    )
    mail = parse(_plain(body, "text/plain; charset=utf-8"))
    assert mail.text.endswith("Die \u201cGutschrift\u201d kam nie, Grüße.")
    assert "\ufffd" not in mail.text
    assert STRAY_CP1252 in mail.defects


# --- HTML -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("line1<br/>line2<br />line3", "line1\nline2\nline3"),
        ("<div>a</div><div>b</div><div><br></div><div>c</div>", "a\nb\n\nc"),
        ("<html><head><meta charset=utf-8><body><p>body text</p>", "body text"),
        ("<table><tr><td>金额</td><td>500元</td></tr></table>", "金额 500元"),
        ('<p class="MsoNormal">a</p><p class="MsoNormal">&nbsp;</p><p class="MsoNormal">b</p>',
         "a\n\nb"),
        ("<p>mine</p><blockquote>theirs<br><br>more</blockquote>", "mine\n\n> theirs\n>\n> more"),
        ("<ol><li>one</li><li>two</li></ol>", "1. one\n2. two"),
        ("<pre>  a\n    b</pre>", "a\n    b"),
    ],
)  # fmt: skip
def test_html_is_rendered_like_a_mail_client_shows_it(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_history_containers_split_html_before_text() -> None:
    html = (
        '<div>新的内容</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">'
        "<b>发件人:</b> 客服</div><div>旧的内容</div>"
    )
    assert html_to_text_split(html) == ("新的内容", "发件人: 客服\n旧的内容")


# --- structure, attachments and damage ----------------------------------------------------------


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "image/png"),
        (b"\xff\xd8\xff\xe0" + bytes(20), "image/jpeg"),
        (b"GIF89a" + bytes(20), "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"BM" + bytes(4) + bytes(4) + b"\x36" + bytes(20), "image/bmp"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(12), "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1" + bytes(12), "image/heif"),
        (b"\x00\x00\x00\x18ftypisom" + bytes(12), "video/mp4"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"PK\x03\x04" + bytes(26) + b"[Content_Types].xmlxl/workbook.xml", XLSX),
        (b"PK\x03\x04" + bytes(26) + b"notes.txt", "application/zip"),
        ("转账记录 2026-11-24\n".encode(), "text/plain"),
        (bytes(range(256)), "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)  # fmt: skip
def test_attachments_are_sniffed_by_their_bytes(data: bytes, expected: str) -> None:
    assert sniff_type(data) == expected


def test_plain_part_is_preferred_unless_it_is_a_stub() -> None:
    def alternative(plain: str) -> bytes:
        return _plain(
            f"--A\r\nContent-Type: text/plain\r\n\r\n{plain}\r\n--A\r\n"
            "Content-Type: text/html\r\n\r\n<p>from html</p>\r\n--A--\r\n".encode(),
            'multipart/alternative; boundary="A"',
        )

    assert parse(alternative("from plain")).text == "from plain"
    assert parse(alternative("")).text == "from html"
    assert parse(alternative("Please view this message in HTML.")).text == "from html"


def test_format_flowed_lines_are_joined() -> None:
    body = b"Der Betrag wurde zweimal \r\nabgebucht.\r\n> zitiert \r\n> weiter\r\n"
    mail = parse(_plain(body, "text/plain; charset=utf-8; format=flowed"))
    assert mail.text == "Der Betrag wurde zweimal abgebucht."
    assert mail.quoted == "> zitiert weiter"


def test_a_thousand_nested_multiparts_are_cut_not_fatal() -> None:
    nested = b"From: a@x.example\r\nSubject: deep\r\n"
    for depth in range(1000):
        nested += f'Content-Type: multipart/mixed; boundary="{depth}"\r\n\r\n--{depth}\r\n'.encode()
    nested += b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    mail = parse(nested)
    assert mail.subject == "deep"
    assert any("nesting deeper than" in d for d in mail.defects)


def test_thousands_of_parts_are_capped() -> None:
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(2500))
    mail = parse(_plain(parts + b"--B--\r\n", 'multipart/mixed; boundary="B"'))
    assert any("MIME parts; the rest ignored" in d for d in mail.defects)
    assert mail.text.startswith("part\n\npart")


def test_headers_only_mail_parses_with_empty_text() -> None:
    mail = parse(b"From: a@x.example\r\nSubject: only a subject\r\n")
    assert (mail.subject, mail.text, mail.quoted) == ("only a subject", "", "")


def test_quoted_history_is_kept_apart_from_the_new_text() -> None:
    attribution = "在 2026年11月24日，15:00，客服 <k@x.example> 写道："
    body = f"请尽快退款。\n\n发自我的iPhone\n\n> {attribution}\n> 您好"
    mail = parse(_plain(body.encode(), "text/plain; charset=utf-8"))
    assert mail.text == "请尽快退款。"
    assert mail.quoted.startswith("发自我的iPhone\n\n> 在 2026年11月24日")


def test_every_authentication_results_header_is_kept_unfolded_in_order() -> None:
    raw = (
        b"Authentication-Results: mx.okwallet.example;\r\n"
        b"\tdkim=pass header.d=okwallet.example\r\n"
        b"Received: from mail.okwallet.example\r\n"
        b"Authentication-Results: mx.okwallet.example; spf=pass smtp.mailfrom=okwallet.example\r\n"
        b"From: alice@okwallet.example\r\nSubject: x\r\n\r\nbody\r\n"
    )
    assert parse(raw).authentication_results == (
        "mx.okwallet.example; dkim=pass header.d=okwallet.example",
        "mx.okwallet.example; spf=pass smtp.mailfrom=okwallet.example",
    )
    assert parse(b"From: a@b.example\r\n\r\nx").authentication_results == ()


@pytest.mark.parametrize("name", ["杜璟", "李喆", "欧阳婧", "龚翾"])
def test_short_gbk_names_keep_their_correct_label(name: str) -> None:
    encoded = base64.b64encode(name.encode("gbk")).decode()
    defects: list[str] = []
    assert decode_header_value(f"=?gbk?B?{encoded}?=", defects) == name
    assert defects == []


def _cp50220_bytes(text: str) -> bytes:
    """ISO-2022-JP as Outlook writes it: every cp932 double byte (NEC and IBM rows too) sent
    as a JIS pair after ESC $ B, half-width kana after ESC ( I."""
    out, mode, data, i = bytearray(), b"(B", text.encode("cp932"), 0
    while i < len(data):
        lead = data[i]
        if lead < 0x80 or 0xA1 <= lead <= 0xDF:
            want = b"(B" if lead < 0x80 else b"(I"
            chunk, i = bytes([lead if lead < 0x80 else lead - 0x80]), i + 1
        else:
            trail, i = data[i + 1], i + 2
            row = (lead - (0xB0 if lead >= 0xE0 else 0x70)) * 2 - (1 if trail < 0x9F else 0)
            col = trail - (0x7E if trail >= 0x9F else (0x20 if trail >= 0x80 else 0x1F))
            want, chunk = b"$B", bytes((row, col))
        if want != mode:
            out += b"\x1b" + want
            mode = want
        out += chunk
    return bytes(out + (b"\x1b(B" if mode != b"(B" else b""))


def test_iso2022jp_with_microsoft_extensions_is_read_the_cp50220_way() -> None:
    text = "株式会社①の髙橋です。ｱｲｳ、請求書Ⅳ号 ㈱ abc"
    body = _cp50220_bytes(text)
    with pytest.raises(UnicodeDecodeError):
        body.decode("iso2022_jp_2")
    assert parse(_plain(body, "text/plain; charset=iso-2022-jp")).text == text
    assert parse(_plain(body)).text == text


@pytest.mark.parametrize("codec", ["utf-8", "gb18030", "big5"])
def test_raw_8bit_attachment_names_are_decoded(codec: str) -> None:
    name = "發票三月份.pdf".encode(codec)
    raw = (
        b"From: a@b.example\nSubject: x\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nhi\n"
        b'--XX\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="'
        + name
        + b'"\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--XX--\n'
    )
    assert [a.filename for a in parse(raw).attachments] == ["發票三月份.pdf"]


@pytest.mark.parametrize(
    ("text", "codec"),
    [("äöüß", "latin-1"), ("Jürgen Größe", "latin-1"), ("刘洋", "gb18030"), ("帳戶", "big5")],
)
def test_short_unlabelled_latin1_is_not_read_as_cjk(text: str, codec: str) -> None:
    mail = parse(_plain(text.encode(codec)))
    assert mail.text == text
    assert detect_language(mail.subject, mail.text) == ("zh" if codec != "latin-1" else "en")
