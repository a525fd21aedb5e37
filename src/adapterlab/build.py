"""`python -m adapterlab build`: get a machine ready for the workbook, once (what `make lab` runs).

`gpt2-mini` and the small adapters ship inside the package; `gpt2` (GPT-2 small's shapes, 500 MB) is
built into the model cache. Each line says what is ready, and how long it took.
"""

from __future__ import annotations

import time

from adapterlab.adapters import demo_adapters, trained_adapter
from adapterlab.cache import CacheError, cache_root
from adapterlab.cli import Parser, fail, parse
from adapterlab.models import MINI_DIR, build_gpt2
from adapterlab.tasks import TASKS


def main(argv: list[str]) -> int:
    """Builds `gpt2` into the model cache and checks the shipped files; returns the exit status."""
    parser = Parser(prog="python -m adapterlab build", description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild gpt2 even if a current build is cached")
    args, status = parse(parser, argv)
    if args is None:
        return status
    start = time.perf_counter()
    try:
        build_gpt2(force=args.force)
    except CacheError as exc:
        return fail("build", str(exc))
    print(f"gpt2: ready in the model cache ({cache_root().name}/gpt2, {time.perf_counter() - start:.1f} s)")
    shipped = [MINI_DIR, *map(trained_adapter, TASKS), *demo_adapters().values()]
    missing = [p.name for p in shipped
               if not (p / "config.json").is_file() and not (p / "adapter_config.json").is_file()]
    if missing:
        return fail("build", f"the package's shipped files {', '.join(missing)} are missing; reinstall adapterlab "
                             "(`pip install -e .` in the workbook folder)")
    print(f"gpt2-mini and {len(shipped) - 1} small adapters: shipped with the package")
    return 0
