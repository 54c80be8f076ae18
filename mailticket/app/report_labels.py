"""What the report's table and page share: the bilingual labels and how a figure is shown."""

from __future__ import annotations

import html
from typing import Any

LABELS = {
    "received": "收到 / Received",
    "acknowledged": "已受理 / Acknowledged",
    "resolved": "已解决 / Resolved",
    "closed": "已关闭 / Closed",
    "still_open": "仍未结 / Still open",
    "within_deadline": "按时 / Within deadline",
    "breached": "超期 / Breached",
    "sla_compliance": "时限达标率 / SLA compliance",
    "escalated": "升级主管 / Escalated",
    "delay_notices": "延期通知 / Delay notices",
    "complete_at_intake": "首次即完整 / Complete at intake",
    "info_requests": "补充信息请求 / Information requests",
    "rounds_until_complete_median": "补充至完整轮数中位 / Median rounds until complete",
    "auto_closed": "超时自动关闭 / Auto-closed",
    "reopened": "重新打开 / Reopened",
    "successors": "后续工单 / Successor tickets",
    "bounces": "退信 / Bounced replies",
    "quarantined": "隔离邮件 / Quarantined mails",
    "outbox_failed": "发送失败 / Outbox failures",
}


def cell(value: Any) -> str:
    """A figure for display: "-" when there is nothing to show."""
    return "-" if value is None else str(value)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)
