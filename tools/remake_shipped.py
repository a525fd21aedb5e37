"""Re-runs the recipes of the files the package ships (`adapterlab.recipes`) and reports their quality.

    .venv/bin/python tools/remake_shipped.py            # into a temporary folder: compare, change nothing
    .venv/bin/python tools/remake_shipped.py --write    # replace src/adapterlab/data/ with the new files

`gpt2-mini` is made first; the adapters are then trained on the `gpt2-mini` in the package's data
folder, so with --write they are trained on the new one. Takes about 90 s on one core.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import adapterlab  # noqa: F401  (first: hub offline, quiet progress bars)
from adapterlab import recipes
from adapterlab.adapters import DEMO_ADAPTER_DIR, TASK_ADAPTERS
from adapterlab.models import MINI_DIR
from adapterlab.tasks import TASKS


def _replace(new: Path, old: Path) -> None:
    if old.exists():
        shutil.rmtree(old)
    shutil.copytree(new, old)
    for path in [old, *old.rglob("*")]:  # readable by every account, as git checks them out (no 0600 copies)
        path.chmod(0o755 if path.is_dir() else 0o644)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the shipped files with the new ones")
    parser.add_argument("--adapters-only", action="store_true", help="keep gpt2-mini; retrain the adapters on it")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="adapterlab-remake-"))
    if not args.adapters_only:
        start = time.perf_counter()
        losses = recipes.make_gpt2_mini(out / "gpt2-mini")
        print(f"gpt2-mini: final loss {sum(losses[-20:]) / 20:.3f} (mean of the last 20 steps), "
              f"{time.perf_counter() - start:.0f} s")
        if args.write:
            _replace(out / "gpt2-mini", MINI_DIR)
    for task in TASKS:
        start = time.perf_counter()
        (out / "adapters" / task).mkdir(parents=True)
        stamp = recipes.make_task_adapter(task, out / "adapters" / task)
        print(f"adapter {task}: accuracy {stamp['train_accuracy']:.0%} on its training examples, "
              f"{stamp['held_out_accuracy']:.0%} held out, {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    demo = recipes.make_demo_adapters(out / "demo-adapters")
    print(f"demo adapters: final losses { {k: round(v[-1], 3) for k, v in demo.items()} }, "
          f"{time.perf_counter() - start:.0f} s")
    if args.write:
        _replace(out / "adapters", TASK_ADAPTERS)
        _replace(out / "demo-adapters", DEMO_ADAPTER_DIR)
        print("written into src/adapterlab/data/")
    else:
        print(f"left in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
