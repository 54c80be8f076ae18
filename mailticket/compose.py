"""Templates -> complete outgoing messages, ready for the outbox; no I/O but reading templates."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from mailticket.model import InboundMail, MessageKind, OutgoingMail, Ticket

_ENVIRONMENT = Environment(
    loader=PackageLoader("mailticket", "templates"),
    autoescape=False,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)

_WEEKDAYS_ZH = "一二三四五六日"
_REPLY_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|sv|答复|回复|转发|回覆|轉寄)\s*(\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE
)


def render(template: str, language: str, **context: object) -> str:
    return _ENVIRONMENT.get_template(f"{language}/{template}.txt").render(**context)


def format_due(due: datetime, language: str, zone: ZoneInfo) -> str:
    """A deadline as the customer reads a date: in their language, in the desk's time zone."""
    local = due.astimezone(zone)
    zone_name = "北京时间" if zone.key in ("Asia/Shanghai", "Asia/Chongqing") else zone.key
    if language == "zh":
        weekday = _WEEKDAYS_ZH[local.weekday()]
        return f"{local.year}年{local.month}月{local.day}日（星期{weekday}，{zone_name}）"
    return f"{local:%A}, {local.day} {local:%B %Y} ({zone.key} time)"


def header_safe(value: str, limit: int = 200) -> str:
    """One line, no CR/LF or other controls: nothing from a customer can inject a header."""
    cleaned = re.sub(r"[\x00-\x1f\x7f]+", " ", value)
    return re.sub(r"\s+", " ", cleaned).strip()[:limit]


def reply_subject(ticket_id: str, original: str, language: str) -> str:
    """`[TKT-2026-000001] Re: <original>`, without stacking tags or Re: prefixes."""
    untagged = re.sub(rf"\[\s*{re.escape(ticket_id)}\s*\]", "", original, flags=re.IGNORECASE)
    bare = _REPLY_PREFIX.sub("", untagged)
    bare = header_safe(_REPLY_PREFIX.sub("", bare.strip()))
    if not bare:
        bare = "您的投诉已受理" if language == "zh" else "Your complaint has been received"
    return f"[{ticket_id}] Re: {bare}"


def new_message_id(ticket_id: str, kind: MessageKind, domain: str) -> str:
    """Short enough that `Message-ID:` is never folded (some parsers keep the fold)."""
    return f"<{ticket_id}.{kind.value[:3]}.{secrets.token_hex(6)}@{domain}>"


def _address(address: str, name: str = "") -> str:
    return formataddr((header_safe(name, 80), header_safe(address)), charset="utf-8")


def acknowledgement(
    ticket: Ticket,
    mail: InboundMail,
    *,
    outbox_id: str,
    desk_address: str,
    desk_name: str,
    zone: ZoneInfo,
    now: datetime,
) -> tuple[OutgoingMail, str]:
    """The receipt for a new ticket, threaded under the customer's own mail, and its text."""
    language = ticket.language
    body = render(
        "acknowledgement",
        language,
        customer_name=header_safe(ticket.customer_name, 80),
        ticket_id=ticket.id,
        subject=header_safe(ticket.subject),
        sla_days=ticket.sla_working_days,
        due=format_due(ticket.due, language, zone) if ticket.due else "",
        desk_name=desk_name,
    )
    message_id = new_message_id(
        ticket.id, MessageKind.ACKNOWLEDGEMENT, desk_address.rpartition("@")[2]
    )
    subject = reply_subject(ticket.id, mail.subject, language)
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(desk_address, desk_name)
    message["To"] = _address(ticket.customer, ticket.customer_name)
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(zone))
    message["Message-ID"] = message_id
    if mail.message_id:
        message["In-Reply-To"] = mail.message_id
        message["References"] = " ".join([*mail.references[-10:], mail.message_id])
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Mailticket-Ticket"] = ticket.id
    message.set_content(body, charset="utf-8")
    message["Content-Language"] = "zh-CN" if language == "zh" else "en"  # after set_content
    outgoing = OutgoingMail(
        id=outbox_id,
        ticket_id=ticket.id,
        kind=MessageKind.ACKNOWLEDGEMENT,
        message_id=message_id,
        mail_from=desk_address,
        rcpt_to=(ticket.customer,),
        subject=subject,
        raw=message.as_bytes().decode("ascii"),
        created=now,
    )
    return outgoing, body
