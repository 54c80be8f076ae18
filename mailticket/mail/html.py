"""HTML -> readable text, the way a browser lays it out, with the quoted thread's container
(Gmail's `gmail_quote`, Outlook's `divRplyFwdMsg`, QQ Mail's `qqmail_quote`...) found so the
history can be cut off where the client put it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import ClassVar

# Elements (by id or class) where clients put the quoted thread or the sender's signature:
# Gmail, Outlook (web, desktop, for Mac), QQ Mail, NetEase (web, iOS), Yahoo, Thunderbird
# (replies and forwards), Zoho, Proton.
_HISTORY_CONTAINERS = frozenset(
    name.lower()
    for name in (
        "gmail_quote", "gmail_signature", "divRplyFwdMsg", "appendonsend", "qqmail_quote",
        "isReplyContent", "yahoo_quoted", "moz-cite-prefix", "OutlookMessageHeader",
        "moz-forward-container", "zmail_extra", "protonmail_quote", "isForwardContent",
        "ntes-iosmail-quote", "mail-editor-reference-message-container",
    )
)  # fmt: skip
# Nesting shown in text (`>` per blockquote, indent per list): deeper nesting is drawn as this
# deep, so text grows linearly with the HTML, not with the square of its depth.
_MAX_SHOWN_DEPTH = 16


class _HtmlToText(HTMLParser):
    """Readable text from the HTML clients send: paragraphs, line breaks and list items where a
    browser shows them (Outlook's and QQ Mail's `<div>` soup without blank lines between), links
    kept, scripts and styles dropped, blockquotes as `>` lines. Remembers where the first
    history container starts, so the quoted thread can be cut off at the HTML level."""

    _PARAGRAPH: ClassVar[set[str]] = {
        "p", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dl",
    }  # fmt: skip
    _LINE: ClassVar[set[str]] = {
        "div", "tr", "li", "blockquote", "hr", "section", "article", "header", "footer",
        "address", "center", "dt", "dd", "caption", "form", "fieldset", "main", "nav",
    }  # fmt: skip
    _SKIP: ClassVar[set[str]] = {"script", "style", "head", "title", "template", "noscript"}
    _VOID: ClassVar[set[str]] = {"br", "img", "hr", "meta", "link", "input", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[tuple[str, int]] = []  # (text, blockquote depth)
        self.newlines = 1  # newlines at the end of the output; the start counts as a line start
        self.skipping: list[str] = []
        self.depth = 0
        self.pre = 0
        self.lists: list[int] = []  # per open list: 0 for <ul>, the next number for <ol>
        self.gaps: list[int] = []  # per open <p>: 1 for Outlook's margin-less MsoNormal, else 2
        self.href: str | None = None
        self.link_text: list[str] = []
        self.history_at: int | None = None
        self.quotes: list[bool] = []  # per open <blockquote>: a quote (True) or an indent

    def _emit(self, text: str) -> None:
        self.chunks.append((text, self.depth))
        tail = text.rstrip(" \t")
        if not tail:
            return
        ending = len(tail) - len(tail.rstrip("\n"))
        self.newlines = self.newlines + ending if not tail.strip("\n") else ending

    def _break(self, lines: int) -> None:
        while self.newlines < lines:
            self._emit("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skipping = [t for t in self.skipping if t not in ("head", "title")]
        if tag in self._SKIP:
            self.skipping.append(tag)
        if self.skipping:
            return
        attributes = dict(attrs)
        if self.history_at is None and self._is_history(attributes):
            self._break(1)
            self.history_at = len(self.chunks)
        if tag == "br":
            self._emit("\n")
        elif tag == "p":
            self.gaps.append(1 if "msonormal" in (attributes.get("class") or "").lower() else 2)
            self._break(self.gaps[-1])
        elif tag in self._PARAGRAPH:
            self._break(2)
        elif tag in self._LINE:
            self._break(1)
        if tag == "blockquote":
            indent = _is_indentation(attributes)
            self.quotes.append(not indent)
            self.depth += 0 if indent else 1
        elif tag == "pre":
            self.pre += 1
        elif tag in ("ul", "ol"):
            self.lists.append(0 if tag == "ul" else 1)
        elif tag == "li":
            self._list_item()
        elif tag == "a":
            self.href = attributes.get("href") or None
            self.link_text = []

    def _list_item(self) -> None:
        indent = "  " * min(_MAX_SHOWN_DEPTH, max(0, len(self.lists) - 1))
        if self.lists and self.lists[-1]:
            self._emit(f"{indent}{self.lists[-1]}. ")
            self.lists[-1] += 1
        else:
            self._emit(f"{indent}- ")

    @staticmethod
    def _is_history(attributes: dict[str, str | None]) -> bool:
        names = f"{attributes.get('id') or ''} {attributes.get('class') or ''}".lower().split()
        return any(name in _HISTORY_CONTAINERS for name in names)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self._VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            if tag in self.skipping:
                del self.skipping[len(self.skipping) - 1 - self.skipping[::-1].index(tag) :]
            return
        if self.skipping:
            return
        if tag in ("td", "th"):
            self._emit(" ")
        elif tag == "a" and self.href:
            shown = "".join(self.link_text).strip()
            if self.href.startswith(("http:", "https:")) and self.href != shown:
                self._emit(f" ({self.href})")
            self.href = None
        if tag == "blockquote":
            self._break(1)
            if self.quotes.pop() if self.quotes else True:
                self.depth = max(0, self.depth - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag == "p":
            self._break(self.gaps.pop() if self.gaps else 1)
        elif tag in self._PARAGRAPH:
            self._break(2)
        elif tag in self._LINE:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre:  # no-break spaces survive the stripping of lines: indentation is content
            data = data.replace(" ", "\xa0").replace("\t", "\xa0" * 4)
        else:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
            if self.newlines and data.startswith(" "):
                data = data[1:]
        if data:
            self._emit(data)
            if self.href is not None:
                self.link_text.append(data)

    def render(self, chunks: list[tuple[str, int]]) -> str:
        """Lines stripped, blockquoted lines prefixed with `>` (blank ones too, so a quote stays
        one block), no runs of blank lines."""
        lines: list[str] = []
        current: list[str] = []
        depth = 0
        for text, chunk_depth in chunks:
            for index, piece in enumerate(text.split("\n")):
                if index:
                    line = _visible("".join(current))
                    lines.append(quote_prefix(depth if line else chunk_depth) + line)
                    current, depth = [], 0
                if piece.strip():
                    depth = max(depth, chunk_depth)
                current.append(piece)
        lines.append(quote_prefix(depth) + _visible("".join(current)))
        text = "\n".join(line.rstrip() for line in lines)
        return re.sub(r"\n{3,}", "\n\n", clean_text(text)).strip()


def _is_indentation(attributes: dict[str, str | None]) -> bool:
    """Gmail's and Outlook's "indent more" is a `<blockquote>` with a margin and no border: the
    writer's own words moved right, not a quote. A quote has `type="cite"`, a class, or a
    border on its left."""
    if attributes.get("type") or attributes.get("class") or attributes.get("cite"):
        return False
    style = (attributes.get("style") or "").replace(" ", "").lower()
    return "border:none" in style and "border-left" not in style and "margin" in style


def _visible(line: str) -> str:
    """A line without the layout's spaces; `&nbsp;` indentation (Foxmail, `<pre>`) is kept."""
    return line.rstrip().lstrip(" \t").replace("\xa0", " ")


def quote_prefix(depth: int) -> str:
    return ">" * min(depth, _MAX_SHOWN_DEPTH) + " " if depth else ""


def _convert_html(html: str) -> _HtmlToText:
    converter = _HtmlToText()
    try:
        converter.feed(html)
        converter.close()
    except (AssertionError, ValueError):
        pass
    return converter


def html_to_text(html: str) -> str:
    """The whole HTML as readable text (see `_HtmlToText`)."""
    converter = _convert_html(html)
    return converter.render(converter.chunks)


def html_to_text_split(html: str) -> tuple[str, str]:
    """(text before the first history container, text from it on): Gmail's `gmail_quote`,
    Outlook's `divRplyFwdMsg`, QQ Mail's `qqmail_quote`, NetEase's `isReplyContent`..."""
    converter = _convert_html(html)
    cut = len(converter.chunks) if converter.history_at is None else converter.history_at
    return converter.render(converter.chunks[:cut]), converter.render(converter.chunks[cut:])


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]")


def clean_text(text: str) -> str:
    """Newlines as `\\n`, no control characters (NUL, escape codes, stray BOMs), and plain
    spaces for the no-break and ideographic spaces clients use as indentation."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.replace("\xa0", " ").replace("\u3000", " ")
