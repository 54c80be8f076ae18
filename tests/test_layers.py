"""The import rules of docs/architecture.md, enforced with a walk over the syntax trees.

Two rules hold at once. By kind, a module imports only its own kind or the kinds below it
(data < pure < edges < orchestration), so the pure logic never reaches the network, the disk
or the clock. By package, each sub-package imports only the packages its docstring names, and
no two modules import each other, however indirectly.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mailticket"
TOP = "top"  # the modules directly in mailticket/

KINDS = {
    "data": {"model", "errors", "toml_lines", "budget", "config_sections"},
    "pure": {
        "mail.parse", "mail.quotes", "mail.dsn", "mail.forwards", "mail.charsets", "mail.headers",
        "mail.html", "mail.mime", "mail.content", "mail.feed", "mail.repair", "mail.attachments",
        "mail.markers",
        "completeness.rules", "completeness.extract", "completeness.score", "completeness.guard",
        "completeness.normalise", "completeness.examples", "completeness.text",
        "completeness.contacts", "completeness.amounts", "completeness.dates",
        "completeness.similarity", "completeness.references", "completeness.patterns",
        "desk.calendar", "desk.sla", "desk.match", "desk.decide", "desk.agents", "desk.commands",
        "desk.report",
        "outbound.compose", "outbound.headers", "oauth.tokens", "oauth.config", "environment",
    },
    "edges": {
        "config", "private", "store", "intake.imap", "outbound.smtp", "outbound.lease", "tls",
        "oauth", "oauth.microsoft", "oauth.google", "oauth.http", "oauth.command",
    },
    "orchestration": {
        "desk.context", "desk.tickets", "desk.agent_mail", "desk.sweep", "desk.digest",
        "desk.customer_mail", "desk.files",
        "desk.report_gather", "app.report_view", "app.report_html", "app.report_labels",
        "outbound.outbox", "intake.record", "intake.standing", "intake.bounces", "intake.cycle",
        "app.cli", "app.checks", "app.exits", "app.rules_test", "app.daemon", "app.views",
        "app.demo", "app.logins",
        "app.init", "app.status", "app.preflight", "app.health", "app.logs",
        "app.quarantine", "intake.release",
        "__main__", "__init__",
        "app.db", "app.tickets_view",
    },
}  # fmt: skip
RANK = {module: rank for rank, names in enumerate(KINDS.values()) for module in names}

# What each package may import besides itself; `top` is model, errors, toml_lines, config.
ALLOWED = {
    # __main__ starts the app; config builds the business calendar it describes.
    TOP: {"app", "desk", "oauth"},  # config reads the [oauth.NAME] tables with oauth.config
    "oauth": {TOP},
    "mail": {TOP},
    "completeness": {TOP, "mail"},
    "store": {TOP},
    "outbound": {TOP, "completeness", "desk", "store", "oauth"},
    "desk": {TOP, "mail", "completeness", "outbound", "store"},
    "intake": {TOP, "mail", "completeness", "desk", "outbound", "store", "oauth"},
    "app": {TOP, "mail", "completeness", "desk", "outbound", "intake", "store", "oauth"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if len(parts) > 1 and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_of(module: str) -> str:
    head = module.split(".")[0]
    return head if head in ALLOWED and head != TOP else TOP


def kind_key(module: str) -> str:
    """The KINDS entry of a module: a package's `__init__` counts as its package."""
    return module if module in RANK else module.split(".")[0]


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Modules of ours that `path` imports, named like `desk.sweep` (or `store`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module.removeprefix("mailticket").removeprefix(".")
            if node.module != "mailticket" and not node.module.startswith("mailticket."):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                found.add(candidate if candidate in known else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mailticket."):
                    found.add(alias.name.removeprefix("mailticket."))
    return found - {""}


def test_every_module_has_a_kind() -> None:
    unknown = {m for m in modules() if kind_key(m) not in RANK and m.split(".")[0] not in ALLOWED}
    assert unknown == set(), "add new modules to a kind in this test"
    missing = {m for m in modules() if "." in m and kind_key(m) not in RANK}
    assert missing == set(), "add new modules to a kind in this test"


def test_imports_point_downward_only() -> None:
    known = set(modules())
    wrong = []
    for name, path in modules().items():
        if name.split(".")[0] in ALLOWED and name == name.split(".")[0] and name != "store":
            continue  # a sub-package's __init__ holds only its docstring
        for target in imported_modules(path, known):
            mine, theirs = RANK.get(kind_key(name)), RANK.get(kind_key(target))
            if mine is not None and theirs is not None and theirs > mine:
                wrong.append(f"{name} ({mine}) imports {target} ({theirs})")
    assert wrong == []


def test_packages_import_only_what_their_docstring_allows() -> None:
    known = set(modules())
    wrong = []
    for name, path in modules().items():
        mine = package_of(name)
        for target in imported_modules(path, known):
            theirs = package_of(target)
            if theirs != mine and theirs not in ALLOWED[mine]:
                wrong.append(f"{name} ({mine}) imports {target} ({theirs})")
    assert wrong == []


def test_no_module_imports_itself_through_others() -> None:
    known = set(modules())
    graph = {name: imported_modules(path, known) & known for name, path in modules().items()}
    cycles = []

    def visit(node: str, trail: tuple[str, ...]) -> None:
        if node in trail:
            cycles.append(" -> ".join((*trail[trail.index(node) :], node)))
            return
        for target in graph.get(node, ()):
            visit(target, (*trail, node))

    for start in graph:
        visit(start, ())
    assert cycles == []


def test_sub_packages_say_what_they_own_and_may_import() -> None:
    for package in ALLOWED.keys() - {TOP, "store"}:
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), f"{package}/__init__.py needs its docstring"
