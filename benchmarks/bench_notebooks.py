"""How long each notebook takes: a clean top-to-bottom run in a fresh kernel, warm and cold model cache.

Each `notebooks/*.ipynb` is executed with nbclient (what `jupyter nbconvert --execute` uses) in a new
kernel whose `ADAPTERLAB_CACHE` is a private temporary folder:

- warm: the folder links to what `python -m adapterlab build` (`make models`, run by `make lab`)
  built, once, into a fresh folder of its own: where a learner stands after `make lab`, with nothing
  left over from earlier runs (anything a notebook caches beyond that is built in the run);
- cold: the folder is empty, so the notebook also builds every model and adapter it loads.

Wall time counts the notebook's cells only (kernel start-up is reported beside it). Peak memory is
the kernel's own peak resident set size, asked of the kernel after the last cell: on Linux VmHWM in
/proc/self/status, the high-water mark of the kernel's own memory. Not `getrusage().ru_maxrss`:
Linux carries that figure across exec, so a kernel started by a big process (this benchmark, with
torch and a model loaded) would report its parent's size as its own. On macOS, ru_maxrss. The stored
notebooks are never written to.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

BUDGET_SECONDS = 45  # each notebook, warm cache, 2 CPU cores (docs/AUTHORING.md)
BUDGET_BYTES = 0.9e9  # peak memory: headroom under the 1 GB mybinder.org guarantees a learner (as human_size counts)
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# VmHWM is in kB; ru_maxrss (macOS, which has no /proc) in bytes.
_PEAK_CODE = ("import os as _o, resource as _r\n"
              "print(next(int(_l.split()[1]) * 1024 for _l in open('/proc/self/status') if _l.startswith('VmHWM:'))\n"
              "      if _o.path.exists('/proc/self/status') else _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)")


def find_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """Returns the workbook's notebooks in reading order (whatever exists now)."""
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


WARM_CACHE = "what `python -m adapterlab build` (`make models`, part of `make lab`) builds, and nothing else"
COLD_CACHE = "an empty `ADAPTERLAB_CACHE`, so the notebook also builds every model and adapter it loads"


@contextlib.contextmanager
def built_cache(progress: bool = True) -> Iterator[tuple[Path, float]]:
    """Runs `python -m adapterlab build` into a fresh temporary folder; yields (folder, seconds it took)."""
    with tempfile.TemporaryDirectory(prefix="adapterlab-built-") as tmp:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "adapterlab", "build"], capture_output=True, text=True,
                              env={**os.environ, "ADAPTERLAB_CACHE": tmp})
        seconds = time.perf_counter() - start
        if done.returncode:
            raise RuntimeError(f"python -m adapterlab build failed:\n{done.stdout}{done.stderr}")
        if progress:
            print(f"{'make models (adapterlab build)':<40} {seconds:6.1f} s", flush=True)
        yield Path(tmp), seconds


@contextlib.contextmanager
def model_cache(kind: str, built: Path | None = None) -> Iterator[Path]:
    """Yields a private ADAPTERLAB_CACHE: 'cold' is empty, 'warm' links every entry of `built` but its lock files."""
    if kind not in ("warm", "cold"):
        raise ValueError(f"Unknown cache kind {kind!r}: use 'warm' or 'cold'.")
    if kind == "warm" and built is None:
        raise ValueError("A warm cache needs the folder `built_cache()` built.")
    with tempfile.TemporaryDirectory(prefix=f"adapterlab-{kind}-") as tmp:
        for entry in sorted(built.iterdir()) if kind == "warm" else []:
            if not entry.name.startswith("."):  # lock files and interrupted builds stay behind
                (Path(tmp) / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
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
    section: dict[str, Any] = {"budget_seconds": BUDGET_SECONDS, "budget_bytes": BUDGET_BYTES, "repetitions": 1,
                               "warm_cache": WARM_CACHE, "cold_cache": COLD_CACHE}
    with contextlib.ExitStack() as stack:
        built = None
        if "warm" in kinds:
            built, section["make_models_s"] = stack.enter_context(built_cache(progress))
        for kind in kinds:  # all warm runs first, then all cold ones
            for path in notebooks:
                with model_cache(kind, built) as cache:
                    result = run_notebook(path, cache, timeout)
                rows[path.name][kind] = result
                if progress:
                    note = f"  FAILED {result['error']}" if result["error"] else ""
                    print(f"{path.name:<40} {kind}: {result['wall_s']:6.1f} s, "
                          f"peak {result['peak_rss_bytes'] / 1e9:.2f} GB{note}", flush=True)
    return {**section, "rows": rows}
