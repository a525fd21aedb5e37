"""Get a machine ready for the workbook, once (`python -m adapterlab build`, what `make lab` runs).

`gpt2-mini` and the small adapters ship inside the package; `gpt2` (GPT-2 small's shapes, 500 MB) and
`llama-mini` (a Llama-style model of gpt2-mini's size, seeded weights) are built into the model cache, so a
room whose cache is read-only to learners has both before it opens. Each line of the report says what is
ready, and how long it took.
"""

from __future__ import annotations

import time

from adapterlab.adapter_files import is_complete_adapter
from adapterlab.adapters import demo_adapters, trained_adapter
from adapterlab.cache import cache_root
from adapterlab.models import MINI_DIR, build_gpt2, model_dir
from adapterlab.tasks import TASKS


class BuildError(RuntimeError):
    """The package's shipped files are missing; the message says how to get them back."""


def build_lab(force: bool = False) -> list[str]:
    """Builds `gpt2` and `llama-mini` into the model cache and checks the shipped files; returns what is ready.

    Args:
        force: rebuild gpt2 even if a current build is cached.

    Raises:
        adapterlab.cache.CacheError: gpt2 is not built and the cache folder cannot be written.
        BuildError: shipped files are missing.
    """
    start = time.perf_counter()
    build_gpt2(force=force)
    lines = [f"gpt2: ready in the model cache ({cache_root().name}/gpt2, {time.perf_counter() - start:.1f} s)"]
    start = time.perf_counter()
    model_dir("llama-mini")
    lines.append(f"llama-mini: ready in the model cache ({cache_root().name}/llama-mini, "
                 f"{time.perf_counter() - start:.1f} s)")
    adapters = [*map(trained_adapter, TASKS), *demo_adapters().values()]
    missing = [p.name for p in adapters if not is_complete_adapter(p)]
    missing = ([MINI_DIR.name] if not (MINI_DIR / "config.json").is_file() else []) + missing
    if missing:
        raise BuildError(f"the package's shipped files {', '.join(missing)} are missing; reinstall adapterlab "
                         "(`pip install -e .` in the workbook folder)")
    lines.append(f"gpt2-mini and {len(adapters)} small adapters: shipped with the package")
    return lines
