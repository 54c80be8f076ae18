"""Logging to stderr, where systemd's journal (or a container runtime) collects it.

`human` (the default): `2026-12-04 09:30:00,123 INFO mailticket.daemon: message`, one line per
record. `json` (`--log-format json`, for log shippers): one JSON object per line with `time`
(UTC, ISO 8601), `level`, `logger` and `message`, plus the fields a call passes in `extra`
(`ticket_id`, `outbox_id`, `quarantine_id`) and `exc_info` for a traceback, so no record ever
spans two lines. python-json-logger does the encoding.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("human", "json")
HUMAN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
        )
    return logging.Formatter(HUMAN)


def setup(kind: str, level: int) -> None:
    """Like `logging.basicConfig`: does nothing when the root logger has handlers already (an
    embedding program's, or pytest's)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    logging.basicConfig(level=level, handlers=[handler])
