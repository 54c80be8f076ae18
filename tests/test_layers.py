"""The import direction of docs/architecture.md, enforced: a module imports only its own layer
or the layers below it, so the pure logic never reaches the network, the disk or the clock."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mailticket"

LAYERS = {
    "data": {"model", "errors"},
    "pure": {
        "calendar", "parse", "quotes", "dsn", "match", "decide", "compose", "extract",
        "rules", "score", "guard", "toml_lines", "sla", "forwards", "agents", "commands",
        "normalise", "examples",
    },
    "edges": {"config", "store", "imap", "smtp"},
    "orchestration": {
        "pipeline", "daemon", "views", "rules_test", "cli", "demo", "__main__", "__init__",
    },
}  # fmt: skip
RANK = {module: rank for rank, names in enumerate(LAYERS.values()) for module in names}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "mailticket":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("mailticket."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(
                a.name.split(".")[1] for a in node.names if a.name.startswith("mailticket.")
            )
    return found


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules - RANK.keys() == set(), "add new modules to a layer in this test"


def test_imports_point_downward_only() -> None:
    wrong = []
    for path in sorted(PACKAGE.glob("*.py")):
        for target in imported_modules(path):
            if target in RANK and RANK[target] > RANK[path.stem]:
                wrong.append(f"{path.stem} ({RANK[path.stem]}) imports {target} ({RANK[target]})")
    assert wrong == []
