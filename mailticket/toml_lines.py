"""Where a key is written in a TOML file, so errors about its value can name the line.

`tomllib` reports lines only for syntax errors; a value that parses but is wrong (a bad regex,
an unknown key, a duplicate id) has no position left in the parsed data. `KeyLines` finds it
again in the text: good enough for the files admins write (one key per line, tables and arrays
of tables, dotted keys), and never wrong about which file.
"""

from __future__ import annotations

import re
import tomllib

KeyPath = tuple[str | int, ...]
"""A key's position: table names, array-of-tables indices (from 0) and the key itself."""

_HEADER = re.compile(r"^\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_BARE_OR_QUOTED = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'""")
_NAME = re.compile(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""")


def _names(dotted: str) -> tuple[str, ...]:
    return tuple(next(g for g in m.groups() if g is not None) for m in _NAME.finditer(dotted))


class KeyLines:
    """Every table header and key of one TOML text, by path, with the line it starts on."""

    def __init__(self, text: str) -> None:
        self.lines: dict[KeyPath, int] = {}
        arrays: dict[KeyPath, int] = {}  # array-of-tables path -> index of its latest element
        current: KeyPath = ()

        def resolve(names: tuple[str, ...]) -> KeyPath:
            path: KeyPath = ()
            for name in names:
                path += (name,)
                if path in arrays:
                    path += (arrays[path],)
            return path

        array_items: tuple[KeyPath, int] | None = None  # a multi-line array: its path, count
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            code = _STRING.sub("\0", stripped).split("#")[0]  # strings blanked, comment cut
            if array_items is not None:
                path, count = array_items
                for _ in range(code.count("\0")):
                    self.lines.setdefault((*path, count), number)
                    count += 1
                array_items = None if "]" in code else (path, count)
                continue
            if match := _ARRAY_HEADER.match(stripped):
                names = _names(match.group(1))
                array = (*resolve(names[:-1]), names[-1])
                arrays[array] = arrays.get(array, -1) + 1
                current = (*array, arrays[array])
            elif match := _HEADER.match(stripped):
                current = resolve(_names(match.group(1)))
            elif match := _KEY.match(stripped):
                path = (*current, *_names(match.group(1)))
                self.lines.setdefault(path, number)
                value = code[code.index("=") + 1 :].strip()
                if value.startswith("["):
                    items = value.count("\0")
                    for index in range(items):
                        self.lines.setdefault((*path, index), number)
                    if "]" not in value:  # more items follow on their own lines
                        array_items = (path, items)
                continue
            else:
                continue
            self.lines.setdefault(current, number)

    def line(self, *path: str | int, nearest: bool = False) -> int | None:
        """The line of `path` (`"imap", "port"` or `"fields", 2, "patterns"`), or None.

        With `nearest`, a path not written as such (an element of an inline array or table, a
        key left out) gives the line of the closest enclosing key or table that is written.
        """
        while path:
            if path in self.lines:
                return self.lines[path]
            if not nearest:
                return None
            path = path[:-1]
        return None


def line_of(text: str, *path: str | int, nearest: bool = False) -> int | None:
    """`KeyLines(text).line(*path)`, for the one-off lookup of an error."""
    return KeyLines(text).line(*path, nearest=nearest)


def decode_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    """The line tomllib names in a syntax error's message."""
    match = re.search(r"line (\d+)", str(exc))
    return int(match.group(1)) if match else None
