"""Templates -> complete outgoing messages, ready for the outbox; no I/O but reading templates.

Every text a customer or an agent reads comes from a Jinja2 template that admins can override
(`[templates] path`): plain text always, an HTML alternative when a `.html` template exists
(autoescaped). Header values never come from a template and are flattened to one line, so no
input can add a header.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailticket.completeness.guard import SECRET_NAMES
from mailticket.completeness.rules import Category
from mailticket.model import Attachment, InboundMail, MessageKind, OutgoingMail, Ticket
from mailticket.outbound.headers import format_address, header_safe, raw_message

# Values for every variable any shipped template uses: `Templates.check` renders each template
# with each of these, so a typo in an admin's template (in any branch: with rules or without,
# details missing or complete) fails the check, not a customer's reply.
SAMPLE_CONTEXT: dict[str, object] = {
    "customer_name": "张伟",
    "ticket_id": "OKW-2026-000123",
    "subject": "充值500元未到账",
    "sla_days": 3,
    "due": "2026年11月27日（星期五，北京时间）",
    "desk_name": "OK钱包客服中心",
    "customer": "zhang.wei@example.com",
    "recipient": "zhang.wei@example.com",
    "detail": "550 5.1.1 mailbox unavailable",
    "reason": "zhang.wei@example.com is held back as a mail loop",
    "prefix": "OKW",
    "original_subject": "[OKW-2026-000123] Re: 充值500元未到账",
    "category": "充值不到账",
    "complete": False,
    "missing": [{"label": "充值交易单号", "hint": "在 App「账单」中点开这笔充值。"}],
    "optional": [{"label": "扣款凭证截图", "hint": "银行扣款短信的截图。"}],
    "received": ["充值金额"],
    "redacted": ["短信验证码"],
    "percent": 80,
    "assignee": "alice@okwallet.example",
    "new_due": "2026年12月2日（星期三，北京时间）",
    "escalation_path": "中国人民银行金融消费权益保护局 12363",
    "date": "2026-11-25",
    "rows": [{"id": "OKW-2026-000123", "status": "open", "left": "overdue 5h", "subject": "充值"}],
    "summary": "昨日 / Yesterday: 收到 received 3, 解决 resolved 2, 积压 backlog 5",
    "text": "您好，已为您核实，这笔充值将在今天内到账。",
    "occasion": "new",
    "score": 60,
    "priority": "normal",
    "flags": ["abusive language: 废物"],
    "previous_ticket": "OKW-2026-000100",
    "assigned_by": "bob@okwallet.example",
    "reopen_days": 7,
    "reopen_until": "2026年12月4日（星期五，北京时间）",
    "problems": [{"line": "#stauts closed", "why": "unknown command"}],
    "usages": ["#status open|pending|resolved|closed", "#note"],
    "files": [
        {"name": "扣款截图.png", "size": "120 KB", "state": "attached"},
        {"name": "银行流水.pdf", "size": "6.2 MB", "state": "elsewhere"},
        {"name": "录屏.mp4", "size": "31.0 MB", "state": "not_kept"},
    ],
    "part": 1,
    "parts": 2,
}


SAMPLE_CONTEXTS: tuple[dict[str, object], ...] = (
    SAMPLE_CONTEXT,
    SAMPLE_CONTEXT | {"complete": True, "missing": [], "received": [], "redacted": []},
    SAMPLE_CONTEXT | {"category": "", "missing": [], "optional": [], "received": []},
    SAMPLE_CONTEXT
    | {
        "occasion": "assigned",
        "text": "",
        "flags": [],
        "previous_ticket": "",
        "escalation_path": "",
        "files": [],
        "parts": 1,
    },
    SAMPLE_CONTEXT | {"occasion": "reopened", "assignee": ""},
    SAMPLE_CONTEXT | {"occasion": "followup"},
)


class Templates:
    """An admin's folder first, then the packaged defaults; strict about undefined names."""

    def __init__(self, override: Path | None = None) -> None:
        loaders: list = [FileSystemLoader(str(override))] if override else []
        loaders.append(PackageLoader("mailticket.outbound", "templates"))
        self.override = override
        # HTML alternatives looked for and not found. Jinja searches every loader and raises
        # for a missing template on each call (a third of a render); this asks only whether
        # the admin's folder has gained one since (the packaged templates do not change).
        self._no_html: set[str] = set()
        # Sandboxed: an admin's template reaches no Python internals (`cycler.__init__.
        # __globals__`...) and changes nothing, in `check` and in the daemon alike.
        self.environment = ImmutableSandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(("html",), default_for_string=False, default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,  # a line holding only {% if %} or {% for %} leaves no blank line
            lstrip_blocks=True,
        )

    def render(self, name: str, language: str, **context: object) -> tuple[str, str | None]:
        """The plain text, and the HTML alternative when the template set has one."""
        text = self.environment.get_template(f"{language}/{name}.txt").render(**context)
        html_template = self._html(f"{language}/{name}.html")
        if html_template is None:
            return text, None
        return text, html_template.render(**context)

    def _html(self, name: str) -> Template | None:
        if name in self._no_html and not (
            self.override and os.path.isfile(os.path.join(self.override, name))
        ):
            return None
        try:
            template = self.environment.get_template(name)
        except TemplateNotFound:
            self._no_html.add(name)
            return None
        self._no_html.discard(name)
        return template

    def check(self) -> list[str]:
        """Every template compiled and rendered with sample values; errors as `file:line: why`."""
        errors = []
        for name in self.environment.list_templates(extensions=("txt", "html")):
            try:
                template = self.environment.get_template(name)
                for context in SAMPLE_CONTEXTS:
                    template.render(**context)
            except TemplateSyntaxError as exc:
                errors.append(f"{exc.filename or name}:{exc.lineno}: {exc.message}")
            except SecurityError as exc:
                errors.append(f"{self._where(name)}: unsafe, refused by the sandbox: {exc}")
            except TemplateError as exc:
                errors.append(f"{self._where(name)}: {exc}")
        return errors

    def _where(self, name: str) -> str:
        if self.override and (self.override / name).exists():
            return str(self.override / name)
        return f"mailticket/templates/{name}"


# Mail to customers that carries an agent's own words.
AGENT_WORDS = (MessageKind.REPLY, MessageKind.RESOLUTION)


@dataclass(frozen=True)
class DeskIdentity:
    """Who our mail comes from, and the clock face dates are shown in."""

    address: str
    name: str
    zone: ZoneInfo
    secret: bytes = b""  # signs our Message-IDs (see `match.signed_ticket`)

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


_WEEKDAYS_ZH = "一二三四五六日"


_REPLY_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|sv|答复|回复|转发|回覆|轉寄)\s*(\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE
)


def format_due(due: datetime, language: str, zone: ZoneInfo) -> str:
    """A deadline as the customer reads a date: in their language, in the desk's time zone."""
    local = due.astimezone(zone)
    zone_name = "北京时间" if zone.key in ("Asia/Shanghai", "Asia/Chongqing") else zone.key
    if language == "zh":
        weekday = _WEEKDAYS_ZH[local.weekday()]
        return f"{local.year}年{local.month}月{local.day}日（星期{weekday}，{zone_name}）"
    return f"{local:%A}, {local.day} {local:%B %Y} ({zone.key} time)"


@functools.lru_cache(maxsize=256)
def _tag_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(rf"\[\s*{re.escape(tag)}\s*\]", re.IGNORECASE)


def reply_subject(ticket_id: str, original: str, language: str, previous: str = "") -> str:
    """`[TKT-2026-000001] Re: <original>`, without stacking tags or Re: prefixes; the tag of
    the `previous` ticket a new one continues goes too."""
    untagged = original
    for tag in filter(None, (ticket_id, previous)):
        if "[" in untagged:  # every ticket's own pattern would fill `re`'s cache of 512
            untagged = _tag_pattern(tag).sub("", untagged)
    bare = _REPLY_PREFIX.sub("", untagged)
    bare = header_safe(_REPLY_PREFIX.sub("", bare.strip()))
    if not bare:
        bare = "您的投诉已受理" if language == "zh" else "Your complaint has been received"
    return f"[{ticket_id}] Re: {bare}"


def new_message_id(ticket_id: str, kind: MessageKind, domain: str, secret: bytes = b"") -> str:
    """`<TICKET.kind.random.signature@domain>`: a reply can be matched by its references even
    when the subject tag was edited away and the store forgot the id, and a forged reference
    is recognised. Short enough that `Message-ID:` is never folded."""
    local = f"{ticket_id}.{kind.value[:3]}.{secrets.token_hex(4)}"
    if secret:
        local += "." + sign(secret, local)
    return f"<{local}@{domain}>"


def sign(secret: bytes, text: str) -> str:
    return hmac.digest(secret, text.encode("utf-8"), "sha256").hex()[:12]


def fingerprint(kind: MessageKind, ticket_id: str, text: str) -> str:
    """Identical replies on one ticket share this, so a storm cannot repeat one reply."""
    return hashlib.sha256(f"{kind.value}|{ticket_id}|{text}".encode()).hexdigest()[:32]


def build_mail(
    *,
    desk: DeskIdentity,
    outbox_id: str,
    ticket_id: str,
    kind: MessageKind,
    recipients: list[tuple[str, str]],
    subject: str,
    text: str,
    html: str | None,
    now: datetime,
    language: str,
    auto_submitted: str,
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    attachments: Sequence[Attachment] = (),
) -> OutgoingMail:
    """A complete RFC 5322 message from the desk, fixed at enqueue (its Message-ID included),
    with `attachments` (their bytes in `payload`) after the text."""
    message_id = new_message_id(ticket_id, kind, desk.domain, desk.secret)
    subject = header_safe(subject, 300)
    sender = format_address(desk.address, desk.name)
    headers: list[tuple[str, str]] = [
        ("From", sender),
        ("To", ", ".join(format_address(address, name) for name, address in recipients)),
        ("Reply-To", sender),
        ("Subject", subject),  # the one value that may be non-ASCII: see `raw_message`
        ("Date", format_datetime(now.astimezone(desk.zone))),
        ("Message-ID", message_id),
    ]
    if in_reply_to:
        headers.append(("In-Reply-To", in_reply_to))
        headers.append(("References", " ".join([*references[-10:], in_reply_to])))
    headers += [
        ("Auto-Submitted", auto_submitted),
        ("X-Auto-Response-Suppress", "All"),
        ("X-Mailticket-Ticket", ticket_id),
        ("Content-Language", "zh-CN" if language == "zh" else "en"),
    ]
    return OutgoingMail(
        id=outbox_id,
        ticket_id=ticket_id,
        kind=kind,
        message_id=message_id,
        mail_from=desk.address,
        rcpt_to=tuple(address for _, address in recipients),
        subject=subject,
        raw=raw_message(headers, text, html, attachments),
        created=now,
        fingerprint=fingerprint(kind, ticket_id, text),
    )


def _details(category: Category | None, ids: tuple[str, ...], language: str) -> list[dict]:
    fields = [category.field(i) for i in ids] if category else []
    return [
        {
            "id": f.id,
            "label": f.label.get(language),
            "hint": f.hint.get(language),
            "required": f.required,
        }
        for f in fields
        if f is not None
    ]


def customer_reply(
    templates: Templates,
    desk: DeskIdentity,
    ticket: Ticket,
    mail: InboundMail,
    kind: MessageKind,
    *,
    outbox_id: str,
    now: datetime,
    category: Category | None = None,
    received: tuple[str, ...] = (),
    redacted: tuple[str, ...] = (),
) -> tuple[OutgoingMail, str]:
    """Our automatic answer to a customer's mail, threaded under it, and its text: the
    acknowledgement of a new ticket, or the information request after a follow-up (thanks
    for the `received` field ids, and only what is still missing). With rules, it names the
    category and asks for exactly the details still missing."""
    language = ticket.language
    missing = _details(category, ticket.missing, language)
    text, html = templates.render(
        kind.value,
        language,
        customer_name=header_safe(ticket.customer_name, 80),
        ticket_id=ticket.id,
        subject=header_safe(ticket.subject),
        sla_days=ticket.sla_working_days,
        due=format_due(ticket.due, language, desk.zone) if ticket.due else "",
        desk_name=desk.name,
        category=category.name.get(language) if category else "",
        complete=bool(category) and ticket.complete,
        missing=[m for m in missing if m["required"]],
        optional=[m for m in missing if not m["required"]],
        received=[r["label"] for r in _details(category, received, language)],
        redacted=[SECRET_NAMES[k][0 if language == "zh" else 1] for k in redacted],
        previous_ticket=ticket.previous_ticket,
    )
    outgoing = build_mail(
        desk=desk,
        outbox_id=outbox_id,
        ticket_id=ticket.id,
        kind=kind,
        recipients=[(ticket.customer_name, ticket.customer)],
        subject=reply_subject(ticket.id, mail.subject, language, ticket.previous_ticket),
        text=text,
        html=html,
        now=now,
        language=language,
        auto_submitted="auto-replied",
        in_reply_to=mail.message_id,
        references=mail.references,
    )
    return outgoing, text


def agent_notice(
    templates: Templates,
    desk: DeskIdentity,
    ticket: Ticket,
    *,
    event: str,
    agents: list[str],
    outbox_id: str,
    now: datetime,
    kind: MessageKind = MessageKind.NOTICE,
    thread: tuple[str, ...] = (),
    attachments: Sequence[Attachment] = (),
    **context: object,
) -> tuple[OutgoingMail, str]:
    """A note to agents about a ticket: a reply that could not be delivered, a bounce, an SLA
    reminder or escalation, a new ticket or follow-up, a command not understood; `event` names
    the template in templates/agent/. It answers the last of the `thread` Message-IDs."""
    text, html = templates.render(
        event,
        "agent",
        ticket_id=ticket.id,
        customer=ticket.customer,
        subject=header_safe(ticket.subject),
        desk_name=desk.name,
        **context,
    )
    first_line = text.strip().splitlines()[0] if text.strip() else event
    outgoing = build_mail(
        desk=desk,
        outbox_id=outbox_id,
        ticket_id=ticket.id,
        kind=kind,
        recipients=[("", agent) for agent in agents],
        subject=f"[{ticket.id}] {first_line}",
        text=text,
        html=html,
        now=now,
        language="zh",
        auto_submitted="auto-generated",
        in_reply_to=thread[-1] if thread else "",
        references=thread[:-1],
        attachments=attachments,
    )
    return outgoing, text


def ticket_facts(ticket: Ticket, category: Category | None, zone: ZoneInfo) -> dict[str, object]:
    """What mail to agents says about a ticket (their templates are bilingual, dates Chinese)."""
    return {
        "customer_name": header_safe(ticket.customer_name, 80),
        "category": f"{category.name.zh} / {category.name.en}" if category else "",
        "score": ticket.score,
        "complete": bool(category) and ticket.complete,
        "missing": [m for m in _details(category, ticket.missing, "zh") if m["required"]],
        "priority": ticket.priority.value,
        "assignee": ticket.assignee,
        "due": format_due(ticket.due, "zh", zone) if ticket.due else "",
        "flags": list(ticket.flags),
        "previous_ticket": ticket.previous_ticket,
    }


def scheduled_customer_mail(
    templates: Templates,
    desk: DeskIdentity,
    ticket: Ticket,
    kind: MessageKind,
    *,
    outbox_id: str,
    now: datetime,
    in_reply_to: str,
    references: tuple[str, ...],
    category: Category | None = None,
    attachments: Sequence[Attachment] = (),
    **context: object,
) -> tuple[OutgoingMail, str]:
    """A mail the schedule sends a customer (delay notice, reminder, closing notice), or an
    agent's words relayed (a reply, the resolution: not automatic, a person wrote them), in
    their language and threaded under their last mail; `kind` names the template."""
    language = ticket.language
    text, html = templates.render(
        kind.value,
        language,
        customer_name=header_safe(ticket.customer_name, 80),
        ticket_id=ticket.id,
        subject=header_safe(ticket.subject),
        desk_name=desk.name,
        missing=[m for m in _details(category, ticket.missing, language) if m["required"]],
        **context,
    )
    outgoing = build_mail(
        desk=desk,
        outbox_id=outbox_id,
        ticket_id=ticket.id,
        kind=kind,
        recipients=[(ticket.customer_name, ticket.customer)],
        subject=reply_subject(ticket.id, ticket.subject, language),
        text=text,
        html=html,
        now=now,
        language=language,
        auto_submitted="no" if kind in AGENT_WORDS else "auto-generated",
        in_reply_to=in_reply_to,
        references=references,
        attachments=attachments,
    )
    return outgoing, text
