"""Completeness rules: one TOML file per complaint category, written by admins, checked strictly.

A category says how to recognise a complaint (weighted phrases), its deadline in working days and
the details an agent needs (fields), each with a bilingual label and hint and how it is found.
Every mistake is reported as `file:line: key: message`, all of them at once, so `mailticket rules
check` shows an admin everything to fix in one run; the daemon keeps its last good rules when an
edit is broken. The format is documented in `rules/README.md`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailticket.completeness.patterns import (
    Pattern,
    PatternError,
    compile_pattern,
    nested_quantifiers,
)
from mailticket.errors import RuleError
from mailticket.toml_lines import KeyLines, KeyPath, decode_error_line

# How a field is found in a mail; the first four have built-in normalisers (see extract.py).
BUILT_IN_KINDS = ("mobile", "email", "amount", "datetime")
KINDS = (*BUILT_IN_KINDS, "pattern", "keyword", "attachment", "description")
_KIND_KEYS = {"pattern": "patterns", "keyword": "keywords", "attachment": "types"}
_FIELD_KEYS = ("id", "kind", "required", "weight", "label", "hint", "min_length", "labels")
_CATEGORY_KEYS = (
    "id", "name", "sla_working_days", "catch_all", "signals", "fields", "examples",
)  # fmt: skip
_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MEDIA_TYPE = re.compile(r"[a-z]+/(\*|[a-z0-9][a-z0-9.+-]*)")


@dataclass(frozen=True)
class Bilingual:
    zh: str
    en: str

    def get(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True)
class Signal:
    """Phrases (Chinese or English, matched without regard to case or full-width forms) that
    each add `weight` to their category's evidence when present in the customer's text."""

    weight: int
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Field:
    id: str
    kind: str
    label: Bilingual
    hint: Bilingual
    weight: int
    required: bool
    patterns: tuple[Pattern, ...] = ()  # kind "pattern", run on RE2 (`patterns`)
    labels: tuple[str, ...] = ()  # kind "pattern": words a code is written after (references)
    keywords: tuple[str, ...] = ()  # kind "keyword"
    types: tuple[str, ...] = ()  # kind "attachment": media types, "image/*" allowed
    min_length: int = 0  # kind "description": characters of the customer's own words


@dataclass(frozen=True)
class Category:
    id: str
    name: Bilingual
    sla_working_days: int
    signals: tuple[Signal, ...]
    fields: tuple[Field, ...]
    catch_all: bool = False
    source: str = ""
    # Example complaints of this category: a mail close to them (character n-grams) is read
    # as this category even when it uses none of the phrases.
    examples: tuple[str, ...] = ()

    def field(self, field_id: str) -> Field | None:
        return next((f for f in self.fields if f.id == field_id), None)


@dataclass(frozen=True)
class RuleSet:
    categories: tuple[Category, ...]  # exactly one of them is the catch-all
    warnings: tuple[RuleError, ...] = ()  # worth fixing; `rules check` and the daemon say them

    @property
    def catch_all(self) -> Category:
        return next(c for c in self.categories if c.catch_all)

    def get(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)


def load_rules(folder: Path) -> RuleSet:
    """The rules in `folder`; raises the first `RuleError` when anything is wrong."""
    rules, errors = check_rules(folder)
    if errors:
        more = f" (and {len(errors) - 1} more: run `mailticket rules check`)" if errors[1:] else ""
        first = errors[0]
        raise RuleError(first.detail + more, path=first.path, key=first.key, line=first.line)
    assert rules is not None
    return rules


def check_rules(
    folder: Path, found_warnings: list[RuleError] | None = None
) -> tuple[RuleSet | None, list[RuleError]]:
    """Every rule file of `folder` read and validated; the rules only when there is no error.
    Warnings (the rules load all the same) go to `found_warnings` and the rules' `warnings`."""
    if not folder.is_dir():
        return None, [RuleError("is not a folder of rule files", path=str(folder))]
    files = sorted(folder.glob("*.toml"))
    if not files:
        return None, [RuleError("no rule files (*.toml) in this folder", path=str(folder))]
    categories: list[Category] = []
    errors: list[RuleError] = []
    warnings: list[RuleError] = []
    seen: dict[str, str] = {}
    catch_all: str | None = None
    for path in files:
        reader = _FileReader(path)
        category = reader.category()
        if category is not None:
            if category.id in seen:
                reader.error(f"duplicate category id (also in {seen[category.id]})", "id")
            seen.setdefault(category.id, str(path))
            if category.catch_all and catch_all is not None:
                reader.error(
                    f"a second catch-all category (the first is in {catch_all})", "catch_all"
                )
            if category.catch_all:
                catch_all = catch_all or str(path)
            categories.append(category)
        errors.extend(reader.errors)
        warnings.extend(reader.warnings)
    if catch_all is None and not errors:
        errors.append(
            RuleError("no catch-all category: set `catch_all = true` in one file", path=str(folder))
        )
    if found_warnings is not None:
        found_warnings.extend(warnings)
    return (None if errors else RuleSet(tuple(categories), tuple(warnings))), errors


def _display(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


class _FileReader:
    """Reads one rule file, collecting every error with the line it is about."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors: list[RuleError] = []
        self.warnings: list[RuleError] = []  # worth fixing, but the rules still load
        self.text = ""
        self.lines = KeyLines("")

    def error(self, message: str, *where: str | int) -> None:
        self.errors.append(self._at(message, where))

    def warn(self, message: str, *where: str | int) -> None:
        self.warnings.append(self._at(message, where))

    def _at(self, message: str, where: KeyPath) -> RuleError:
        return RuleError(
            message,
            path=str(self.path),
            key=_display(where) or None,
            line=self.lines.line(*where, nearest=True),
        )

    def category(self) -> Category | None:
        try:
            self.text = self.path.read_text(encoding="utf-8")
            data = tomllib.loads(self.text)
        except (OSError, UnicodeDecodeError) as exc:
            self.error(f"cannot read: {exc}")
            return None
        except tomllib.TOMLDecodeError as exc:
            self.errors.append(
                RuleError(f"invalid TOML: {exc}", path=str(self.path), line=decode_error_line(exc))
            )
            return None
        self.lines = KeyLines(self.text)
        self._known(data, _CATEGORY_KEYS)
        category_id = self._id(data)
        catch_all = self._value(data, (), "catch_all", bool, False)
        signals = tuple(
            s
            for i, table in enumerate(self._tables(data, "signals"))
            if (s := self._signal(table, ("signals", i))) is not None
        )
        if not catch_all and not signals and "signals" not in data:
            self.error("needs at least one [[signals]] table to be recognised", "id")
        fields = tuple(
            f
            for i, table in enumerate(self._tables(data, "fields"))
            if (f := self._field(table, ("fields", i))) is not None
        )
        ids = [f.id for f in fields]
        for i, field_id in enumerate(ids):
            if field_id in ids[:i]:
                self.error(f"duplicate field id {field_id!r}", "fields", i, "id")
        name = self._bilingual(data, (), "name")
        days = self._value(data, (), "sla_working_days", int, None, required=True)
        if days is not None and days < 1:
            self.error("must be at least 1", "sla_working_days")
        if category_id is None or name is None or days is None:
            return None
        return Category(
            id=category_id,
            name=name,
            sla_working_days=days,
            signals=signals,
            fields=fields,
            catch_all=catch_all,
            source=str(self.path),
            examples=self._strings(data, (), "examples", required=False) or (),
        )

    # --- parts --------------------------------------------------------------------------------

    def _signal(self, table: dict[str, Any], where: KeyPath) -> Signal | None:
        self._known(table, ("weight", "phrases"), where)
        weight = self._value(table, where, "weight", int, None, required=True)
        phrases = self._strings(table, where, "phrases", required=True)
        if weight is not None and weight < 1:
            self.error("must be at least 1", *where, "weight")
        if weight is None or phrases is None:
            return None
        return Signal(weight, phrases)

    def _field(self, table: dict[str, Any], where: KeyPath) -> Field | None:
        kind = self._value(table, where, "kind", str, None, required=True)
        if kind is not None and kind not in KINDS:
            self.error(f"unknown kind {kind!r} (known: {', '.join(KINDS)})", *where, "kind")
            kind = None
        extra = _KIND_KEYS.get(kind or "")
        self._known(table, (*_FIELD_KEYS, *_KIND_KEYS.values()), where)
        for key in _KIND_KEYS.values():
            if key in table and key != extra and kind is not None:
                self.error(f"is not used by a field of kind {kind!r}", *where, key)
        for key, used_by in (("min_length", "description"), ("labels", "pattern")):
            if key in table and kind not in (used_by, None):
                self.error(f"is not used by a field of kind {kind!r}", *where, key)
        field_id = self._id(table, where)
        weight = self._value(table, where, "weight", int, None, required=True)
        if weight is not None and weight < 0:
            self.error("must not be negative", *where, "weight")
        required = self._value(table, where, "required", bool, False)
        label = self._bilingual(table, where, "label")
        hint = self._bilingual(table, where, "hint")
        found: dict[str, Any] = {}
        if kind == "pattern":
            found["labels"] = self._strings(table, where, "labels", required=False) or ()
            found["patterns"] = (
                self._patterns(table, where) if "patterns" in table or not found["labels"] else ()
            )
        elif kind == "keyword":
            found["keywords"] = self._strings(table, where, "keywords", required=True)
        elif kind == "attachment":
            found["types"] = self._media_types(table, where)
        elif kind == "description":
            found["min_length"] = self._value(table, where, "min_length", int, None, required=True)
            if found["min_length"] is not None and found["min_length"] < 1:
                self.error("must be at least 1", *where, "min_length")
        parts = (kind, field_id, weight, label, hint, *found.values())
        if any(part is None for part in parts):
            return None
        assert kind and field_id and label and hint and weight is not None
        return Field(field_id, kind, label, hint, weight, required, **found)

    def _patterns(self, table: dict[str, Any], where: KeyPath) -> tuple[Pattern, ...] | None:
        sources = self._strings(table, where, "patterns", required=True)
        if sources is None:
            return None
        compiled = []
        for i, source in enumerate(sources):
            try:
                pattern = compile_pattern(source)
            except PatternError as exc:
                self.error(f"bad regular expression {source!r}: {exc}", *where, "patterns", i)
                continue
            if nested_quantifiers(source):
                self.warn(
                    f"{source!r} repeats a repetition (like (a+)+): matched safely here (RE2 "
                    "never backtracks), but it would hang a backtracking engine; simplify it",
                    *where,
                    "patterns",
                    i,
                )
            if pattern.search(""):
                self.error(f"{source!r} matches an empty text", *where, "patterns", i)
                continue
            compiled.append(pattern)
        return tuple(compiled) if len(compiled) == len(sources) else None

    def _media_types(self, table: dict[str, Any], where: KeyPath) -> tuple[str, ...] | None:
        types = self._strings(table, where, "types", required=True)
        for i, media_type in enumerate(types or ()):
            if not _MEDIA_TYPE.fullmatch(media_type):
                self.error(
                    f"{media_type!r} is not a media type like image/* or application/pdf",
                    *where,
                    "types",
                    i,
                )
                return None
        return types

    # --- typed values -------------------------------------------------------------------------

    def _known(self, table: dict[str, Any], keys: tuple[str, ...], where: KeyPath = ()) -> None:
        for key in table:
            if key not in keys:
                self.error(f"unknown key (known: {', '.join(keys)})", *where, key)

    def _id(self, table: dict[str, Any], where: KeyPath = ()) -> str | None:
        value = self._value(table, where, "id", str, None, required=True)
        if value is not None and not _ID.fullmatch(value):
            self.error(
                "must be lower-case letters, digits and _ (a-z first, at most 40)", *where, "id"
            )
            return None
        return value

    def _value(
        self,
        table: dict[str, Any],
        where: KeyPath,
        key: str,
        kind: type,
        default: Any,
        *,
        required: bool = False,
    ) -> Any:
        if key not in table:
            if required:
                self.error(f"missing key {key!r}", *where, key)
            return default
        value = table[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.error(f"must be {_TYPE_NAMES[kind]}, not {_toml_type(value)}", *where, key)
            return default
        return value

    def _strings(
        self, table: dict[str, Any], where: KeyPath, key: str, *, required: bool
    ) -> tuple[str, ...] | None:
        value = self._value(table, where, key, list, None, required=required)
        if value is None:
            return None
        if not value:
            self.error("must not be empty", *where, key)
            return None
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.error(f"must be a non-empty string, not {_toml_type(item)}", *where, key, i)
                return None
        return tuple(value)

    def _bilingual(self, table: dict[str, Any], where: KeyPath, key: str) -> Bilingual | None:
        value = self._value(table, where, key, dict, None, required=True)
        if value is None:
            return None
        self._known(value, ("zh", "en"), (*where, key))
        texts = [
            self._value(value, (*where, key), lang, str, None, required=True)
            for lang in ("zh", "en")
        ]
        for lang, text in zip(("zh", "en"), texts, strict=True):
            if text is not None and not text.strip():
                self.error("must not be empty", *where, key, lang)
                return None
        return Bilingual(*texts) if None not in texts else None

    def _tables(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.error(f"must be an array of tables ([[{key}]]), not {_toml_type(value)}", key)
            return []
        return value


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    list: "an array",
    dict: "a table with zh and en",
}


def _toml_type(value: object) -> str:
    names = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }
    return names.get(type(value), type(value).__name__)


@dataclass
class LiveRules:
    """The rules in force for a running desk: reloaded when a file in the folder changes, while
    a broken edit leaves the last good rules in force (and its error in `error`)."""

    folder: Path
    current: RuleSet
    error: RuleError | None = None
    signature: tuple[tuple[str, int, int], ...] = ()

    @classmethod
    def open(cls, folder: Path) -> LiveRules:
        """Raises `RuleError`: a desk does not start on broken rules."""
        signature = _signature(folder)
        return cls(folder, load_rules(folder), signature=signature)

    def refresh(self) -> bool:
        """Reload if anything changed since the last look; True when something did."""
        signature = _signature(self.folder)
        if signature == self.signature:
            return False
        self.signature = signature
        try:
            self.current = load_rules(self.folder)
        except RuleError as exc:
            self.error = exc
        else:
            self.error = None
        return True


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, modification time and size of every rule file: a change in any means reload."""
    found = []
    for path in sorted(folder.glob("*.toml")):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(found)
