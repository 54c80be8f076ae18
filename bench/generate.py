"""Seeded generator of realistic complaint mail for a Chinese digital wallet (OK钱包).

Why hand-built MIME instead of `email.message.EmailMessage`: real clients label GBK bytes as
`gb2312`, put GB18030 and Big5 into encoded words, paste screenshots as `multipart/related`
parts, quote history in their own styles and sometimes send raw 8-bit headers. The stdlib
composer would normalise all of that away, and the benchmark would measure a gentler inbox than
a desk gets.

Library: `corpus(count, seed)` yields `GeneratedMail`s (raw bytes plus what they are);
`mails(count, seed)` yields only the bytes. The same seed gives the same bytes, always.

Command: `python bench/generate.py --count 500 [--out DIR]` writes `.eml` files (to a new
temporary folder unless `--out` is given); `--imap HOST:PORT --user U --password-env VAR`
APPENDs them to a mailbox instead; `--stats` prints what the corpus is made of.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import imaplib
import os
import quopri
import random
import statistics
import struct
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

DEFAULT_SEED = 20261124
DESK_ADDRESS = "complaints@okwallet.example"
DESK_NAME = "OK钱包客服中心"
TICKET_PREFIX = "OKW"
CST = timezone(timedelta(hours=8))
# The payment outage this inbox is flooded by starts here.
BURST_START = datetime(2026, 11, 24, 15, 30, tzinfo=CST)
CRLF = b"\r\n"

# Shares of the corpus; the rest are new complaints.
REPLY_SHARE = 0.20
AUTOREPLY_SHARE = 0.02
BOUNCE_SHARE = 0.01
ATTACHMENT_SHARE = 0.10
ENGLISH_SHARE = 0.20
# Chinese mail by charset label: (label, Python codec, traditional text?).
CHINESE_CHARSETS = (
    (("utf-8", "utf-8", False), 42),
    (("gb2312", "gbk", False), 25),  # the label lies: GBK bytes, GBK-only characters included
    (("gb18030", "gb18030", False), 15),
    (("gbk", "gbk", False), 5),
    (("big5", "big5", True), 13),
)
CATEGORIES = (("topup", 40), ("withdrawal", 25), ("locked", 20), ("other", 15))


@dataclass(frozen=True)
class GeneratedMail:
    index: int
    kind: str  # complaint | reply | autoreply | bounce
    category: str  # topup | withdrawal | locked | other | "" (bounces)
    language: str  # zh | zh-Hant | en
    charset: str  # the label the body carries
    message_id: str
    sender: str
    subject: str
    attachment: str  # "" | "png" | "jpeg", attached or pasted inline
    raw: bytes = field(repr=False)


@dataclass
class _Customer:
    name: str
    address: str
    phone: str
    client: str
    charset: tuple[str, str, bool]  # label, codec, traditional
    language: str


@dataclass
class _Sent:
    """What a later reply needs to know about an earlier mail."""

    customer: _Customer
    message_id: str
    references: list[str]
    subject: str
    text: str
    date: datetime
    category: str


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# --- people ----------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾"
    "肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = _words(
    "伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 "
    "桂英 建华 文 晓东 思远 雨萱 子涵 浩然 "
    "欣怡 梓轩 俊杰 佳怡 宇航 诗琪"
)
# Not in GB2312, only in GBK/GB18030: what breaks a decoder that trusts a `gb2312` label.
GBK_ONLY_GIVEN = _words("喆 堃 镕 赟 玥 珺 昇 淏 犇 璟 祎 翀 旻 子喆 嘉堃 梓玥")
TRAD_SURNAMES = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾"
TRAD_GIVEN = _words("志明 淑芬 雅婷 家豪 怡君 俊傑 美玲 冠宇 詩涵 建宏 宗翰 佩珊")
PINYIN = _words(
    "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he "
    "lin luo gao zheng xiaoming wei fang jing lei jun yang yong tao chao "
    "xia ping gang wenjie haoran yuxuan"
)
EN_FIRST = _words("James Mary David Sarah Michael Linda Kevin Emily Daniel Grace Wei Jun Mei Tom")
EN_LAST = _words("Smith Chen Wong Lee Brown Nguyen Taylor Kumar Garcia Müller Tan Lim Ho")
CN_DOMAINS = ("qq.example", "163.example", "126.example", "foxmail.example", "sina.example")
TW_DOMAINS = ("yahoo-tw.example", "hinet.example", "netvigator.example", "gmail.example")
EN_DOMAINS = ("gmail.example", "outlook.example", "hotmail.example", "icloud.example")
BANKS = ("工商银行", "建设银行", "招商银行", "农业银行", "中国银行", "交通银行", "邮储银行")
TRAD_BANKS = ("中國信託", "國泰世華", "台新銀行", "匯豐銀行", "中國銀行(香港)")
EN_BANKS = ("UnionPay debit card", "ICBC card", "China Merchants Bank", "HSBC", "Visa card")

# --- what they write -------------------------------------------------------------------------

ZH_SUBJECTS = {
    "topup": (
        "充值{amount}元一直没到账",
        "充值不到账！！",
        "钱包充值扣款成功但余额未增加",
        "【紧急】充值未到账 交易单号{tx}",
        "充值的钱去哪了？",
        "投诉：充值{amount}元不到账",
    ),
    "withdrawal": (
        "提现{days}天了还没到账",
        "提现延迟",
        "提现一直显示处理中",
        "提现{amount}元迟迟不到账，请处理",
        "投诉提现到账太慢",
    ),
    "locked": (
        "账户被锁定无法登录",
        "账号被冻结了怎么办",
        "为什么冻结我的账户？",
        "登录提示账户异常已被锁定",
        "账户冻结，里面还有{amount}元",
    ),
    "other": (
        "手续费怎么收的？",
        "实名认证一直失败",
        "优惠券没有返还",
        "客服电话一直打不通",
        "关于交易记录的疑问",
    ),
}
ZH_INTROS = {
    "topup": (
        "我于{when}通过{bank}储蓄卡向OK钱包充值{amount}元，银行卡已经扣款，但是钱包余额一直没有变化。",
        "{when}在APP里用{bank}充值了{amount}元，银行短信显示扣款成功，可是钱包里到现在都没有到账。",
        "今天下午充值{amount}元，支付成功页面也显示了，但余额还是原来的数字，交易记录里显示“处理中”。",
    ),
    "withdrawal": (
        "我在{when}申请提现{amount}元到{bank}尾号{last4}的银行卡，到现在已经{days}天了还没有到账。",
        "{when}提现{amount}元，APP显示“银行处理中”，说好的两小时到账，现在{days}天了钱还没到。",
        "提现{amount}元一直显示处理中，银行那边说没有收到任何入账记录。",
    ),
    "locked": (
        "我的账户（手机号{phone}）今天登录时提示“账户存在风险已被冻结”，没有任何提前通知。",
        "{when}我正常登录钱包，突然提示账户被锁定，需要联系客服解锁，里面还有{amount}元余额。",
        "账户无缘无故被冻结了，我没有做过任何违规操作，余额{amount}元现在也用不了。",
    ),
    "other": (
        "我想问一下，为什么我提现{amount}元被收了手续费？之前说的是免费的。",
        "我的实名认证已经提交了三次都失败，提示“身份信息不一致”，可是我填的信息都是对的。",
        "上周参加活动领的优惠券，订单退款以后优惠券没有退回来。",
    ),
}
ZH_DETAILS = {
    "topup": (
        "由于这笔钱是我这个月的生活费，现在非常着急，希望你们尽快核实处理。",
        "我已经联系过银行，银行说钱已经划给你们公司了，让我找你们。",
        "在APP里点“联系客服”只有机器人回复，一直转不到人工，所以只能发邮件。",
        "我看了网上很多人今天下午都遇到同样的问题，是不是你们系统出故障了？",
        "请你们查一下这笔钱到底在哪里，如果到不了账请原路退回。",
        "附件是银行扣款短信和APP充值记录的截图，请查收。",
        "我之前充值从来没有出现过这种情况，一般几秒钟就到账了。",
    ),
    "withdrawal": (
        "提现页面写的是“预计2小时内到账”，现在已经远远超过了。",
        "我打了客服热线95xxx，排队四十多分钟也没人接。",
        "这笔钱我要用来交房租，明天就到期了，请务必今天处理。",
        "银行卡信息我核对过了，卡号、姓名都没有问题。",
        "如果是银行的问题，请给我一个银行那边的流水号，我自己去查。",
        "我身边的朋友提现也都延迟了，你们是不是资金出了问题？",
    ),
    "locked": (
        "我没有更换过手机，也没有在别的地方登录过，不知道为什么会被认为有风险。",
        "按照APP提示上传了身份证正反面和手持照片，已经两天了还是没有解锁。",
        "账户里还有几笔待收款，冻结以后别人转给我的钱也收不到了。",
        "请告诉我具体是什么原因被冻结，需要我提供什么材料。",
        "我是你们的老用户了，用了五年从来没出过问题。",
    ),
    "other": (
        "你们的收费标准页面写得不清楚，希望能给个明确的说法。",
        "我试过换网络、重新安装APP，问题都一样。",
        "希望客服能给我回个电话，邮件沟通太慢了。",
        "如果是系统的问题，麻烦修复以后通知我一下。",
    ),
}
ZH_CONTEXT = (
    "我是做小生意的，平时收款都用OK钱包，这几天的流水都在里面。",
    "我是一名外卖骑手，工资每周结算到这个钱包里。",
    "我在外地出差，身上没有带其他银行卡，现在吃饭住宿都成问题。",
    "家里老人看病急用这笔钱，请你们理解一下我的心情。",
    "我已经在APP里提交过工单，工单号一直显示“待处理”，没有任何进展。",
    "之前在微博上看到你们说系统升级，可是升级公告里没有说会影响到账。",
)
ZH_ESCALATIONS = (
    "如果今天还不处理，我将向12315和中国人民银行投诉。",
    "请尽快处理，谢谢！",
    "这已经是我第三次联系你们了，希望这次能有人认真处理。",
    "再不解决我就去黑猫投诉和微博曝光了。",
    "麻烦给一个明确的处理时间。",
)
ZH_GREETINGS = ("您好，", "你好！", "客服你好：", "OK钱包客服您好，", "在吗？", "尊敬的客服：")
ZH_CLOSINGS = ("谢谢！", "盼复。", "麻烦尽快回复。", "急！！！", "谢谢你们。")
ZH_FOOTERS = ("发自我的iPhone", "来自网易邮箱大师", "发自我的华为手机", "", "", "")
ZH_REPLY_LINES = (
    "补充一下：交易单号是{tx}，金额{amount}元，时间{when}。",
    "我刚才又看了一下，还是没有到账，请问处理得怎么样了？",
    "附件是银行的扣款截图，请查收。",
    "你们说的三个工作日已经过了，怎么还没有结果？",
    "我的手机号是{phone}，可以直接打电话联系我。",
    "已经按要求提供了资料，请尽快处理。",
)

TRAD_SUBJECTS = {
    "topup": ("儲值{amount}元未入帳", "儲值失敗但已扣款", "錢包儲值沒有到帳"),
    "withdrawal": ("提領延遲", "提領{days}天仍未入帳", "提現一直顯示處理中"),
    "locked": ("帳戶被鎖定", "帳號遭凍結無法登入", "為什麼凍結我的帳戶"),
    "other": ("手續費問題", "實名認證一直失敗", "客服電話打不通"),
}
TRAD_INTROS = {
    "topup": (
        "我在{when}用{bank}信用卡儲值了{amount}元，銀行已經扣款，但是錢包餘額沒有變化。",
        "今天儲值{amount}元，付款成功頁面有顯示，可是餘額一直沒有增加。",
    ),
    "withdrawal": (
        "我在{when}申請提領{amount}元到{bank}帳戶，已經{days}天了還沒有入帳。",
        "提領{amount}元一直顯示處理中，銀行說沒有收到任何款項。",
    ),
    "locked": (
        "我的帳戶（手機{phone}）今天登入時顯示「帳戶異常已被鎖定」，事前沒有任何通知。",
        "帳戶突然被凍結，裡面還有{amount}元餘額，現在完全不能使用。",
    ),
    "other": (
        "請問為什麼我提領{amount}元被收取手續費？之前說明是免費的。",
        "實名認證已經送出三次都失敗，顯示「身分資料不一致」。",
    ),
}
TRAD_DETAILS = (
    "這筆錢是我這個月的生活費，非常著急，請儘快處理。",
    "我已經聯絡過銀行，銀行說款項已經轉給貴公司了。",
    "APP裡的線上客服只有機器人回覆，一直轉不到真人。",
    "附件是銀行扣款簡訊和APP紀錄的截圖，請查收。",
    "如果無法入帳，請原路退款。",
    "我是香港用戶，打客服電話要付國際長途費。",
)
TRAD_GREETINGS = ("您好，", "客服您好：", "你好，")
TRAD_CLOSINGS = ("謝謝！", "盼覆。", "麻煩儘快回覆。")
TRAD_FOOTERS = ("從我的 iPhone 傳送", "", "")

EN_SUBJECTS = {
    "topup": (
        "Top-up not credited",
        "Top up of {amount} CNY missing from my balance",
        "URGENT: money taken from my card but wallet not topped up ({tx})",
    ),
    "withdrawal": (
        "Withdrawal delayed",
        "Withdrawal pending for {days} days",
        "Where is my withdrawal of {amount} CNY?",
    ),
    "locked": ("Account locked", "My account has been frozen", "Cannot log in - account blocked"),
    "other": ("Question about fees", "Cannot verify my identity", "Coupon not refunded"),
}
EN_INTROS = {
    "topup": (
        "I topped up {amount} CNY to my OK Wallet on {when} with my {bank}. The money has left "
        "my bank account but my wallet balance has not changed.",
        "This afternoon I added {amount} CNY to my wallet. The payment page said it succeeded, "
        "yet the transaction has been 'processing' ever since.",
    ),
    "withdrawal": (
        "On {when} I withdrew {amount} CNY to my {bank} ending {last4}. It has been {days} days "
        "and nothing has arrived.",
        "My withdrawal of {amount} CNY still shows 'bank processing'. The app promised two hours.",
    ),
    "locked": (
        "When I tried to log in today (phone {phone}) the app said my account is locked for "
        "security reasons. I was given no warning.",
        "My account was frozen without explanation, with {amount} CNY still in it.",
    ),
    "other": (
        "Why was I charged a fee on my withdrawal of {amount} CNY? Your website says it is free.",
        "My identity verification has failed three times with 'information does not match'.",
    ),
}
EN_DETAILS = (
    "I need this money to pay my rent tomorrow, so please treat this as urgent.",
    "My bank says the payment was completed on their side and that I should contact you.",
    "The in-app chat only gives me a bot and your hotline has a 40 minute queue.",
    "I attached a screenshot of the transaction in the app and of my bank statement.",
    "If the money cannot be credited, please refund it to my card.",
    "Several people on social media report the same problem today. Is your system down?",
    "I have been a customer for five years and never had a problem before.",
)
EN_GREETINGS = ("Hello,", "Hi,", "Dear OK Wallet support,", "To whom it may concern,")
EN_CLOSINGS = ("Thanks,", "Regards,", "Best regards,", "Thank you,")
EN_FOOTERS = ("Sent from my iPhone", "Get Outlook for Android", "", "")
EN_REPLY_LINES = (
    "To add to my earlier mail: the transaction id is {tx}, amount {amount} CNY, at {when}.",
    "It is still not resolved. Any news?",
    "Screenshot attached.",
    "Your three working days are over. When will this be fixed?",
)

CLIENTS = {
    # client: (x-mailer, html alternative?, text transfer encoding)
    "qq": ("", True, "base64"),
    "foxmail": ("Foxmail 7.2.25.375[cn]", True, "base64"),
    "163": ("Coremail Webmail Server Version XT5.0.14 build 20230109(dcb5de15)", True, "base64"),
    "iphone": ("iPhone Mail (20H240)", False, "base64"),
    "outlook": ("Microsoft Outlook 16.0", True, "quoted-printable"),
    "gmail": ("", True, "quoted-printable"),
    "android": ("", False, "8bit"),
}


# --- small builders --------------------------------------------------------------------------


def _weighted(rng: random.Random, table: tuple) -> object:
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights=weights)[0]


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"


def _tx(rng: random.Random, when: datetime) -> str:
    """Transaction ids like TX2026112415300001: minute of the transaction plus a sequence."""
    return f"TX{when:%Y%m%d%H%M}{rng.randint(1, 9999):04d}"


def _amount(rng: random.Random) -> str:
    value = rng.choice((50, 100, 200, 300, 500, 800, 1000, 1280, 2000, 3000, 5000, 12800))
    return f"{value}.00" if rng.random() < 0.3 else str(value)


def _facts(rng: random.Random, customer: _Customer, date: datetime) -> dict[str, str]:
    when = date - timedelta(minutes=rng.randint(5, 600))
    traditional = customer.charset[2]
    bank = rng.choice(
        EN_BANKS if customer.language == "en" else TRAD_BANKS if traditional else BANKS
    )
    if customer.language == "en":
        when_text = f"{when:%d %b %Y} at {when:%H:%M}"
    else:
        when_text = f"{when.month}月{when.day}日{when:%H:%M}"
    return {
        "amount": _amount(rng),
        "tx": _tx(rng, when),
        "when": when_text,
        "bank": bank,
        "last4": f"{rng.randint(0, 9999):04d}",
        "days": str(rng.randint(2, 6)),
        "phone": customer.phone,
    }


def _customer(rng: random.Random) -> _Customer:
    if rng.random() < ENGLISH_SHARE:
        first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
        local = f"{first}.{last}".lower().replace("ü", "ue") + str(rng.randint(1, 999))
        client = rng.choice(("gmail", "outlook", "iphone"))
        return _Customer(
            f"{first} {last}",
            f"{local}@{rng.choice(EN_DOMAINS)}",
            _phone(rng),
            client,
            ("utf-8", "utf-8", False),
            "en",
        )
    charset = _weighted(rng, CHINESE_CHARSETS)
    label, _, traditional = charset
    if traditional:
        name = rng.choice(TRAD_SURNAMES) + rng.choice(TRAD_GIVEN)
        domain = rng.choice(TW_DOMAINS)
        client = rng.choice(("outlook", "iphone", "gmail"))
    else:
        gbk_name = label in ("gb2312", "gbk", "gb18030") and rng.random() < 0.5
        name = rng.choice(SURNAMES) + rng.choice(GBK_ONLY_GIVEN if gbk_name else GIVEN)
        domain = rng.choice(CN_DOMAINS)
        if label == "utf-8":
            client = rng.choice(("qq", "163", "iphone", "android", "outlook"))
        else:
            client = rng.choice(("qq", "foxmail", "163", "outlook"))
    if domain.startswith("qq") and rng.random() < 0.6:
        local = str(rng.randint(10_000_000, 3_999_999_999))  # a QQ number
    else:
        local = f"{rng.choice(PINYIN)}{rng.choice(PINYIN)}{rng.randint(1970, 2008)}"
    return _Customer(name, f"{local}@{domain}", _phone(rng), client, charset, "zh")


def _message_id(rng: random.Random, customer: _Customer, date: datetime) -> str:
    domain = customer.address.rpartition("@")[2]
    client = customer.client
    if client == "qq":
        return f"<tencent_{rng.getrandbits(128):032X}@{domain}>"
    if client == "foxmail":
        return f"<{date:%Y%m%d%H%M%S}{rng.randint(10**8, 10**9 - 1)}@{domain}>"
    if client == "163":
        return (
            f"<{rng.getrandbits(40):x}.{rng.randint(1000, 99999)}.{rng.getrandbits(48):x}@{domain}>"
        )
    if client == "gmail":
        token = base64.urlsafe_b64encode(rng.randbytes(30)).decode().rstrip("=")
        return f"<CA+{token}@mail.{domain}>"
    if client == "outlook":
        token = f"{rng.getrandbits(128):032X}"
        return f"<{token}@PS2PR01MB{rng.randint(1000, 9999)}.apcprd01.prod.{domain}>"
    uuid = f"{rng.getrandbits(128):032X}"
    return f"<{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}@{domain}>"


def _encoded_words(text: str, label: str, codec: str) -> str:
    """RFC 2047 words of at most ~75 characters, split between characters, never inside one."""
    if text.isascii():
        return text
    words, chunk = [], ""
    for char in text:
        if len((chunk + char).encode(codec)) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return "\r\n ".join(
        f"=?{label}?B?{base64.b64encode(w.encode(codec)).decode('ascii')}?=" for w in words
    )


def _address(name: str, address: str, label: str, codec: str) -> str:
    if name.isascii():
        return f'"{name}" <{address}>'
    return f"{_encoded_words(name, label, codec)} <{address}>"


Part = tuple[list[tuple[str, str]], bytes]


def _render(part: Part) -> bytes:
    headers, body = part
    lines = [f"{name}: {value}".encode() for name, value in headers]
    return CRLF.join(lines) + CRLF + CRLF + body


def _base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return CRLF.join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + CRLF


def _text_part(text: str, subtype: str, label: str, codec: str, cte: str) -> Part:
    data = text.replace("\n", "\r\n").encode(codec)
    if cte == "base64":
        body = _base64_lines(data)
    elif cte == "quoted-printable":
        body = quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(b"\n", CRLF)
    else:
        body = data + CRLF
        cte = "8bit" if not data.isascii() else "7bit"
    return (
        [
            ("Content-Type", f'text/{subtype}; charset="{label}"'),
            ("Content-Transfer-Encoding", cte),
        ],
        body,
    )


def _multipart(rng: random.Random, subtype: str, parts: list[Part], extra: str = "") -> Part:
    boundary = f"----=_NextPart_{rng.getrandbits(96):024X}"
    body = b"".join(b"--" + boundary.encode() + CRLF + _render(p) + CRLF for p in parts)
    body += b"--" + boundary.encode() + b"--" + CRLF
    return ([("Content-Type", f'multipart/{subtype};{extra}\r\n\tboundary="{boundary}"')], body)


def _png(rng: random.Random, size: int) -> bytes:
    """A valid PNG of about `size` bytes: noise does not compress, so the size is predictable."""
    width = rng.randint(160, 260)
    height = max(8, size // (width * 3 + 1))
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = binascii.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def _jpeg(rng: random.Random, size: int) -> bytes:
    """JPEG magic and JFIF header, an entropy-coded-looking body, and the end marker."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00"
    body = rng.randbytes(size).replace(b"\xff", b"\xfe")
    return b"\xff\xd8" + app0 + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + body + b"\xff\xd9"


def _image_part(rng: random.Random, customer: _Customer, date: datetime) -> tuple[Part, str, str]:
    """A 30-60 KB screenshot: attached with a (often Chinese) filename, or pasted inline."""
    kind = rng.choice(("png", "png", "jpeg"))
    size = rng.randint(30_000, 60_000)
    data = _png(rng, size) if kind == "png" else _jpeg(rng, size)
    if kind == "png":
        filename = rng.choice(
            ("截图.png", f"Screenshot_{date:%Y-%m-%d-%H-%M-%S}.png", "扣款记录.png")
        )
    else:
        filename = rng.choice(
            (f"微信图片_{date:%Y%m%d%H%M%S}.jpg", f"IMG_{rng.randint(1000, 9999)}.JPG")
        )
    content_id = ""
    headers = [
        ("Content-Type", f'image/{kind}; name="{_encoded_words(filename, "utf-8", "utf-8")}"')
    ]
    headers.append(("Content-Transfer-Encoding", "base64"))
    if customer.client in ("foxmail", "qq") and rng.random() < 0.5:
        content_id = f"{rng.getrandbits(64):016x}$1$@{customer.address.rpartition('@')[2]}"
        headers.append(("Content-ID", f"<{content_id}>"))
        headers.append(("Content-Disposition", "inline"))
    elif filename.isascii():
        headers.append(("Content-Disposition", f'attachment; filename="{filename}"'))
    else:
        headers.append(("Content-Disposition", f"attachment; filename*=utf-8''{quote(filename)}"))
    return (headers, _base64_lines(data)), kind, content_id


def _html(text: str, label: str, content_id: str = "", quoted: str = "") -> str:
    font = "微軟正黑體,Microsoft JhengHei" if label == "big5" else "微软雅黑,Microsoft YaHei"

    def paragraphs(block: str) -> str:
        escaped = block.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        style = "font-family:" + font  # on every line, as QQ Mail does
        return "".join(
            f'<div style="{style}"><span>{line or "<br>"}</span></div>'
            for line in escaped.split("\n")
        )

    image = f'<div><img src="cid:{content_id}"></div>' if content_id else ""
    history = (
        '<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">'
        f"{paragraphs(quoted)}</blockquote>"
        if quoted
        else ""
    )
    return (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={label}">'
        f'</head><body><div style="font-family:{font};font-size:14px;color:#000000">'
        f"{paragraphs(text)}{image}</div>{history}</body></html>"
    )


def _received(rng: random.Random, customer: _Customer, date: datetime) -> list[tuple[str, str]]:
    domain = customer.address.rpartition("@")[2]
    hops = []
    moment = date + timedelta(seconds=rng.randint(1, 4))
    for hop in range(rng.randint(2, 4)):
        ip = ".".join(
            str(rng.randint(low, high)) for low, high in ((11, 223), (0, 255), (0, 255), (1, 254))
        )
        stamp = format_datetime(moment + timedelta(seconds=hop))
        hops.append(
            (
                "Received",
                f"from smtp{rng.randint(1, 40)}.{domain} (unknown [{ip}])\r\n\tby "
                f"mx{hop + 1}.okwallet.example (Postfix) with ESMTPS id "
                f"{rng.getrandbits(40):010X}\r\n\tfor <{DESK_ADDRESS}>; {stamp}",
            )
        )
    return hops


def _dkim(rng: random.Random, customer: _Customer) -> tuple[str, str]:
    domain = customer.address.rpartition("@")[2]
    signature = base64.b64encode(rng.randbytes(128)).decode()
    body_hash = base64.b64encode(rng.randbytes(32)).decode()
    return (
        "DKIM-Signature",
        f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s201512; t=1764000000;\r\n\t"
        f"bh={body_hash};\r\n\th=Date:From:To:Subject:Message-ID:MIME-Version;\r\n\t"
        f"b={signature[:70]}\r\n\t {signature[70:]}",
    )


# --- the mails -------------------------------------------------------------------------------


def _fill(template: str, facts: dict[str, str]) -> str:
    return template.format(**facts)


def complaint_text(rng: random.Random, category: str, language: str, facts: dict[str, str]) -> str:
    """The customer's own words: greeting, what happened, details, escalation, closing.

    Also used by `run.py` to give pre-filled tickets realistic message texts.
    """
    if language == "en":
        parts = [rng.choice(EN_GREETINGS), "", _fill(rng.choice(EN_INTROS[category]), facts)]
        parts += rng.sample(EN_DETAILS, rng.randint(3, 6))
        parts += ["", f"Transaction id: {facts['tx']}", f"Amount: {facts['amount']} CNY"]
        parts += [f"Phone: {facts['phone']}", f"Time: {facts['when']}", ""]
        parts += [rng.choice(EN_CLOSINGS)]
    elif language == "zh-Hant":
        parts = [rng.choice(TRAD_GREETINGS), "", _fill(rng.choice(TRAD_INTROS[category]), facts)]
        parts += rng.sample(TRAD_DETAILS, rng.randint(3, 5))
        parts += ["", f"交易編號：{facts['tx']}", f"金額：{facts['amount']}元"]
        parts += [
            f"手機：{facts['phone']}",
            f"時間：{facts['when']}",
            "",
            rng.choice(TRAD_CLOSINGS),
        ]
    else:
        parts = [rng.choice(ZH_GREETINGS), "", _fill(rng.choice(ZH_INTROS[category]), facts)]
        parts += rng.sample(ZH_CONTEXT, rng.randint(1, 2))
        parts += rng.sample(ZH_DETAILS[category], rng.randint(3, min(6, len(ZH_DETAILS[category]))))
        parts += ["", f"账号/手机号：{facts['phone']}", f"交易单号：{facts['tx']}"]
        parts += [f"金额：{facts['amount']}元", f"时间：{facts['when']}", ""]
        parts += [rng.choice(ZH_ESCALATIONS), rng.choice(ZH_CLOSINGS)]
    return "\n".join(parts)


def _subject(rng: random.Random, category: str, language: str, facts: dict[str, str]) -> str:
    table = (
        EN_SUBJECTS if language == "en" else TRAD_SUBJECTS if language == "zh-Hant" else ZH_SUBJECTS
    )
    return _fill(rng.choice(table[category]), facts)


def _language(customer: _Customer) -> str:
    return "en" if customer.language == "en" else "zh-Hant" if customer.charset[2] else "zh"


def _quote(rng: random.Random, earlier: _Sent, language: str) -> str:
    """The earlier mail below the new text, as the customer's client quotes it."""
    customer = earlier.customer
    if language == "en" or customer.client in ("gmail", "iphone"):
        stamp = f"{earlier.date:%a, %d %b %Y at %H:%M}"
        head = f"On {stamp}, {customer.name} <{customer.address}> wrote:"
        return (
            head
            + "\n"
            + "\n".join(f"> {line}" if line else ">" for line in earlier.text.split("\n"))
        )
    if language == "zh-Hant":
        head = (
            "-----原始郵件-----\n"
            f"寄件者: {customer.name} <{customer.address}>\n"
            f"寄件日期: {earlier.date:%Y/%m/%d %H:%M}\n"
            f"收件者: {DESK_ADDRESS}\n"
            f"主旨: {earlier.subject}\n"
        )
        return head + "\n" + earlier.text
    if customer.client in ("qq", "foxmail"):
        weekday = "一二三四五六日"[earlier.date.weekday()]
        head = (
            "------------------ 原始邮件 ------------------\n"
            f'发件人: "{customer.name}"<{customer.address}>;\n'
            f"发送时间: {earlier.date:%Y年%m月%d日}(星期{weekday}) {earlier.date:%H:%M}\n"
            f'收件人: "{DESK_NAME}"<{DESK_ADDRESS}>;\n'
            f"主题: {earlier.subject}\n"
        )
        return head + "\n" + earlier.text
    head = (
        "-----原始邮件-----\n"
        f"发件人: {customer.name} <{customer.address}>\n"
        f"发送时间: {earlier.date:%Y-%m-%d %H:%M}\n"
        f"收件人: {DESK_ADDRESS}\n"
        f"主题: {earlier.subject}\n"
    )
    return head + "\n" + earlier.text


def _body_part(
    rng: random.Random,
    customer: _Customer,
    text: str,
    date: datetime,
    *,
    quoted: str = "",
    with_image: bool = False,
) -> tuple[Part, str]:
    label, codec, _ = customer.charset
    _, html, cte = CLIENTS[customer.client]
    if label != "utf-8" and cte == "8bit":
        cte = "base64"
    footers = EN_FOOTERS if customer.language == "en" else ZH_FOOTERS
    footer = rng.choice(TRAD_FOOTERS if customer.charset[2] else footers)
    signed = f"{text}\n\n{customer.name}" + (f"\n\n{footer}" if footer else "")
    plain = signed + (f"\n\n{quoted}" if quoted else "")
    image, image_kind, content_id = (None, "", "")
    if with_image:
        image, image_kind, content_id = _image_part(rng, customer, date)
    text_part = _text_part(plain, "plain", label, codec, cte)
    if not html:
        body = text_part
        if image is not None:
            body = _multipart(rng, "mixed", [text_part, image])
        return body, image_kind
    html_text = _html(signed, label, content_id if image is not None else "", quoted)
    html_part = _text_part(html_text, "html", label, codec, cte)
    if image is not None and content_id:  # pasted into the HTML: multipart/related
        related = _multipart(rng, "related", [html_part, image], ' type="text/html";')
        return _multipart(rng, "alternative", [text_part, related]), image_kind
    alternative = _multipart(rng, "alternative", [text_part, html_part])
    if image is not None:
        return _multipart(rng, "mixed", [alternative, image]), image_kind
    return alternative, image_kind


def _top_headers(
    rng: random.Random,
    customer: _Customer,
    subject: str,
    date: datetime,
    message_id: str,
    *,
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    extra: tuple[tuple[str, str], ...] = (),
) -> list[tuple[str, str]]:
    label, codec, _ = customer.charset
    headers = [("Return-Path", f"<{customer.address}>"), *_received(rng, customer, date)]
    if customer.client in ("qq", "gmail", "163", "outlook"):
        headers.append(_dkim(rng, customer))
    mailer = CLIENTS[customer.client][0]
    if rng.random() < 0.01 and label == "utf-8":
        encoded_subject = subject  # a raw 8-bit header: some webmails still send them
    else:
        encoded_subject = _encoded_words(subject, label, codec)
    headers += [
        ("From", _address(customer.name, customer.address, label, codec)),
        ("To", _address(DESK_NAME, DESK_ADDRESS, "utf-8", "utf-8")),
        ("Subject", encoded_subject),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
        ("MIME-Version", "1.0"),
    ]
    if in_reply_to:
        headers.append(("In-Reply-To", in_reply_to))
        headers.append(("References", "\r\n ".join((*references, in_reply_to)[-8:])))
    if mailer:
        headers.append(("X-Mailer", mailer))
    if customer.client == "qq":
        headers.append(("X-QQ-mid", f"xmsezb{rng.getrandbits(80):x}"))
    if customer.client == "outlook":
        headers.append(("Thread-Topic", _encoded_words(subject, label, codec)))
        headers.append(("Thread-Index", base64.b64encode(rng.randbytes(22)).decode()))
    headers += list(extra)
    return headers


def _assemble(headers: list[tuple[str, str]], body: Part) -> bytes:
    return _render((headers + body[0], body[1]))


def _bounce(rng: random.Random, index: int, date: datetime, customer: _Customer) -> GeneratedMail:
    """A DSN for one of our acknowledgements from before this corpus: it matches no ticket."""
    domain = customer.address.rpartition("@")[2]
    ticket = f"{TICKET_PREFIX}-2026-{rng.randint(1, 900000):06d}"
    ours = f"<{ticket}.ack.{rng.getrandbits(48):012x}@okwallet.example>"
    message_id = f"<{date:%Y%m%d%H%M%S}.{rng.getrandbits(40):X}@mx{rng.randint(1, 9)}.{domain}>"
    explanation = (
        f"This is the mail system at host mx1.{domain}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        f"<{customer.address}>: host mx.{domain} said: "
        "550 5.1.1 User unknown\n"
    )
    status = (
        f"Reporting-MTA: dns; mx1.{domain}\r\nArrival-Date: {format_datetime(date)}\r\n\r\n"
        f"Final-Recipient: rfc822; {customer.address}\r\nOriginal-Recipient: rfc822;"
        f"{customer.address}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 "
        f"5.1.1 <{customer.address}>: Recipient address rejected: User unknown\r\n"
    ).encode()
    original = (
        f"From: =?utf-8?B?{base64.b64encode(DESK_NAME.encode()).decode()}?= <{DESK_ADDRESS}>\r\n"
        f"To: <{customer.address}>\r\nSubject: [{ticket}] Re: =?utf-8?B?"
        f"{base64.b64encode('充值未到账'.encode()).decode()}?=\r\nMessage-ID: {ours}\r\n"
        f"Date: {format_datetime(date - timedelta(minutes=2))}\r\nAuto-Submitted: auto-replied\r\n"
    ).encode()
    report = _multipart(
        rng,
        "report",
        [
            _text_part(explanation, "plain", "us-ascii", "ascii", "7bit"),
            ([("Content-Type", "message/delivery-status")], status),
            ([("Content-Type", "text/rfc822-headers")], original),
        ],
        " report-type=delivery-status;",
    )
    headers = [
        ("Return-Path", "<>"),
        *_received(rng, customer, date),
        ("From", f"Mail Delivery System <MAILER-DAEMON@mx1.{domain}>"),
        ("To", f"<{DESK_ADDRESS}>"),
        ("Subject", "Undelivered Mail Returned to Sender"),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
        ("Auto-Submitted", "auto-replied"),
        ("MIME-Version", "1.0"),
    ]
    return GeneratedMail(
        index, "bounce", "", "en", "us-ascii", message_id, f"MAILER-DAEMON@mx1.{domain}",
        "Undelivered Mail Returned to Sender", "", _assemble(headers, report),
    )  # fmt: skip


def corpus(count: int, seed: int = DEFAULT_SEED) -> Iterator[GeneratedMail]:
    """`count` mails of a complaint burst, the same for the same seed."""
    rng = random.Random(seed)
    sent: list[_Sent] = []
    customers: list[_Customer] = []
    date = BURST_START
    for index in range(count):
        date += timedelta(seconds=rng.uniform(0.3, 3.0))
        roll = rng.random()
        if roll < BOUNCE_SHARE:
            yield _bounce(rng, index, date, _customer(rng))
            continue
        if sent and roll < BOUNCE_SHARE + AUTOREPLY_SHARE:
            yield _autoreply(rng, index, date, rng.choice(sent[-300:]))
            continue
        if sent and roll < BOUNCE_SHARE + AUTOREPLY_SHARE + REPLY_SHARE:
            mail, record = _reply(rng, index, date, rng.choice(sent[-300:]))
        else:
            # Some people write twice about the same trouble, from the same address.
            if customers and rng.random() < 0.05:
                customer = rng.choice(customers[-200:])
            else:
                customer = _customer(rng)
                customers.append(customer)
            mail, record = _complaint(rng, index, date, customer)
        sent.append(record)
        yield mail


def _complaint(
    rng: random.Random, index: int, date: datetime, customer: _Customer
) -> tuple[GeneratedMail, _Sent]:
    category = _weighted(rng, CATEGORIES)
    language = _language(customer)
    facts = _facts(rng, customer, date)
    subject = _subject(rng, category, language, facts)
    text = complaint_text(rng, category, language, facts)
    message_id = _message_id(rng, customer, date)
    with_image = rng.random() < ATTACHMENT_SHARE
    body, image = _body_part(rng, customer, text, date, with_image=with_image)
    headers = _top_headers(rng, customer, subject, date, message_id)
    raw = _assemble(headers, body)
    mail = GeneratedMail(
        index, "complaint", category, language, customer.charset[0], message_id,
        customer.address, subject, image, raw,
    )  # fmt: skip
    return mail, _Sent(customer, message_id, [], subject, text, date, category)


def _reply(
    rng: random.Random, index: int, date: datetime, earlier: _Sent
) -> tuple[GeneratedMail, _Sent]:
    customer = earlier.customer
    language = _language(customer)
    facts = _facts(rng, customer, date)
    if language == "en":
        prefix, lines = "Re: ", EN_REPLY_LINES
    else:
        prefix, lines = (
            ("回复：" if customer.client in ("qq", "foxmail") else "Re: "),
            ZH_REPLY_LINES,
        )
    subject = earlier.subject if earlier.subject.startswith(prefix) else prefix + earlier.subject
    text = "\n".join(_fill(line, facts) for line in rng.sample(lines, rng.randint(1, 3)))
    if language == "zh-Hant":  # keep Big5 mail encodable: traditional wording only
        text = rng.choice(TRAD_DETAILS) + "\n" + f"交易編號：{facts['tx']}"
    message_id = _message_id(rng, customer, date)
    with_image = rng.random() < ATTACHMENT_SHARE
    quoted = _quote(rng, earlier, language)
    body, image = _body_part(rng, customer, text, date, quoted=quoted, with_image=with_image)
    references = (*earlier.references, earlier.message_id)
    headers = _top_headers(
        rng, customer, subject, date, message_id,
        in_reply_to=earlier.message_id, references=tuple(earlier.references),
    )  # fmt: skip
    mail = GeneratedMail(
        index, "reply", earlier.category, language, customer.charset[0], message_id,
        customer.address, subject, image, _assemble(headers, body),
    )  # fmt: skip
    record = _Sent(customer, message_id, list(references), subject, text, date, earlier.category)
    return mail, record


def _autoreply(rng: random.Random, index: int, date: datetime, earlier: _Sent) -> GeneratedMail:
    """An out-of-office answer to our acknowledgement of an earlier complaint."""
    customer = earlier.customer
    language = _language(customer)
    ticket = f"{TICKET_PREFIX}-{date.year}-{rng.randint(1, max(1, index)):06d}"
    if language == "en":
        subject = f"Automatic reply: [{ticket}] Re: {earlier.subject}"
        text = "I am out of the office until Monday with limited access to e-mail."
    elif language == "zh-Hant":
        subject = f"自動回覆: [{ticket}] Re: {earlier.subject}"
        text = "您好，我目前休假中，將於下週一回覆您的郵件。"
    else:
        subject = f"自动回复: [{ticket}] Re: {earlier.subject}"
        text = "您好，您的邮件我已收到，我现在休假中，回来后会尽快给您回复。"
    message_id = _message_id(rng, customer, date)
    ours = f"<{ticket}.ack.{rng.getrandbits(48):012x}@okwallet.example>"
    headers = _top_headers(
        rng, customer, subject, date, message_id, in_reply_to=ours,
        extra=(("Auto-Submitted", "auto-replied"), ("X-Autoreply", "yes"),
               ("Precedence", "auto_reply")),
    )  # fmt: skip
    label, codec, _ = customer.charset
    body = _text_part(text, "plain", label, codec, "base64")
    return GeneratedMail(
        index, "autoreply", earlier.category, language, label, message_id, customer.address,
        subject, "", _assemble(headers, body),
    )  # fmt: skip


def mails(count: int, seed: int = DEFAULT_SEED) -> Iterator[bytes]:
    """Only the raw bytes, for code that needs nothing else."""
    return (mail.raw for mail in corpus(count, seed))


# --- the command -----------------------------------------------------------------------------


def append_all(
    host: str, port: int, user: str, password: str, raws: list[bytes], folder: str = "INBOX"
) -> None:
    """APPEND every mail over one connection (plain imaplib: no mailticket code involved)."""
    client = imaplib.IMAP4(host, port, timeout=60)
    try:
        client.login(user, password)
        for raw in raws:
            typ, data = client.append(f'"{folder}"', None, None, raw)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"APPEND failed: {data!r}")
        client.logout()
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


def stats(generated: list[GeneratedMail]) -> str:
    sizes = sorted(len(m.raw) for m in generated)
    quartiles = statistics.quantiles(sizes, n=4) if len(sizes) > 1 else [sizes[0]] * 3
    lines = [
        f"mails        {len(generated)}",
        f"kinds        {dict(Counter(m.kind for m in generated).most_common())}",
        f"languages    {dict(Counter(m.language for m in generated).most_common())}",
        f"charsets     {dict(Counter(m.charset for m in generated).most_common())}",
        f"categories   {dict(Counter(m.category or '-' for m in generated).most_common())}",
        f"screenshots  {sum(1 for m in generated if m.attachment)}",
        f"size bytes   min {sizes[0]}, q1 {quartiles[0]:.0f}, median {quartiles[1]:.0f}, "
        f"q3 {quartiles[2]:.0f}, max {sizes[-1]}, total {sum(sizes)}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="how many mails (default 200)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", help="folder for the .eml files (default: a new temp folder)")
    parser.add_argument("--imap", metavar="HOST:PORT", help="APPEND to this IMAP server instead")
    parser.add_argument("--user", help="IMAP user")
    parser.add_argument("--password-env", default="BENCH_IMAP_PASSWORD", help="variable to read")
    parser.add_argument("--folder", default="INBOX")
    parser.add_argument("--stats", action="store_true", help="print what the corpus is made of")
    args = parser.parse_args(argv)
    generated = list(corpus(args.count, args.seed))
    if args.imap:
        host, _, port = args.imap.rpartition(":")
        password = os.environ.get(args.password_env)
        if not args.user or password is None:
            parser.error(f"--imap needs --user and the password in ${args.password_env}")
        append_all(host, int(port), args.user, password, [m.raw for m in generated], args.folder)
        print(f"appended {len(generated)} mails to {args.folder} at {args.imap}")
    else:
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mt-mails-"))
        out.mkdir(parents=True, exist_ok=True)
        for mail in generated:
            (out / f"{mail.index:06d}-{mail.kind}.eml").write_bytes(mail.raw)
        print(f"wrote {len(generated)} mails to {out}")
    if args.stats:
        print(stats(generated))
    return 0


if __name__ == "__main__":
    sys.exit(main())
