"""`MAILTICKET_*` environment variables: the overlay on the config file, and which names exist.

A container or a systemd unit sets `MAILTICKET_<SECTION>_<KEY>` instead of editing the file; a
mistyped name would otherwise be ignored without a word (the desk then runs on the file's value
or a default), so every `MAILTICKET_` variable must be one mailticket reads: `MAILTICKET_CONFIG`,
a known `<SECTION>_<KEY>`, or a secret that a `*_env` key of the config names. Values are parsed
by the key's type; errors name the variable, never a line of the file.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from mailticket.errors import ConfigError

PREFIX = "MAILTICKET_"
CONFIG_VARIABLE = "MAILTICKET_CONFIG"
WHERE = "environment"


def variable(section: str, key: str) -> str:
    return f"{PREFIX}{section}_{key}".upper()


def overlay(
    data: dict[str, Any], sections: Mapping[str, type], environ: Mapping[str, str]
) -> dict[tuple[str, str], str]:
    """`MAILTICKET_IMAP_PORT=1143` wins over `[imap] port`. Returns which `(section, key)`
    came from which variable, so a later validation error names the variable."""
    taken: dict[tuple[str, str], str] = {}
    for section, section_type in sections.items():
        for key, hint in typing.get_type_hints(section_type).items():
            name = variable(section, key)
            if name not in environ:
                continue
            try:
                value = parse_value(hint, environ[name])
            except ValueError as exc:
                raise ConfigError(str(exc), path=WHERE, key=name) from None
            data.setdefault(section, {})
            if not isinstance(data[section], dict):
                raise ConfigError("is not a table", path=WHERE, key=section)
            data[section][key] = value
            taken[(section, key)] = name
    return taken


def parse_value(hint: Any, raw: str) -> Any:
    if hint is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if typing.get_origin(hint) is list:
        items = [item.strip() for item in raw.split(",") if item.strip()]
        if typing.get_args(hint) == (int,):
            return [parse_value(int, item) for item in items]
        return items
    return raw


def known_names(sections: Mapping[str, type], secret_names: Iterable[str]) -> set[str]:
    """Every `MAILTICKET_` name the program reads with this config."""
    names = {CONFIG_VARIABLE, *secret_names}
    for section, section_type in sections.items():
        names.update(variable(section, key) for key in typing.get_type_hints(section_type))
    return names


def check_unknown(environ: Mapping[str, str], known: set[str]) -> None:
    """A `MAILTICKET_` variable nothing reads is a mistake (a typo, a key that does not
    exist): refused, with the closest name that does exist."""
    unknown = sorted(name for name in environ if name.startswith(PREFIX) and name not in known)
    if not unknown:
        return
    name = unknown[0]
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    more = f"; also unknown: {', '.join(unknown[1:])}" if unknown[1:] else ""
    raise ConfigError(
        f"unknown variable{hint}: mailticket reads {CONFIG_VARIABLE}, "
        f"MAILTICKET_<SECTION>_<KEY> for keys of the config, and the secrets its *_env keys "
        f"name / 未知的环境变量{more}",
        path=WHERE,
        key=name,
    )
