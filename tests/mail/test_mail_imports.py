"""`mailticket.mail` imports only what its docstring allows: the data layer, the standard
library and its parsing libraries, so reading a mail never reaches an edge."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mailticket" / "mail"
ALLOWED_OURS = ("mailticket.model", "mailticket.errors", "mailticket.mail")
ALLOWED_LIBRARIES = {"charset_normalizer"}


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_mail_package_imports_only_data_stdlib_and_parsing_libraries() -> None:
    wrong = []
    for path in sorted(PACKAGE.glob("*.py")):
        for module in imports_of(path):
            top = module.split(".")[0]
            if top == "mailticket":
                ok = module.startswith(ALLOWED_OURS)
            else:
                ok = top in sys.stdlib_module_names or top in ALLOWED_LIBRARIES
            if not ok:
                wrong.append(f"{path.name} imports {module}")
    assert wrong == []
    assert len(list(PACKAGE.glob("*.py"))) > 5  # the walk found the package
