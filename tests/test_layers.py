"""The package reads bottom-up (STYLE.md, habit 13): every module has a floor, and no import goes up a floor.

`FLOORS` is the whole map, bottom first. A module may import modules of its own floor or lower ones, never a
higher one, not even inside a function (an import inside a function is still an arrow). A new module must
be placed here before its tests pass; and no module reaches itself by following imports.
"""

import ast
from pathlib import Path

import pytest

import adapterlab

PACKAGE = Path(adapterlab.__file__).parent
FLOORS = [
    ("data and file formats", ["adapterlab", "corpus", "tables", "files", "adapter_files", "safetensors_format",
                               "shapes"]),
    ("cache", ["cache", "progress"]),
    ("models and what reads them", ["models", "llama_mini", "storage", "inspection", "checkpoint", "loading", "census",
                                    "merging", "timing"]),
    ("training", ["training", "lora_configs"]),
    ("tasks and adapters", ["tasks", "adapters", "recipes", "workspace", "build"]),
    ("notebooks' helpers", ["envcheck", "expect", "feedback", "exercises", "widgets", "plots", "targets",
                            "calculator", "judging", "adapter_state", "questions",
                            # every notebook's question module (questions/nbNN.py) sits on this floor
                            *sorted(f"questions.{p.stem}" for p in (PACKAGE / "questions").glob("nb*.py"))]),
    ("command line", ["cli", "__main__"]),
]
FLOOR = {("adapterlab" if m == "adapterlab" else f"adapterlab.{m}"): (i, name)
         for i, (name, modules) in enumerate(FLOORS) for m in modules}


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


def test_every_module_is_placed_on_a_floor(graph):
    """Each module of the package, __init__, __main__ and questions included, is on exactly one floor, and the
    map names no module that does not exist."""
    placed = [m for _, modules in FLOORS for m in modules]
    assert len(placed) == len(set(placed)), "a module is on two floors"
    assert sorted(set(graph) - set(FLOOR)) == [], "modules without a floor: add them to FLOORS"
    assert sorted(set(FLOOR) - set(graph)) == [], "FLOORS names modules that do not exist"


def test_no_import_goes_up_a_floor(graph):
    """No module imports one on a higher floor, at the top of the file or inside a function."""
    upward = [f"{m} (floor {FLOOR[m][0]}, {FLOOR[m][1]}) imports {i} (floor {FLOOR[i][0]}, {FLOOR[i][1]})"
              for m, imported in sorted(graph.items()) for i in sorted(imported)
              if m in FLOOR and i in FLOOR and FLOOR[i][0] > FLOOR[m][0]]
    assert not upward, "imports going up a floor:\n" + "\n".join(upward)


def test_there_is_no_import_cycle(graph):
    """No module reaches itself by following imports."""
    cycles = sorted(m for m in graph if m in reachable(graph, m))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_every_module_imports_without_fcntl():
    """Windows has no fcntl: every module must import without it (the lock comes from the filelock package)."""
    import subprocess
    import sys

    names = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")
    code = ("import sys; sys.modules['fcntl'] = None\n"  # `import fcntl` now raises ImportError, as on Windows
            f"import importlib\nfor name in {names!r}:\n    importlib.import_module(name)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
