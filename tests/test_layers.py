"""The package reads bottom-up: no import cycle, and no module imports one above it, not even inside a function.

The floors (STYLE.md, habit 13): corpus -> cache -> models -> training -> tasks/recipes -> build, with the
shipped adapters' folders (`adapters`) just above models. Every `import` counts, wherever it stands in a
module, because an import inside a function is still an arrow.
"""

import ast
from pathlib import Path

import pytest

import adapterlab

PACKAGE = Path(adapterlab.__file__).parent
FLOORS = ["corpus", "cache", "models", "training", "recipes", "build"]
BELOW = [(a, b) for i, a in enumerate(FLOORS) for b in FLOORS[i + 1 :]] + [
    ("models", "adapters"), ("adapters", "recipes"), ("adapters", "build"), ("tasks", "recipes"), ("corpus", "tasks")]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every adapterlab module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: {i for i in imports_of(p) if i in modules and i not in (m, "adapterlab")} for m, p in modules.items()}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_there_is_no_import_cycle(graph):
    """No module reaches itself by following imports."""
    cycles = sorted(m for m in graph if m in reachable(graph, m))
    assert not cycles, f"modules on an import cycle: {cycles}"


@pytest.mark.parametrize("lower,upper", BELOW)
def test_a_floor_never_imports_one_above_it(graph, lower, upper):
    """A lower floor does not import a higher one, directly or through another module."""
    assert f"adapterlab.{upper}" not in reachable(graph, f"adapterlab.{lower}")


def test_every_module_imports_without_fcntl(monkeypatch):
    """Windows has no fcntl: every module must import without it (the lock comes from the filelock package)."""
    import subprocess
    import sys

    names = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")
    code = ("import sys; sys.modules['fcntl'] = None\n"  # `import fcntl` now raises ImportError, as on Windows
            f"import importlib\nfor name in {names!r}:\n    importlib.import_module(name)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
