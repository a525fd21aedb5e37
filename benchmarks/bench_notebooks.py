"""How long each notebook takes: a clean top-to-bottom run in a fresh kernel, warm and cold model cache.

Each `notebooks/*.ipynb` is executed with nbclient (what `jupyter nbconvert --execute` uses) in a new
kernel whose `ADAPTERLAB_CACHE` is a private temporary folder:

- warm: the folder holds links to the base models already built in the normal cache, and nothing
  else, which is where a learner stands after `make lab` (anything a notebook trains and caches
  itself is built in the run, as on a learner's first run);
- cold: the folder is empty, so the notebook also builds the base models it loads.

Wall time counts the notebook's cells only (kernel start-up is reported beside it). Peak memory is
the kernel's own peak resident set size, `getrusage(RUSAGE_SELF).ru_maxrss`, asked of the kernel
after the last cell (on Linux the same figure as VmHWM in /proc/<pid>/status). The stored
notebooks are never written to.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from adapterlab.models import BASE_MODELS, build

BUDGET_SECONDS = 45  # each notebook, warm cache, 2 CPU cores (docs/AUTHORING.md)
BUDGET_BYTES = 3e9  # peak memory, 3 GB as adapterlab.files.human_size counts
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# ru_maxrss is in kilobytes on Linux and in bytes on macOS.
_PEAK_CODE = "import resource as _r, sys as _s\n" \
             "print(_r.getrusage(_r.RUSAGE_SELF).ru_maxrss * (1 if _s.platform == 'darwin' else 1024))"


def find_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """Returns the workbook's notebooks in reading order (whatever exists now)."""
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


@contextlib.contextmanager
def model_cache(kind: str, models: tuple[str, ...] = BASE_MODELS) -> Iterator[Path]:
    """Yields a private ADAPTERLAB_CACHE: 'cold' is empty, 'warm' links the built `models` and nothing else."""
    if kind not in ("warm", "cold"):
        raise ValueError(f"Unknown cache kind {kind!r}: use 'warm' or 'cold'.")
    with tempfile.TemporaryDirectory(prefix=f"adapterlab-{kind}-") as tmp:
        if kind == "warm":
            for name in models:
                (Path(tmp) / name).symlink_to(build(name), target_is_directory=True)
        yield Path(tmp)


def run_notebook(path: Path, cache: Path, timeout: int = 600) -> dict[str, Any]:
    """Executes notebook `path` in a fresh kernel with ADAPTERLAB_CACHE=`cache`, in the notebook's folder.

    Returns:
        {'wall_s', 'kernel_start_s', 'peak_rss_bytes', 'code_cells', 'error'}; 'error' is None or the
        failing cell's error in one line (the run stops at the first failing cell, as nbval would).
    """
    nb = nbformat.read(path, as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(_PEAK_CODE))
    # log_level=ERROR: ipykernel warns on every start that its local TCP sockets are unencrypted.
    client = NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(path.parent)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    env = {**os.environ, "ADAPTERLAB_CACHE": str(cache)}
    error = None
    start = time.perf_counter()
    with client.setup_kernel(env=env):
        started = time.perf_counter()
        try:
            for index, cell in enumerate(nb.cells[:-1]):
                client.execute_cell(cell, index)
        except CellExecutionError as exc:
            error = f"cell {index}: {exc.ename}: " + (exc.evalue.strip().splitlines() or [""])[0]
        wall = time.perf_counter() - started
        peak_cell = client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
    peak = int(peak_cell.outputs[0]["text"])
    return {"wall_s": wall, "kernel_start_s": started - start, "peak_rss_bytes": peak, "code_cells": code_cells,
            "error": error}


def run(notebooks: list[Path] | None = None, kinds: tuple[str, ...] = ("warm", "cold"), timeout: int = 600,
        progress: bool = True) -> dict[str, Any]:
    """Runs every notebook once per cache kind; returns the 'notebooks' section of docs/benchmarks.json."""
    notebooks = find_notebooks() if notebooks is None else notebooks
    rows: dict[str, dict[str, Any]] = {p.name: {} for p in notebooks}
    for kind in kinds:  # all warm runs first, then all cold ones
        for path in notebooks:
            with model_cache(kind) as cache:
                result = run_notebook(path, cache, timeout)
            rows[path.name][kind] = result
            if progress:
                note = f"  FAILED {result['error']}" if result["error"] else ""
                print(f"{path.name:<40} {kind}: {result['wall_s']:6.1f} s, "
                      f"peak {result['peak_rss_bytes'] / 1e9:.2f} GB{note}", flush=True)
    return {"budget_seconds": BUDGET_SECONDS, "budget_bytes": BUDGET_BYTES, "repetitions": 1, "rows": rows}
