"""Guards on what customers write: secrets are cut out before anything is stored, and abusive or
threatening words are flagged for agents (never acted on automatically).

A customer who sends a password, payment PIN, SMS code, CVV or full card number to a complaint
desk is trying to help; we keep the secret out of the store and of every mail to agents, and the
reply tells them never to send it. The value is replaced, the words around it are kept, so agents
still see what the customer meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mailticket.completeness.text import fold_width, ignorecase_key
from mailticket.model import InboundMail

REDACTED = "[redacted]"

# Kind of secret -> how the reply names it, in Chinese and English.
SECRET_NAMES: dict[str, tuple[str, str]] = {
    "password": ("登录密码", "login password"),
    "payment_pin": ("支付密码", "payment PIN"),
    "sms_code": ("短信验证码", "SMS verification code"),
    "cvv": ("卡片安全码（CVV）", "card security code (CVV)"),
    "card_number": ("完整卡号", "full bank card number"),
}

# Never two `\s*` with only optional words between them: on a run of spaces that makes the
# engine try every split of the run (cubic with three); `\s*(?:word\s*)?` means the same.
_SAY = r"\s*(?:(?:是|为|:|=|is|was)\s*)?"
# Order matters: a payment PIN is also a "密码", and must be named as the PIN.
_SECRETS = (
    (
        "payment_pin",
        re.compile(
            rf"(?:支付密码|交易密码|提现密码|PIN(?:\s*(?:码|code|number))?){_SAY}(\d{{4,8}})(?!\d)",
            re.IGNORECASE,
        ),
    ),
    (
        "sms_code",
        re.compile(
            rf"(?:短信验证码|验证码|动态码|校验码|verification\s+code|SMS\s+code|OTP"
            rf"|one[-\s]time\s+(?:pass)?code){_SAY}(\d{{4,8}})(?!\d)",
            re.IGNORECASE,
        ),
    ),
    (
        "cvv",
        re.compile(
            rf"(?:CVV2?|CVC2?|CVN|安全码|卡背面的?三位数?){_SAY}(\d{{3,4}})(?!\d)", re.IGNORECASE
        ),
    ),
    (
        "password",
        re.compile(
            r"(?:(?:登录密码|登陆密码|密码)(?:\s*(?:是|为|:|=))?"
            r"|(?:password|passcode|pwd)(?:\s*[:=]|\s+(?:is|was)))"
            r"\s*(?!\[)([!-~]{4,64})",
            re.IGNORECASE,
        ),
    ),
)
_TRAILING = ",;"  # after a password: the sentence's, not the password's
# 13-19 digits in groups of up to 4; only Luhn-valid ones are cards.
_CARD = re.compile(r"(?<![0-9A-Za-z+])(\d(?:[ -]?\d){12,18})(?![0-9A-Za-z])")
# Issuer prefixes: Visa, Mastercard, Amex/JCB/Diners, UnionPay and Discover.
_CARD_PREFIX = re.compile(r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[04-8]|6")
_MOBILE_DIGITS = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
# A number labelled as an order or transaction number is one, however its digits add up.
_NOT_A_CARD = re.compile(
    r"(单号|订单|流水|交易号|order|transaction|reference|ref)[^\n]{0,6}$", re.IGNORECASE
)

_ABUSE = re.compile(
    r"傻逼|傻[bB]|煞笔|沙雕|操你|草泥马|他妈的|你妈的|去死|滚蛋|王八蛋|混蛋|狗日的?|贱人|废物"
    r"|杀了你|弄死你|砍死|炸了你们|炸掉你们|烧了你们"
    r"|(?<![a-z])(?:fuck(?:ing|ed|er|ers|s)?|shit(?:ty|s)?|bastards?|idiots?|morons?|assholes?"
    r"|bitch(?:es)?|scumbags?"
    r"|kill (?:you|all of you)|bomb your|burn (?:you|your \w+) down)(?![a-z])",
    re.IGNORECASE,
)

# Words without which the pattern of a kind of secret, or `_ABUSE`, cannot match, looked for in
# the text's `ignorecase_key`: most mails name no secret and insult nobody, and a search for a
# few plain words is many times faster than those case-insensitive patterns.
_SECRET_WORDS = {
    "payment_pin": re.compile("密码|pin"),
    "sms_code": re.compile("验证码|动态码|校验码|verification|sms|otp|one"),
    "cvv": re.compile("cvv|cvc|cvn|安全码|卡背面"),
    "password": re.compile("密码|pass|pwd"),
}
_ANY_SECRET_WORD = re.compile("|".join(words.pattern for words in _SECRET_WORDS.values()))
_ABUSE_WORDS = re.compile(
    "傻|煞笔|沙雕|操你|草泥马|他妈的|你妈的|去死|滚蛋|王八蛋|混蛋|狗日|贱人|废物"
    "|杀了你|弄死你|砍死|炸了你们|炸掉你们|烧了你们"
    "|fuck|shit|bastard|idiot|moron|asshole|bitch|scumbag|kill |bomb your|burn you"
)


@dataclass(frozen=True)
class Redaction:
    text: str
    kinds: tuple[str, ...]  # which kinds of secret were cut out, in the order of SECRET_NAMES


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return (
        bool(_CARD_PREFIX.match(digits))
        and not _MOBILE_DIGITS.fullmatch(digits)
        and luhn_valid(digits)
    )


def redact(text: str) -> Redaction:
    """`text` with every secret value replaced; a card keeps its last four digits. Linear in
    the text however many secrets it holds: each kind's spans are merged into the sorted cuts
    in one pass, a card's label is looked for only just before it, the result joined once."""
    folded = fold_width(text)  # same length: spans found here cut the original
    key = ignorecase_key(folded)
    cuts: list[_Cut] = []
    for kind, pattern in _SECRETS if _ANY_SECRET_WORD.search(key) else ():
        if _SECRET_WORDS[kind].search(key):
            cuts = _merge(
                cuts, [_secret_cut(text, match, kind) for match in pattern.finditer(folded)]
            )
    cards = []
    for match in _CARD.finditer(folded):
        digits = re.sub(r"\D", "", match.group(1))
        label = folded[max(0, match.start() - _LABEL_REACH) : match.start()]
        if _is_card(digits) and not _NOT_A_CARD.search(label):
            cards.append((match.start(), match.end(), "card_number", f"[card ****{digits[-4:]}]"))
    cuts = _merge(cuts, cards)
    pieces: list[str] = []
    done = 0
    for start, end, _, replacement in cuts:
        pieces += (text[done:start], replacement)
        done = end
    pieces.append(text[done:])
    found = {kind for _, _, kind, _ in cuts}
    return Redaction("".join(pieces), tuple(k for k in SECRET_NAMES if k in found))


_Cut = tuple[int, int, str, str]  # start, end, kind, replacement
# How far before a number `_NOT_A_CARD` can find its label: the longest label and its gap.
_LABEL_REACH = 32


def _secret_cut(text: str, match: re.Match[str], kind: str) -> _Cut:
    start, end = match.span(1)
    while end - start > 4 and (
        text[end - 1] in _TRAILING or not (text[end - 1].isascii() or text[end - 1].isalnum())
    ):
        end -= 1  # full-width punctuation ends a sentence; full-width digits count
    return start, end, kind, REDACTED


def _merge(kept: list[_Cut], new: list[_Cut]) -> list[_Cut]:
    """`kept` (sorted, non-overlapping) with each of `new` (sorted, non-overlapping) that
    overlaps none of it: a kind found earlier wins."""
    merged: list[_Cut] = []
    index = 0
    for cut in new:
        while index < len(kept) and kept[index][1] <= cut[0]:
            merged.append(kept[index])
            index += 1
        if index < len(kept) and kept[index][0] < cut[1]:
            continue  # overlaps the kept cut that ends after its start
        merged.append(cut)
    merged.extend(kept[index:])
    return merged


def abusive_words(text: str) -> tuple[str, ...]:
    """Insults and threats in `text`, each once, as written: for agents to see, nothing else."""
    folded = fold_width(text)
    if not _ABUSE_WORDS.search(ignorecase_key(folded)):
        return ()
    return tuple(dict.fromkeys(m.group(0) for m in _ABUSE.finditer(folded)))


def redact_mail(mail: InboundMail) -> tuple[InboundMail, tuple[str, ...]]:
    """The mail with secrets cut out of its subject, text and quoted history, and the kinds of
    secret that were (a customer's client may quote their own earlier mail with its secret)."""
    subject, text, quoted = redact(mail.subject), redact(mail.text), redact(mail.quoted)
    kinds = tuple(k for k in SECRET_NAMES if k in (*subject.kinds, *text.kinds, *quoted.kinds))
    return replace(mail, subject=subject.text, text=text.text, quoted=quoted.text), kinds


def flags(text: str, redacted: tuple[str, ...]) -> tuple[str, ...]:
    """What agents should know about one customer mail (never acted on automatically)."""
    found = []
    if words := abusive_words(text):
        found.append(f"abusive language: {', '.join(words)}")
    if redacted:
        found.append(f"secrets removed: {', '.join(redacted)}")
    return tuple(found)
