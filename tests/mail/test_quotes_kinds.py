"""Kinds of quoted history found missing by the held-out reply set (issue 15): Outlook blocks in
more languages, old Gmail's verb-less attribution, `|` quoting, "Name wrote:" alone, forwards
inside quotes and Mutt's forwards, Outlook Mobile's signature with a link; and, for each, the
customer text that only looks like it and must stay new text."""

from __future__ import annotations

import pytest

from mailticket.mail.forwards import forwarded_origin
from mailticket.mail.html import html_to_text_split
from mailticket.mail.quotes import split_reply, split_reply_marked

ASK = "Still not refunded, order 7781."


@pytest.mark.parametrize(
    "block",
    [
        "Fra: Desk <d@okwallet.example>\nSendt: 24. november 2026 15:00\nTil: Mette\nEmne: SV: x",
        "De: Desk <d@okwallet.example>\nEnviado el: martes, 24 de noviembre\nPara: J\nAsunto: x",
        "De: Desk <d@okwallet.example>\nEnviada em: terça-feira, 24\nPara: Ana\nAssunto: RE: x",
        "Od: Desk <d@okwallet.example>\nWysłano: wtorek, 24 listopada\nDo: Tomasz\nTemat: RE: x",
        "От: Desk <d@okwallet.example>\nОтправлено: 24 ноября 2026 г.\nКому: Иван\nТема: RE: x",
        "差出人: Desk <d@okwallet.example>\n送信日時: 2026年11月24日\n宛先: 田中\n件名: x",
        "보낸 사람: Desk <d@okwallet.example>\n보낸 날짜: 2026년 11월 24일\n받는 사람: 김\n제목: x",
        "Lähettäjä: Desk <d@okwallet.example>\nLähetetty: 24.11.\nVastaanottaja: A\nAihe: x",
        "| 发件人 | Desk<d@okwallet.example> |\n| 日期 | 2026年11月24日 |\n| 至 | a@126.example |",
        "------------------ Original ------------------\nFrom: Desk",
        "-----Oprindelig meddelelse-----\nFra: Desk",
        "-----元のメッセージ-----\n差出人: Desk",
        "---- 在 星期二, 2026-11-24 15:00:00 Desk <d@okwallet.example> 撰写 ----",
    ],
)
def test_more_localised_header_blocks_start_the_history(block: str) -> None:
    new, quoted = split_reply(f"{ASK}\n\n{block}\n\nold words\n")
    assert new == ASK
    assert quoted.startswith(block.split("\n")[0])


def test_customer_lines_with_field_words_are_not_a_block() -> None:
    text = f"{ASK}\n\nDo: check the refund\nOd: today\nTemat: refund\n\nThanks"
    assert split_reply(text) == (text, "")


def test_old_gmail_date_and_sender_without_verb_only_above_a_quote() -> None:
    for line in ("2026/11/24 OK Wallet <d@okwallet.example>", "2009-1-5 张伟 <zw@gmail.example>"):
        assert split_reply(f"{ASK}\n\n{line}\n\n> old words\n") == (ASK, f"{line}\n\n> old words")
    paid = f"{ASK}\n\n2026/11/20 paid to shop@mall.example\n\nPlease check."
    assert split_reply(paid) == (paid, "")


def test_pipe_quoting_is_history_and_a_table_is_not() -> None:
    text = f"{ASK}\n\nDesk wrote on 24/11/2026 15:00:\n| Dear customer,\n| please update.\n"
    assert split_reply(text) == (ASK, "Desk wrote on 24/11/2026 15:00:\n| Dear customer,\n"
                                 "| please update.")  # fmt: skip
    table = f"{ASK}\n\n| 日期 | 金额 |\n| 11-20 | 500 |"
    assert split_reply(table) == (table, "")


def test_name_wrote_alone_is_an_attribution_only_above_a_quote() -> None:
    assert split_reply(f"{ASK}\n\nAnna Berg wrote:\n> old words") == (
        ASK,
        "Anna Berg wrote:\n> old words",
    )
    assert split_reply(f"Ahmed writes:\n> old words\n\n{ASK}") == (
        ASK,
        "Ahmed writes:\n> old words",
    )
    letter = f"{ASK}\n\nThis is what I wrote:\nthe card was charged twice."
    assert split_reply(letter) == (letter, "")


def test_a_forward_inside_a_quote_is_read_one_level_down() -> None:
    body = (
        "> Begin forwarded message:\n>\n> From: Utility <b@utility.example>\n"
        "> Subject: Overdue\n> Date: 23 November 2026\n>\n> Your bill of 88 SGD was returned.\n"
    )
    new, quoted, promoted = split_reply_marked(body)
    assert (new, promoted) == ("Your bill of 88 SGD was returned.", True)
    assert quoted.startswith("Begin forwarded message:")
    above = split_reply_marked(f"{ASK}\n\n{body}")
    assert above[0] == ASK and not above[2]
    assert split_reply("> just an old quote\n> more") == ("> just an old quote\n> more", "")


def test_mutt_forward_with_words_above() -> None:
    body = (
        f"{ASK}\n\n----- Forwarded message from Shop <o@shop.example> -----\n"
        "Date: Mon, 23 Nov 2026 11:20:00 +0800\nFrom: Shop <o@shop.example>\nSubject: Refund\n\n"
        "We refunded you.\n\n----- End forwarded message -----\n"
    )
    new, quoted = split_reply(body)
    assert new == ASK
    assert quoted.startswith("----- Forwarded message from Shop")


@pytest.mark.parametrize(
    "line",
    [
        "Get Outlook for Android<https://aka.ms/AAb9ysg>",
        "Outlook für iOS herunterladen<https://aka.ms/o0ukef>",
        "Von meinem Samsung Galaxy Smartphone gesendet.",
        "Verstuurd vanaf mijn iPhone",
        "iPhoneから送信",
        "Sent from Yahoo Mail on Android",
        "发自 网易邮箱大师",
        "寄自我的 iPhone",
    ],
)
def test_mobile_signatures_with_links_and_in_more_languages(line: str) -> None:
    assert split_reply(f"{ASK}\n\n{line}\n") == (ASK, line)


def test_sentences_starting_like_a_signature_stay() -> None:
    for text in ("Lähetetty paketti eilen, rahat puuttuvat.", "Sent from Paris, not my phone."):
        assert split_reply(f"{ASK}\n\n{text}") == (f"{ASK}\n\n{text}", "")


def test_an_agents_forward_names_the_customer_in_other_languages() -> None:
    text = (
        "Bitte übernehmen.\n\n-------- Weitergeleitete Nachricht --------\n"
        "Betreff: Doppelte Abbuchung\nDatum: Mon, 23 Nov 2026 10:00:00 +0100\n"
        "Von: Lena Graf <Lena@Web.example>\nAn: desk@okwallet.example\n\nZweimal abgebucht.\n"
    )
    origin = forwarded_origin(text)
    assert origin is not None
    assert (origin.address, origin.name, origin.subject) == (
        "Lena@web.example",
        "Lena Graf",
        "Doppelte Abbuchung",
    )
    assert origin.text == "Zweimal abgebucht."


@pytest.mark.parametrize(
    "top",
    [
        "-----Original Message-----\nFrom: Airline <r@airline.example>\nSent: Monday, 23 Nov",
        "________________________________\nFrom: Airline <r@airline.example>\nSent: 23 Nov 2026",
        "发件人: 航空公司 <r@airline.example>\n发送时间: 2026年11月23日 10:00",
    ],
)
def test_a_body_opening_with_a_header_block_is_an_outlook_forward(top: str) -> None:
    body = f"{top}\nTo: Kim <k@outlook.example>\nSubject: Refund\n\nYour refund was issued.\n"
    new, quoted, promoted = split_reply_marked(body)
    assert (new, promoted) == ("Your refund was issued.", True)
    assert quoted == body.split("\n\n")[0]
    zoho = "---- On Tue, 24 Nov 2026 15:00 Desk <d@okwallet.example> wrote ----\n\nold words"
    assert split_reply(zoho) == (zoho, "")  # no header block: kept whole, as before


@pytest.mark.parametrize(
    "attribution",
    [
        "út 24. 11. 2026 v 15:00 odesílatel Desk <d@okwallet.example>\nnapsal:",
        "Desk <d@okwallet.example>, 24 Kas 2026 Sal, 15:00 tarihinde şunu\nyazdı:",
        "2026. nov. 24., K 15:00 Desk <d@okwallet.example> ezt írta:",
    ],
)
def test_gmail_attributions_in_more_languages(attribution: str) -> None:
    assert split_reply(f"{ASK}\n\n{attribution}\n\n> old words") == (
        ASK,
        f"{attribution}\n\n> old words",
    )


def test_a_forward_quoted_whole_below_its_marker_keeps_the_forwarded_words() -> None:
    forwarded = (
        "---------- Forwarded message ---------\n> From: Shop <o@shop.example>\n"
        "> Subject: Refund\n> Date: Mon, 23 Nov 2026\n>\n> We refunded 64 EUR.\n>\n"
        "> On Sun, 22 Nov 2026 Ben <ben@gmail.example> wrote:\n>> Where is my refund?\n"
    )
    new, quoted, promoted = split_reply_marked(forwarded)
    assert (new, promoted) == ("We refunded 64 EUR.", True)
    assert "Where is my refund?" in quoted
    above = split_reply_marked(f"{ASK}\n\n{forwarded}")
    assert above[0] == ASK and above[1].startswith("---------- Forwarded message")


def test_an_agents_forward_quoted_whole_names_the_customer() -> None:
    origin = forwarded_origin(
        "请建单。\n\n---------- Forwarded message ---------\n> From: 王芳 <wf@163.example>\n"
        "> Subject: 提现没到账\n>\n> 我11月21日提现2000元，至今未到账。\n"
    )
    assert origin is not None
    assert (origin.address, origin.subject, origin.text) == (
        "wf@163.example",
        "提现没到账",
        "我11月21日提现2000元，至今未到账。",
    )


def test_unquoted_history_below_inline_answers_is_history() -> None:
    body = (
        "Desk <d@okwallet.example> wrote:\n> Your order number?\n\n7781\n\n"
        "On Mon, 23 Nov 2026 at 09:00, Ben <ben@gmail.example> wrote:\n\nMy refund is missing.\n"
    )
    new, quoted = split_reply(body)
    assert new == "7781"
    assert quoted.endswith("On Mon, 23 Nov 2026 at 09:00, Ben <ben@gmail.example> wrote:\n\n"
                           "My refund is missing.")  # fmt: skip


@pytest.mark.parametrize(
    "container",
    [
        '<div class="moz-forward-container">-------- Forwarded Message --------',
        '<div class="zmail_extra">---- On Tue, 24 Nov 2026 Desk wrote ----',
        '<div class="protonmail_quote">On Tuesday, 24 November 2026, Desk wrote:',
        '<div id="mail-editor-reference-message-container"><b>From:</b> Desk',
        '<blockquote id="ntes-iosmail-quote">在 2026年11月24日 15:00，Desk 写道：',
        '<div id="isForwardContent">------------------ 转发邮件 ------------------',
    ],
)
def test_more_html_history_containers(container: str) -> None:
    before, history = html_to_text_split(f"<p>{ASK}</p>{container}<p>old words</p></div>")
    assert before == ASK
    assert "old words" in history


def test_an_indented_paragraph_is_the_writers_own_words() -> None:
    indent = '<blockquote style="margin:0 0 0 40px;border:none;padding:0px">'
    html = f"<div>{ASK}</div>{indent}<div>Card ending 4417.</div></blockquote><div>Thanks</div>"
    assert html_to_text_split(html) == (f"{ASK}\nCard ending 4417.\nThanks", "")
    quote = '<blockquote style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">'
    assert html_to_text_split(f"<div>{ASK}</div>{quote}old words</blockquote>")[0] == (
        f"{ASK}\n> old words"
    )


@pytest.mark.parametrize(
    "hostile",
    [
        "-" * 100_000,
        "-" * 100_000 + " original",
        "From" + " " * 100_000 + "x:",
        "From" + " *" * 50_000 + "x:",
        "2026/11/24 " + "x" * 100_000 + ">\n> q",
        "| " * 50_000 + "x",
        "=" * 100_000,
    ],
    ids=["dashes", "dashes-word", "field-spaces", "field-stars", "dated", "pipes", "equals"],
)
def test_long_runs_in_one_line_are_read_in_linear_time(hostile: str) -> None:
    """Each of these took seconds to minutes (a quadratic regular expression) before; a
    regression shows as a hung test, never as a timing assertion."""
    new, _quoted = split_reply(f"{ASK}\n\n{hostile}")
    assert new.startswith(ASK)
    assert forwarded_origin(hostile) is None


def test_more_separators_and_verbs_talon_knows() -> None:
    for line in (
        "2026년 11월 24일 (화) 오후 3:00, Desk <d@okwallet.example>님이 작성하였습니다:",
        "----- Antwort Nachricht -----",
    ):
        assert split_reply(f"{ASK}\n\n{line}\n> old words")[0] == ASK
    forward = f"{ASK}\n\nAnfang der weitergeleiteten E-Mail:\n\nVon: Bank <b@bank.example>\n\nalt"
    assert split_reply(forward)[0] == ASK


def test_chinese_gmail_name_wrapped_above_yu_is_part_of_the_attribution() -> None:
    head, tail = "OK钱包客服 <d@okwallet.example>", "于2026年11月24日周二 下午3:00写道："
    assert split_reply(f"{ASK}\n\n{head}\n{tail}\n\n> 旧邮件") == (
        ASK,
        f"{head}\n{tail}\n\n> 旧邮件",
    )
    sentence = "我已经等了三天。"  # a sentence above is the customer's, not the name
    assert split_reply(f"{sentence}\n{tail}\n\n> 旧邮件")[0] == sentence


def test_a_from_line_wrapped_before_its_address_still_starts_a_block() -> None:
    block = (
        "From: OK Wallet Customer Support Team for Refunds and Disputes\n<d@okwallet.example>\n"
        "Sent: Tuesday, November 24, 2026 3:00 PM\nTo: Alan\nSubject: RE: Transfer"
    )
    assert split_reply(f"{ASK}\n\n{block}\n\nold words") == (ASK, f"{block}\n\nold words")


def test_thunderbird_french_forward_fields() -> None:
    text = (
        "-------- Message transféré --------\nSujet : Rejet de virement\n"
        "Date : Mon, 23 Nov 2026 10:00:00 +0100\nDe : Banque <info@banque.example>\n"
        "Pour : paul@orange.example\n\nVotre virement a été rejeté.\n"
    )
    assert split_reply(text)[0] == "Votre virement a été rejeté."
    origin = forwarded_origin(text)
    assert origin is not None
    assert (origin.address, origin.subject) == ("info@banque.example", "Rejet de virement")
