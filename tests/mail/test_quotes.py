"""Splitting new text from quoted history: public reply corpora, then the cases a Chinese
complaint desk sees (see tests/fixtures/corpus/README.md for where the corpus files come from)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailticket.mail.html import html_to_text_split
from mailticket.mail.parse import parse
from mailticket.mail.quotes import split_reply

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"
TALON = CORPUS / "talon"


def _split_file(path: Path) -> tuple[str, str]:
    return split_reply(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted(TALON.glob("*.eml")), ids=lambda p: p.stem)
def test_talon_standard_replies_are_hello(path: Path) -> None:
    mail = parse(path.read_bytes())
    if path.stem == "reply-quotations-share-block":
        assert mail.text.startswith("Hi Katharine.  Sounds great.")
        # Yahoo's "--- On <date>, <addr> wrote:" is an attribution (issue 15), quoted with the block
        assert mail.quoted.startswith(
            "--- On Wed, 4/4/12, xxx@example.com <xxx@example.com> wrote:"
        )
        assert "\nFrom: xxx@example.com <xxx@example.com>\n" in mail.quoted
    else:
        assert mail.text == "Hello"
        assert mail.quoted


@pytest.mark.parametrize("path", sorted(TALON.glob("*.html")), ids=lambda p: p.stem)
def test_talon_html_replies_keep_only_the_answer(path: Path) -> None:
    before, history = html_to_text_split(path.read_text(encoding="utf-8", errors="replace"))
    new, quoted = split_reply(before)
    assert new.replace("\n\n", "\n") == "Hi. I am fine.\nThanks,\nAlex"
    assert "Hello" in history + quoted


@pytest.mark.parametrize(
    ("name", "new", "quoted_start"),
    [
        ("correct_sig", "this is an email with a correct -- signature.", "--\nrick"),
        ("email_1_3", "Oh thanks.\n\nHaving the function would be great.\n\n-Abhishek Kona",
         "On 01/03/11 7:07 PM, Russell Brown wrote:"),
        ("email_1_4", "Awesome! I haven't had another problem with it.", "On Aug 22, 2011"),
        ("email_1_6", "I get proper rendering as well.\n\nSent from a magnificent torch of pixels",
         "On Dec 16, 2011, at 12:47 PM, Corey Donohoe\n<reply@reply.github.com>\nwrote:"),
        ("email_1_7", ":+1:", "On Tue, Sep 25, 2012 at 8:59 AM, Chris Wanstrath\n"),
        ("email_1_8", "I will reply under this one\n\nand under this.", "On Tue, Apr 29, 2014"),
        ("email_2_1", "Outlook with a reply", "------------------------------\n\n*From:*"),
        ("email_2_2", "Outlook with a reply directly above line", "_______"),
        ("email_2_3", "Outlook with a reply directly above line", "From: CRM Comments"),
        ("email_BlackBerry", "Here is another email", "Sent from my BlackBerry"),
        ("email_iPhone", "Here is another email", "Sent from my iPhone"),
        ("email_multi_word_sent_from_my_mobile_device", "Here is another email",
         "Sent from my Verizon Wireless BlackBerry"),
        ("pathological", "I think you're onto something. I will try to fix the problem as soon "
         "as I\nget back to a computer.", 'On Dec 8, 2013 2:10 PM, "John Sullivan"'),
        ("email_sent_from_my_not_signature",
         "Here is another email\n\nSent from my desk, is much easier then my mobile phone.", ""),
        ("email_sig_delimiter_in_middle_of_line",
         "Hi there!\n\nStuff happened.\n\nAnd here is a fix -- this is not a signature.\n\nkthxbai",
         ""),
    ],
)  # fmt: skip
def test_github_email_reply_parser_corpus(name: str, new: str, quoted_start: str) -> None:
    got_new, got_quoted = _split_file(CORPUS / "email_reply_parser" / f"{name}.txt")
    assert got_new == new
    assert got_quoted.startswith(quoted_start)
    assert bool(got_quoted) == bool(quoted_start)


def test_github_corpus_bottom_posts_and_footers() -> None:
    new, quoted = _split_file(CORPUS / "email_reply_parser" / "email_1_2.txt")
    assert new.startswith("Hi,\n\nYou can list the keys for the bucket")
    assert "> Hi folks" in quoted and "riak-users mailing list" in quoted
    assert "Abhishek Kona wrote" not in new and "mailing list" not in new
    new, quoted = _split_file(CORPUS / "email_reply_parser" / "email_1_1.txt")
    assert new.endswith("-Abhishek Kona")
    assert quoted.startswith("_______________________________________________\nriak-users")
    new, quoted = _split_file(CORPUS / "email_reply_parser" / "email_bullets.txt")
    assert new.endswith("   - how about bullets\n   - and another")
    assert "Give us an example" in quoted
    for name in ("greedy_on", "email_one_is_not_on"):
        new, quoted = _split_file(CORPUS / "email_reply_parser" / f"{name}.txt")
        assert new.startswith(("On your remote host you can run:", "Thank, this is really"))
        assert quoted.startswith(("On 9 Jan 2014, at 2:47", "On Oct 1, 2012, at 11:55 PM"))
    assert _split_file(CORPUS / "email_reply_parser" / "email_1_5.txt")[1] == ""


@pytest.mark.parametrize(
    ("name", "new"),
    [
        ("email_gmail", "This is a test for inbox replying to a github message."),
        ("email_headers_no_delimiter", "And another reply!"),
        ("email_2_3", "Outlook with a reply above headers using unusual format"),
    ],
)
def test_zapier_email_reply_parser_corpus(name: str, new: str) -> None:
    assert _split_file(CORPUS / "zapier_email_reply_parser" / f"{name}.txt")[0] == new


@pytest.mark.parametrize(
    "signature",
    [
        "Sent from my iPhone",
        "Sent from my Huawei phone",
        "Sent from Mail for Windows",
        "Get Outlook for iOS",
        "发自我的iPhone",
        "发自我的华为手机",
        "从我的 iPhone 发送",
        "发自网易邮箱大师",
    ],
)
def test_mobile_signatures_are_history(signature: str) -> None:
    assert split_reply(f"钱包余额不对。\n\n{signature}\n") == ("钱包余额不对。", signature)


@pytest.mark.parametrize(
    "attribution",
    [
        "张伟 <zhangwei@gmail.example> 于2026年11月24日周二 下午3:00写道：",
        '在 2026-11-24 15:00:00，"张伟" <zhangwei@163.example> 写道：',
        '在 2026年11月24日 15:00，"张伟"<zhangwei@foxmail.example> 写道：',
        "On Tue, Nov 24, 2026 at 3:00 PM 张伟 <zhangwei@gmail.example> wrote:",
        "On 24 Nov 2026, at 15:00, 张伟 <zhangwei@icloud.example> wrote:",
    ],
)
def test_attributions_start_the_history(attribution: str) -> None:
    text = f"充值500元没到账。\n\n{attribution}\n\n> 您好，请提供交易单号。\n"
    assert split_reply(text) == ("充值500元没到账。", f"{attribution}\n\n> 您好，请提供交易单号。")


def test_outlook_header_block_with_full_width_colons() -> None:
    text = (
        "请尽快退款。\n\n发件人： OK钱包 <complaints@okwallet.example>\n发送时间： 2026年11月24日 "
        "15:00\n收件人： 张伟\n主题： 退款\n\n您好"
    )
    new, quoted = split_reply(text)
    assert new == "请尽快退款。"
    assert quoted.startswith("发件人： OK钱包")


def test_what_only_looks_like_history_stays_new_text() -> None:
    details = (
        "转账信息如下：\nFrom: 工商银行 6222 **** 1234\nTo: 商户 好邻居便利店\n"
        "Date: 2026-11-24 14:02\n金额：36.5元\n\n我在信里写道：请退款。\n> 500元是我的全部余额"
    )
    new, quoted = split_reply(details)
    assert new.startswith(details.split("\n>")[0])
    assert quoted == "> 500元是我的全部余额"
    long_tail = "订单明细\n--\n" + "\n".join(f"第{i}笔 100元" for i in range(20))
    assert split_reply(long_tail) == (long_tail, "")


def test_a_mail_that_is_all_quote_keeps_everything_as_new_text() -> None:
    text = "> 您好，请提供交易单号。\n> OK钱包"
    assert split_reply(text) == (text, "")
    assert split_reply("") == ("", "")
    assert split_reply("Sent from my iPhone") == ("Sent from my iPhone", "")


def test_interleaved_answers_are_new_text() -> None:
    text = (
        "On Tue, Nov 24, 2026 at 3:00 PM Desk <complaints@okwallet.example> wrote:\n"
        "> Your account number?\n\n6222 0000 1111\n\n> The amount?\n\n500 CNY\n"
    )
    assert split_reply(text) == (
        "6222 0000 1111\n\n500 CNY",
        "On Tue, Nov 24, 2026 at 3:00 PM Desk <complaints@okwallet.example> wrote:\n"
        "> Your account number?\n> The amount?",
    )


def test_huge_lines_are_split_without_backtracking() -> None:
    text = "写道" * 50_000 + "：\n" + ">" * 100_000 + "\nOn " + "x" * 100_000 + " wrote:"
    new, quoted = split_reply(text)
    assert new and quoted.startswith(">")


@pytest.mark.parametrize(
    "attribution",
    [
        "Am 24.11.2026 um 15:00 schrieb Anna Berg <anna@mail.example>:",
        "Op 24 nov. 2026 om 15:00 schreef Jan de Vries <jan@mail.example>:",
        "Le 24 nov. 2026 à 15:00, Marie <marie@mail.example> a écrit :",
        "Il giorno 24 nov 2026, alle ore 15:00, Luca <luca@mail.example> ha scritto:",
        "El 24 nov 2026, a las 15:00, Ana <ana@mail.example> escribió:",
        "Em 24/11/2026 15:00, João <joao@mail.example> escreveu:",
        "Den 24 nov. 2026 kl. 15:00 skrev Erik <erik@mail.example>:",
        "W dniu 24.11.2026 o 15:00 Jan <jan@mail.example> napisał:",
        "24.11.2026, 15:00, Иван <ivan@mail.example> написал:",
        "2026年11月24日 15:00 Taro <taro@mail.example>のメッセージ書きました:",
        "Anna Berg <anna@mail.example> wrote:",
        "---- On Tue, 24 Nov 2026 15:00 Zoho <z@mail.example> wrote ----:",
    ],
)
def test_attributions_in_other_languages_start_the_history(attribution: str) -> None:
    new, quoted = split_reply(f"Still not refunded.\n\n{attribution}\n> old words\n")
    assert new == "Still not refunded."
    assert quoted.startswith(attribution)


@pytest.mark.parametrize(
    "block",
    [
        "Von: Anna <anna@mail.example>\nGesendet: Di, 24.11.2026 15:00\nAn: desk\nBetreff: Karte",
        "De: Ana <ana@mail.example>\nEnviado: 24/11/2026 15:00\nPara: desk\nAsunto: Tarjeta",
        "Da: Luca <luca@mail.example>\nData: 24 novembre 2026 15:00\nA: desk\nOggetto: Carta",
        "Från: Erik <erik@mail.example>\nSkickat: 24 nov 2026 15:00\nTill: desk\nÄmne: Kort",
        "From: Bob <bob@mail.example>\nReply-To: bob@mail.example\nImportance: High\nSubject: Card",
        "-----Ursprüngliche Nachricht-----\nVon: Anna",
        "*-----Message d'origine-----*\nDe: Marie",
    ],
)
def test_localised_outlook_blocks_start_the_history(block: str) -> None:
    new, quoted = split_reply(f"Still not refunded.\n\n{block}\n\nold words\n")
    assert new == "Still not refunded."
    assert quoted.startswith(block.split("\n")[0])


@pytest.mark.parametrize(
    "line",
    [
        "Envoyé de mon iPhone",
        "Von meinem iPhone gesendet",
        "Sendt fra min iPad",
        "Skickat från min iPhone",
        "Enviado desde mi Samsung",
        "Inviato da iPhone",
        "Sent from K-9 Mail",
    ],
)
def test_sent_from_my_device_in_other_languages_is_a_signature(line: str) -> None:
    assert split_reply(f"My card is blocked.\n\n{line}") == ("My card is blocked.", line)
