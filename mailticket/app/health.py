"""The daemon's health for `mailticket status`: its heartbeat, the SMTP login it tried at
start, tickets past their SLA deadline and the store's schema version.

A heartbeat older than `STALE_SECONDS` means the loop is stuck or the process is gone (systemd
may still say "active" for a hung process); a clean stop is recorded too. No heartbeat at all
is shown but not alerted on: a desk fed by an MTA pipe and `poll --once` from cron has no
daemon. A stale or stopped daemon, a refused SMTP login, a daemon left on an older version and
a schema newer than this mailticket need a person: they go into `problems`, which make `status`
exit 1. Overdue tickets are the agents' work (the supervisor is escalated to), not a fault of
the service: counted, not alerted on.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from mailticket import __version__
from mailticket.app.daemon import HEARTBEAT_MARK, HEARTBEAT_SECONDS, SMTP_ERROR_MARK
from mailticket.config import Config
from mailticket.errors import StoreError
from mailticket.store import Store, migrate
from mailticket.store.engine import default_url, open_engine

# Ten beats missed: longer than any one intake batch or SMTP batch should hold the loop.
STALE_SECONDS = 10 * HEARTBEAT_SECONDS

LABELS = ("smtp_error", "heartbeat", "sla_overdue", "schema")


def schema(config: Config) -> dict[str, Any]:
    """The store's schema revision, read without migrating (opening the store would upgrade
    an older one, and refuses a newer one with an error instead of a status)."""
    url = config.storage.url or default_url(config.storage_path)
    engine = open_engine(
        url, password=config.password("storage"), lock_timeout=config.storage.lock_timeout
    )
    try:
        with engine.connect() as connection:
            state = migrate.state(connection)
    except SQLAlchemyError as exc:
        raise StoreError(f"the store {url} failed: {exc.__class__.__name__}") from None
    finally:
        engine.dispose()
    return {"revision": state.current, "head": state.head, "newer": state.newer}


def gather(store: Store, now: datetime) -> dict[str, Any]:
    beat = json.loads(store.mark(HEARTBEAT_MARK) or "{}")
    if beat:
        age = (now - datetime.fromisoformat(beat["at"])).total_seconds()
        beat |= {"age_seconds": round(age), "stale": age > STALE_SECONDS}
    return {
        "smtp_error": json.loads(store.mark(SMTP_ERROR_MARK) or "{}"),
        "heartbeat": beat,
        "sla_overdue": store.overdue(now),
    }


def schema_problems(schema: dict[str, Any]) -> list[str]:
    if not schema["newer"]:
        return []
    return [
        f"the store has schema {schema['revision']}, newer than this mailticket's "
        f"{schema['head']}: upgrade mailticket / 数据库版本比本程序新"
    ]


def problems(report: dict[str, Any]) -> list[str]:
    found = []
    beat = report["heartbeat"]
    if not beat:  # a desk fed by an MTA pipe and `poll --once` from cron runs no daemon
        pass
    elif beat["state"] == "stopped":
        found.append(f"the daemon stopped at {beat['at']} / 守护进程已停止")
    elif beat["stale"]:
        found.append(
            f"the daemon's heartbeat is {beat['age_seconds']} s old (pid {beat['pid']} on "
            f"{beat['host']}): stuck or gone / 守护进程无响应"
        )
    elif beat["version"] != __version__:
        found.append(
            f"the daemon runs mailticket {beat['version']}, this is {__version__}: restart it "
            "after an upgrade / 升级后请重启守护进程"
        )
    if report["smtp_error"].get("login"):
        found.append(report["smtp_error"]["error"])
    return found


def text(key: str, value: Any) -> str:
    """The human table's cell for one of `LABELS`."""
    if key == "heartbeat":
        if not value:
            return "never: no daemon has run (pipe and cron only?) / 守护进程从未运行"
        state = "STALE / 已过期" if value["stale"] else value["state"]
        return (
            f"{value['age_seconds']} s ago ({state}), pid {value['pid']} on {value['host']}, "
            f"mailticket {value['version']}"
        )
    if key == "smtp_error":
        if not value:
            return "- (not tried: no SMTP login, or no daemon yet / 未检查)"
        return f"{value['error']} (at {value['at']})" if value["error"] else f"ok at {value['at']}"
    if key == "schema":
        if value["newer"]:
            return (
                f"{value['revision']} (newer than this mailticket's {value['head']} / 比本程序新)"
            )
        return f"{value['revision']} (this mailticket's {value['head']})"
    return str(value)
