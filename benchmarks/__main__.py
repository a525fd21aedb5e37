"""`python -m benchmarks`: run the benchmarks and write docs/benchmarks.{json,md,png}.

    python -m benchmarks                    # both halves (what `make bench` runs)
    python -m benchmarks adapters --reps 3  # one half; the other half's last figures are kept
    python -m benchmarks notebooks --warm-only 00_start_here.ipynb
    python -m benchmarks report             # redraw the .md and .png from the .json alone
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks import report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", choices=("all", "notebooks", "adapters", "report"), default="all")
    parser.add_argument("names", nargs="*", help="notebooks to run (file names in notebooks/; default: all)")
    parser.add_argument("--base", default="gpt2", help="base model of the adapter benchmark (default gpt2)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each adapter measurement (default 5)")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens generated per inference run")
    parser.add_argument("--warm-only", action="store_true", help="skip the cold-cache notebook runs")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per notebook cell")
    parser.add_argument("--threads", type=int, help="torch threads, here and in the notebooks' kernels (default: "
                        "torch's own choice); 1 keeps timings meaningful while other work shares the CPUs")
    parser.add_argument("--docs", type=Path, default=report.DOCS, help="folder for benchmarks.json/.md/.png")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be 1 or more")
    json_path = args.docs / "benchmarks.json"
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read by torch when each notebook's kernel starts
    status = 0
    if args.part in ("all", "notebooks"):
        from benchmarks import bench_notebooks

        paths = [bench_notebooks.NOTEBOOKS / name for name in args.names] or bench_notebooks.find_notebooks()
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            parser.error(f"no such notebook in notebooks/: {', '.join(missing)}")
        start = report.machine()
        section = bench_notebooks.run(paths, ("warm",) if args.warm_only else ("warm", "cold"), args.timeout)
        record = report.update("notebooks", {**section, "machine_start": start, "machine_end": report.machine()},
                               json_path)
        print(report.notebooks_markdown(record["notebooks"]))
        failed = [name for name, row in section["rows"].items() if any(r["error"] for r in row.values())]
        if failed:
            print(f"These notebooks failed: {', '.join(failed)}", file=sys.stderr)
            status = 1
    if args.part in ("all", "adapters"):
        from benchmarks import bench_adapters

        start, began = report.machine(), time.perf_counter()
        section = bench_adapters.run(args.base, args.reps, args.new_tokens)
        section["seconds"] = round(time.perf_counter() - began, 1)
        record = report.update("adapters", {**section, "machine_start": start, "machine_end": report.machine()},
                               json_path)
        print(report.adapters_markdown(record["adapters"]))
    record = json.loads(json_path.read_text())
    if "adapters" in record:
        report.plot(record["adapters"], args.docs / "benchmarks.png")
    (args.docs / "benchmarks.md").write_text(report.markdown(record))
    return status


if __name__ == "__main__":
    sys.exit(main())
