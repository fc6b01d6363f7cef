"""No two modules of the package import each other when they load (issue #14, item 2).

Imports under `if TYPE_CHECKING:` are for mypy only and never run, and an
import inside a function runs when it is called: neither makes a cycle at
load time, where a cycle leaves a module half-initialised depending on which
one is imported first.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ingress"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load_time_imports(tree: ast.Module, known: set[str]) -> set[str]:
    found: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending += node.orelse
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                pending += block
            for handler in getattr(node, "handlers", []):
                pending += handler.body
    return found & known


def test_no_module_imports_itself_through_others_at_load_time() -> None:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(paths)
    graph = {name: load_time_imports(ast.parse(path.read_text()), known) - {name}
             for name, path in paths.items()}
    # Peel off modules that import nothing left: what remains imports in a circle.
    left = dict(graph)
    while True:
        leaves = {name for name, imported in left.items() if not imported & left.keys()}
        if not leaves:
            break
        for name in leaves:
            del left[name]
    assert not left, {name: sorted(imported & left.keys()) for name, imported in left.items()}


def test_no_module_of_the_data_plane_is_over_400_lines() -> None:
    # Issue #14, item 2: a reader finds their way in proxy/ by module names.
    long = {str(p.relative_to(PACKAGE)): n for p in (PACKAGE / "proxy").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
