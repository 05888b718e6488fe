"""The one-way data flow is kept: a package never imports one downstream of it.

sensors -> tracking -> prediction -> warning -> sharing -> store -> interfaces, on top of
geo and physics; the top-level modules (contract, errors, timefmt) are the shared edge
types and import no layer. Every import is checked, also those inside functions (a lazy
import is still a dependency) and relative ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kizuna

LAYERS = ["geo", "physics", "sensors", "tracking", "prediction", "warning", "sharing", "store",
          "interfaces"]
PACKAGE = Path(kizuna.__file__).parent


def _kizuna_imports(text: str, path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``kizuna.*`` import in ``text``, the source of the module at
    ``path``, at any depth; relative imports resolved against its package, and the names of
    a ``from`` import counted as modules too (``from kizuna import warning``)."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return [(line, m) for line, m in found if m.startswith("kizuna.")]


def _layer_of(module: str) -> int | None:
    """Rank of ``kizuna.<layer>...`` in LAYERS; None for the top-level modules."""
    name = module.split(".")[1]
    return LAYERS.index(name) if name in LAYERS else None


def _imports_of(path: Path) -> list[tuple[int, str]]:
    return _kizuna_imports(path.read_text("utf-8"), path)


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_imports_a_layer_downstream_of_it(layer):
    rank = LAYERS.index(layer)
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, layer
    upward = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in files
        for line, module in _imports_of(path)
        if (other := _layer_of(module)) is not None and other > rank
    ]
    assert not upward, "\n".join(upward)


def test_top_level_modules_import_no_layer():
    for path in PACKAGE.glob("*.py"):
        if path.name == "__main__.py":  # the entry point runs the CLI, the top of the stack
            continue
        layered = [m for _, m in _imports_of(path) if _layer_of(m) is not None]
        assert not layered, (path.name, layered)


def test_the_check_sees_lazy_and_relative_upward_imports():
    text = "def f():\n    from kizuna.warning.engine import E\n    from ..warning import x\n"
    imports = _kizuna_imports(text, PACKAGE / "tracking" / "tracker.py")
    modules = {m for _, m in imports}
    assert {"kizuna.warning.engine", "kizuna.warning", "kizuna.warning.x"} <= modules
    assert {line for line, _ in imports} == {2, 3}
    assert all(_layer_of(m) == LAYERS.index("warning") for m in modules)
