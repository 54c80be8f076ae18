"""Split a mail body into the customer's new words and the history below them.

Scoring and agents must see what the customer wrote *this time*, not the thread they quote. Mail
clients mark the history in a handful of ways, all recognised here on plain text (HTML is turned
into text with `>`-prefixed blockquotes first):

- an attribution line: Gmail/Apple/Thunderbird "On ... wrote:" (also wrapped over two or three
  lines), Chinese Gmail "X 于2026年11月24日周二 下午3:00写道：", NetEase/Foxmail/iOS
  "在 2026-11-24 15:00:00，"X" <x@163.com> 写道：", and any line ending in a colon that carries a
  date or an address and is directly followed by `>`-quoted lines;
- a header block as Outlook, Foxmail, QQ Mail and Hotmail write it: From/Sent/Date/To/Subject
  (发件人/发送时间/收件人/主题), ASCII or full-width colons, optionally in *bold*;
- a separator line: Outlook's underscores, "-----Original Message-----", QQ Mail's
  "------------------ 原始邮件 ------------------";
- `>`-quoting, and signatures: the "-- " delimiter and mobile signatures ("Sent from my iPhone",
  "发自我的iPhone", "从我的 iPhone 发送", ...).

A forward ("---------- Forwarded message ---------", "Begin forwarded message:", localised) is
history below the customer's own words; a body that is only a forward keeps the forwarded words
as the new text (a customer forwarding a bank's mail wants it read), its marker and header block
as history. A split that would leave no new text keeps everything as new text: losing the
complaint is worse than showing a quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailticket.mail.forwards import forward_marker, forwarded_body_start, unquoted_once
from mailticket.mail.markers import FIELD_CANDIDATE, ORIGINAL_MESSAGE, WROTE, header_field

_WROTE_END = re.compile(rf"({WROTE})\s*[:：]\s*$", re.IGNORECASE)
_ATTRIBUTIONS = (
    re.compile(r"^On\s.{4,400}\bwrote\s*[:：]$", re.IGNORECASE),
    re.compile(r"^.{0,200}(于|於)\s*\d{4}\s*年.{0,80}(写道|寫道)\s*[:：]$"),
    re.compile(r"^(在|於)\s*\d{4}\s*[年\-/.].{0,300}(写道|寫道)\s*[:：]$"),
)
# Am/Le/El/Il giorno/Op/Den/W dniu/Em ... <verb>: with a date or an address, not starting
# with the wrapped tail of another attribution ("<addr> wrote:").
_ANY_LANGUAGE = re.compile(
    rf"^(?![<(]|{WROTE})(?=.{{0,400}}(\d{{1,2}}:\d{{2}}|\d{{4}}|@)).{{4,400}}({WROTE})\s*[:：]$",
    re.IGNORECASE,
)
# "Name wrote:", "Name said:", "Name wrote on <date>:" with neither date nor address: an
# attribution only when quoted lines follow.
_SHORT_WROTE = re.compile(rf"^[^:：]{{1,80}}\b({WROTE}|said)(\son\s.{{1,60}})?\s*[:：]$", re.I)
# Old Gmail's "2009/11/24 Name <addr>" and "2016-03-03 17:21 GMT+01:00 Name" above the quote:
# a date and a sender, no verb, no colon.
_DATED_SENDER = re.compile(
    r"^\d{4}[/-]\d{1,2}[/-]\d{1,2}\s+(\d{1,2}:\d{2}\s+GMT[+-]\d{1,2}:?\d{2}\s+\S.{0,80}|\S.{0,150}"
    r"(<[^\s<>]{1,64}@[^\s<>]{1,255}>|[^\s<>]{1,64}@[^\s<>]{1,255}))$"
)
_DATE_OR_ADDRESS = re.compile(r"\d{4}|\d{1,2}:\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|@")
# Runs of rule characters are possessive (`{2,}+`): a line of 100,000 dashes fails at once
# instead of retrying the words after every shorter run (quadratic: 11 s).
_SEPARATOR = re.compile(
    rf"^\s*+(_{{5,}}+|[-*]{{2,}}+\s*+({ORIGINAL_MESSAGE})\s*+[-*]{{2,}}+"
    rf"|-{{2,}}+\s*+\S.{{4,300}}\b({WROTE})\s*+-{{2,}}+)\s*$",  # the last: Zoho's attribution
    re.IGNORECASE,
)
_SIGNATURE_DELIMITER = re.compile(r"^--\s*$")
_MOBILE_SIGNATURE = re.compile(
    r"^("
    r"Sent from my [\w\-. ]{1,40}"
    r"|Sent (from|via) (Mail|Windows Mail|Outlook|Yahoo Mail|Samsung|Huawei|Xiaomi|Gmail"
    r"|Proton ?Mail|AOL|Zoho|Spark|BlueMail|Edison|myMail|Aqua Mail|Nine|Newton|the Samsung)"
    r"\b[\w\-.,& ]{0,60}"
    r"|Sent with [\w\-. ]{1,40}(\(.*\))?"
    r"|[(<]{0,2}Sent (from|via|by) (a |my )?(mobile|phone|tablet)( device)?[)>]{0,2}"
    r"|Diese Nachricht wurde von [\w\-. ]{1,60} gesendet"
    r"|Get Outlook for (iOS|Android)|Outlook für (iOS|Android) herunterladen"
    r"|Télécharger Outlook pour (iOS|Android)|Obtener Outlook para (iOS|Android)"
    r"|获取\s*(Outlook for (iOS|Android)|(iOS|Android)\s*版\s*Outlook)"
    r"|Envoyé (de|depuis) (mon [\w\-. ]{1,40}|Yahoo Mail.{0,30})"
    r"|Von meinem [\w\-. ]{1,40} gesendet"
    r"|Gesendet (von|mit) (der |meinem )?(Mail|Outlook|Yahoo|iPhone|iPad|WEB\.DE|GMX)\b"
    r"[\w\-. ]{0,40}"
    r"|(Sendt|Skickat|Skickad) från min [\w\-. ]{1,40}|Sendt fra min [\w\-. ]{1,40}"
    r"|Enviado (desde|de) mi [\w\-. ]{1,40}|Enviado do meu [\w\-. ]{1,40}"
    r"|Inviato da [\w\-. ]{1,40}|(Verzonden|Verstuurd) (vanaf|met) (mijn )?[\w\-. ]{1,40}"
    r"|Lähetetty [\w\-]{1,30}(sta|stä)|Wysłane z [\w\-.' ]{1,40}|Отправлено с [\w\-. ]{1,40}"
    r"|[\w\- ]{1,20}から送信|[\w\- ]{1,20}에서 보냄"
    r"|Sent from (K-9 Mail|Airmail)\b.{0,40}"
    r"|Sent from my [\w\-. ]{1,40} with K-9 Mail\b.{0,60}"
    r"|(发自|來自|来自|發自|寄自)\s*(我的|網易|网易|QQ|手机QQ|华为|小米|荣耀|Windows|iPhone|iPad).{0,20}"
    r"|从\s*(我的|Windows).{0,20}发送"
    r"|從\s*(我的|Windows).{0,20}傳送"
    r")[.!。]?\s*(<https?://[^\s>]{1,200}>|\(https?://[^\s)]{1,200}\))?\s*$",
    re.IGNORECASE,
)
_DECORATION = re.compile(r"^[\s\-_=*~—]+$")
# Matches where any of the three patterns above may match (one test instead of three for the
# many lines that start no marker): a separator, a mobile signature, a "Name:" line.
_MAY_START = re.compile(
    "|".join(f"(?:{p.pattern})" for p in (_SEPARATOR, FIELD_CANDIDATE, _MOBILE_SIGNATURE)),
    re.IGNORECASE,
)
_MAX_SIGNATURE_LINES = 15


@dataclass(frozen=True)
class _Marker:
    """Where the history starts: `start`..`end` are the marker's own lines (inclusive)."""

    start: int
    end: int
    kind: str  # attribution | headers | separator | signature


def split_reply(text: str) -> tuple[str, str]:
    """(new text, quoted history and signatures); never an empty new text for a non-empty body.

    A forward is history too: the customer's words above it are the new text; with none, the
    forwarded mail's own words are (its marker and header block go to the history), trimmed of
    the history *they* quote."""
    new, history, _ = split_reply_marked(text)
    return new, history


def split_reply_marked(text: str) -> tuple[str, str, bool]:
    """`split_reply`, and whether the new text is not the sender's own words (history promoted,
    or a forwarded mail's words): right for a customer's forward-only mail, never to be relayed
    from an agent's."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    marker = forward_marker(lines)
    if marker is None:
        inner = _quoted_forward(lines)
        if inner is not None:  # the forward itself sits in a quote: read it one level down
            new, history, _ = split_reply_marked("\n".join(inner))
            return new, history, True
        marker = _leading_header_block(lines)
        if marker is None:
            return _split(lines)
    if any(not _is_blank(line) for line in lines[:marker]):
        new, history, promoted = _split(lines[:marker])
        forwarded = _tidy(lines[marker:])
    else:
        lines = lines[: marker + 1] + unquoted_once(lines[marker + 1 :])
        body = forwarded_body_start(lines, marker)
        new, history, _ = _split(lines[body:])
        forwarded, promoted = _tidy(lines[:body]), True
    if not new:
        return _tidy(lines), "", any(line.strip() for line in lines)
    return new, "\n\n".join(p for p in (history, forwarded) if p), promoted


def _leading_header_block(lines: list[str]) -> int | None:
    """Where a body opens with a quoted mail's header block (after Outlook's "-----Original
    Message-----" or rule, or none): how Outlook and Outlook Express forward. Read like any
    forward: the words below the block are the text."""
    first = _next_nonblank(lines, 0)
    if first is None:
        return None
    block: int | None = first
    if _SEPARATOR.match(lines[first].strip()):
        block = _next_nonblank(lines, first + 1)
    return first if block is not None and _is_header_block(lines, block) else None


def _quoted_forward(lines: list[str]) -> list[str] | None:
    """A body that is only a quoted forward (Apple Mail's HTML forward puts the whole forwarded
    mail, marker and all, in a `blockquote`): its lines as many quote levels down as the marker
    sits (at most a few), else None."""
    first = _next_nonblank(lines, 0)
    if first is None or not lines[first].lstrip().startswith(">"):
        return None
    for _level in range(_MAX_FORWARD_QUOTE_DEPTH):
        inner = unquoted_once(lines)
        if inner is lines:
            return None  # some line is not quoted: a reply below a quote, not a forward
        lines = inner
        if forward_marker(lines[first : first + 1]) is not None:
            return lines
    return None


_MAX_FORWARD_QUOTE_DEPTH = 3


def _split(lines: list[str]) -> tuple[str, str, bool]:
    quoted = [False] * len(lines)
    first = _first_marker(lines, quoted)
    if (
        first is not None
        and _has_text(lines, quoted, 0, first.start)
        and not _is_inline(lines, first)
    ):
        _quote_from(quoted, _back_over_decoration(lines, first.start))
    else:
        _quote_inline(lines, quoted)
        after = _first_marker(lines, quoted)  # history left unquoted below the answers
        if after is not None and _has_text(lines, quoted, 0, after.start):
            _quote_from(quoted, _back_over_decoration(lines, after.start))
    new = _tidy([line for line, q in zip(lines, quoted, strict=True) if not q])
    history = _tidy([line for line, q in zip(lines, quoted, strict=True) if q])
    if not new:
        return _tidy(lines), "", any(line.strip() for line in lines)
    return new, history, False


def _is_quote(line: str) -> bool:
    """`>`-quoted, or `|`-quoted as some clients and list archives do (a table row, which ends
    in `|` too, is not a quote)."""
    bare = line.strip()
    return bare.startswith(">") or (bare.startswith("|") and not bare.endswith("|"))


def _is_blank(line: str) -> bool:
    return not line.strip()


def _has_text(lines: list[str], quoted: list[bool], start: int, stop: int) -> bool:
    return any(not quoted[i] and not _is_blank(lines[i]) for i in range(start, stop))


def _quote_from(quoted: list[bool], start: int) -> None:
    for i in range(start, len(quoted)):
        quoted[i] = True


def _back_over_decoration(lines: list[str], start: int) -> int:
    """Blank, ruler and `>` lines right above a marker belong to the history, not the new text."""
    while start > 0 and (
        _is_blank(lines[start - 1])
        or _DECORATION.match(lines[start - 1])
        or _is_quote(lines[start - 1])
    ):
        start -= 1
    return start


def _next_nonblank(lines: list[str], start: int) -> int | None:
    return next((i for i in range(start, len(lines)) if not _is_blank(lines[i])), None)


def _first_marker(
    lines: list[str],
    quoted: list[bool],
    kinds: tuple[str, ...] = ("attribution", "headers", "separator", "signature"),
) -> _Marker | None:
    """The earliest marker among the lines not yet counted as quoted."""
    for i, line in enumerate(lines):
        if quoted[i] or _is_blank(line):
            continue
        marker = _marker_ending_at(lines, i) if "attribution" in kinds else None
        if marker is None:
            marker = _marker_starting_at(lines, i)
        if marker is not None and marker.kind in kinds:
            return marker
    return None


def _marker_starting_at(lines: list[str], i: int) -> _Marker | None:
    line = lines[i].strip()
    if not _MAY_START.match(line):
        if lines[i].startswith("--") and _SIGNATURE_DELIMITER.match(lines[i]):
            return _Marker(i, i, "signature") if _is_signature(lines, i) else None
        return None
    if _SEPARATOR.match(line):
        return _Marker(i, i, "separator")
    if _is_header_block(lines, i):
        return _Marker(i, i, "headers")
    if _MOBILE_SIGNATURE.match(line):
        return _Marker(i, i, "signature")
    return None


# `git format-patch` ends a patch with "-- " and the git version; words after that are the
# sender's, not a signature's.
_GIT_VERSION = re.compile(r"^\s*(git version )?\d+\.\d+(\.\d+){0,3}(\.windows\.\d+)?\s*$")


def _is_signature(lines: list[str], delimiter: int) -> bool:
    """A "-- " line starts a signature when a short tail follows, and it is not a git trailer
    (the version line) with new text after it."""
    if not _short_tail(lines, delimiter + 1):
        return False
    version = _next_nonblank(lines, delimiter + 1)
    if version is None or not _GIT_VERSION.match(lines[version]):
        return True
    return _next_nonblank(lines, version + 1) is None


def _is_header_block(lines: list[str], i: int) -> bool:
    """A quoted mail's header block (Outlook, Foxmail, QQ Mail, Hotmail): consecutive header
    lines with a From, and either an address on the From line or both a date and a subject.
    A customer's "From: my card / To: the merchant / Date: ..." transfer details are not one."""
    keys: dict[str, str] = {}
    for line in lines[i : i + 8]:
        found = header_field(line)
        if found is not None:
            keys.setdefault(found[0], line)
        elif keys and _WRAPPED_ADDRESS.match(line):  # "From: a long name" / "<addr>"
            last = next(reversed(keys))
            keys[last] += f" {line.strip()}"
        else:
            break
    if "from" not in keys or len(keys) < 3 or (i > 0 and header_field(lines[i - 1])):
        return False  # (the block starts on the line above, if anywhere)
    return "@" in keys["from"] or ("sent" in keys and "subject" in keys)


_WRAPPED_ADDRESS = re.compile(r"^\s*<[^\s<>]{1,64}@[^\s<>]{1,255}>[;,]?\s*$")


def _short_tail(lines: list[str], start: int) -> bool:
    """A "--" line starts a signature only when little text follows before the next marker."""
    count = 0
    for j in range(start, len(lines)):
        line = lines[j].strip()
        if _is_quote(line) or _SEPARATOR.match(line) or _is_header_block(lines, j):
            break
        if not _is_blank(lines[j]):
            count += 1
            if count > _MAX_SIGNATURE_LINES:
                return False
    return True


def _marker_ending_at(lines: list[str], end: int) -> _Marker | None:
    """An attribution whose last line is `end`. Known shapes are tried on the fewest lines
    first (at most 3), so a customer's sentence above a wrapped attribution is never swallowed;
    other languages' attributions count when they carry a date or an address and `>` follows."""
    if not lines[end].rstrip().endswith((":", "：")):  # as `_bare(...)` would, more cheaply
        if lines[end][:1].isdigit() and _dated_sender(lines, end):
            return _Marker(end, end, "attribution")
        return None
    across = _attribution_across_blank(lines, end)
    if across is not None:
        return across
    tried: list[tuple[int, str]] = []
    for start in range(end, max(end - 3, -1), -1):
        if start < end and _is_blank(lines[start]):
            break
        joined = " ".join(_bare(lines[k]) for k in range(start, end + 1))
        if _WROTE_END.search(joined):
            tried.append((start, joined))
    # the known shapes first (an "On" wrapped over three lines beats its last two lines),
    # then any language's "<date or address> ... <verb>:"
    for patterns in (_ATTRIBUTIONS, (_ANY_LANGUAGE,)):
        for start, joined in tried:
            if (
                (patterns is not _ATTRIBUTIONS or _bare(lines[start]).startswith(_NAMELESS))
                and start
                and _continues(lines[start - 1], lines[start])
            ):
                continue  # the attribution began on the line above
            if any(p.match(joined) for p in patterns):
                return _Marker(start, end, "attribution")
    if not _followed_by_quote(lines, end):
        return None
    start = end
    while start > max(end - 2, 0) and _continues(lines[start - 1], lines[start]):
        start -= 1
    joined = " ".join(_bare(lines[k]) for k in range(start, end + 1))
    if _DATE_OR_ADDRESS.search(joined) or _SHORT_WROTE.match(joined):
        return _Marker(start, end, "attribution")
    return None


def _dated_sender(lines: list[str], end: int) -> bool:
    """Old Gmail's dated sender line, directly above `>`-quoted lines."""
    return bool(_DATED_SENDER.match(_bare(lines[end]))) and _followed_by_quote(lines, end)


_SENTENCE_END = (".", "。", "!", "！", "?", "？")


def _attribution_across_blank(lines: list[str], end: int) -> _Marker | None:
    """ "On <date>, <name>" and "<addr> wrote:" with a blank line between, as some webmail
    wraps it: only the strict English and Chinese shapes, so a sentence is never swallowed."""
    if end < 2 or not _is_blank(lines[end - 1]) or _is_blank(lines[end - 2]):
        return None
    head, tail = _bare(lines[end - 2]), _bare(lines[end])
    if head.endswith(_SENTENCE_END) or any(p.match(tail) for p in _ATTRIBUTIONS):
        return None  # a sentence above a whole attribution: not one broken attribution
    if any(p.match(f"{head} {tail}") for p in _ATTRIBUTIONS):
        return _Marker(end - 2, end, "attribution")
    return None


def _bare(line: str) -> str:
    return line.strip().lstrip(">").strip()


# Chinese Gmail's "于<date>写道：" with the name and address wrapped onto the line above.
_NAMELESS = ("于", "於")


def _continues(previous: str, line: str) -> bool:
    """A client wrapped one attribution over two lines (an address or a clause cut short)."""
    head = previous.rstrip()
    return bool(head) and (
        head.endswith(("<", ",", "，"))
        or line.lstrip().startswith(("<", "wrote"))
        or (line.lstrip().startswith(_NAMELESS) and not head.endswith(_SENTENCE_END))
    )


def _followed_by_quote(lines: list[str], end: int) -> bool:
    following = _next_nonblank(lines, end + 1)
    return following is not None and _is_quote(lines[following])


def _is_inline(lines: list[str], marker: _Marker) -> bool:
    """An attribution, its `>` block, then more unquoted words: the customer answered below or
    between the quotes, and those words are new text too."""
    if marker.kind != "attribution" or not _followed_by_quote(lines, marker.end):
        return False
    i = marker.end + 1
    while i < len(lines) and (_is_blank(lines[i]) or _is_quote(lines[i])):
        i += 1
    if i == len(lines) or _marker_starting_at(lines, i) is not None:
        return False
    return all(_marker_ending_at(lines, j) is None for j in range(i, min(i + 3, len(lines))))


def _quote_inline(lines: list[str], quoted: list[bool]) -> None:
    """Bottom-posted or interleaved replies: only `>` lines and their attributions are history."""
    for i, line in enumerate(lines):
        if _is_quote(line):
            quoted[i] = True
            continue
        marker = _marker_ending_at(lines, i)
        if marker is not None and _followed_by_quote(lines, marker.end):
            for k in range(marker.start, marker.end + 1):
                quoted[k] = True


def _tidy(lines: list[str]) -> str:
    """Trailing spaces off, runs of blank lines shortened to one, no blank edges."""
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n").strip()
