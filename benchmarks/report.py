"""The benchmark's files: docs/benchmarks.json (every measurement), .md (tables) and .png (the plot).

The JSON file is the record; the markdown and the plot are drawn from it, so no figure in them is
typed by hand. Each section ('notebooks', 'adapters') is replaced on its own, so running one half of
the benchmark keeps the other half's last figures.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

from adapterlab.files import human_size
from adapterlab.tables import format_table
from benchmarks.timing import format_summary, number

DOCS = Path(__file__).resolve().parent.parent / "docs"


def machine() -> dict[str, Any]:
    """Returns what the figures depend on: CPU, cores, versions, threads, and the load right now."""
    import peft
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    with_model_name = Path("/proc/cpuinfo")
    if with_model_name.is_file():
        names = [line.split(":", 1)[1].strip() for line in with_model_name.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cpus": os.cpu_count(), "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "peft": peft.__version__, "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def update(section: str, data: dict[str, Any], path: Path = DOCS / "benchmarks.json") -> dict[str, Any]:
    """Writes `data` (with the machine's description at start and end) as `section` of `path`; returns all."""
    record = json.loads(path.read_text()) if path.is_file() else {}
    record[section] = data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return record


# How sections written before the cache kinds were recorded in the JSON file defined them.
_OLD_WARM = "the base models already built, nothing else"
_OLD_COLD = "an empty `ADAPTERLAB_CACHE`, so the notebook also builds the base models it loads"


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗ over budget"


def notebooks_markdown(section: dict[str, Any]) -> str:
    """Returns the notebook table, each figure beside its budget."""
    budget_s, budget_b = section["budget_seconds"], section["budget_bytes"]
    start, end = section["machine_start"], section["machine_end"]
    lines = [
        "## 1. How long does each notebook take?",
        "",
        f"Measured {start['when']} on {_machine_line(start, end)}. Each notebook ran once per column (n=1), "
        "top to bottom in a fresh kernel; time counts the cells (kernel start-up beside it). "
        f"Budgets, with a warm cache: {budget_s} s per notebook, {human_size(budget_b)} peak memory (a cold "
        "cache builds the 500 MB gpt2 inside the kernel, once). "
        f"Warm: {section.get('warm_cache', _OLD_WARM)}; cold: {section.get('cold_cache', _OLD_COLD)}."
        + (f" `make models` itself took {section['make_models_s']:.0f} s." if "make_models_s" in section else ""),
        "",
    ]
    rows = []
    for name, row in section["rows"].items():
        cells = []
        for kind in ("warm", "cold"):
            run = row.get(kind)
            if run is None:
                cells.append("not run")
            elif run["error"]:
                cells.append(f"FAILED ({run['error'][:60]})")
            else:
                budget = f" / {budget_s} s {_mark(run['wall_s'] <= budget_s)}" if kind == "warm" else ""
                cells.append(f"{run['wall_s']:.1f} s{budget}")
        start_s = next((row[k]["kernel_start_s"] for k in ("warm", "cold") if k in row), None)
        cells.append("" if start_s is None else f"{start_s:.1f} s")
        for kind in ("warm", "cold"):  # the budgets hold for a warm cache, where a learner stands after make lab
            run = row.get(kind)
            peak = run and run["peak_rss_bytes"]
            budget = f" / {human_size(budget_b)} {_mark(peak <= budget_b)}" if kind == "warm" and peak else ""
            cells.append(f"{human_size(peak)}{budget}" if peak else "not run" if run is None else "")
        rows.append([name, *cells])
    lines.append(format_table(rows, ["notebook", "warm cache", "cold cache", "kernel start", "peak memory, warm",
                                     "peak memory, cold"]))
    return "\n".join(lines) + "\n"


def _machine_line(start: dict[str, Any], end: dict[str, Any]) -> str:
    return (f"{start['cpus']} CPUs ({start['cpu']}), {start['system']}, Python {start['python']}, torch "
            f"{start['torch']} ({_threads(start['torch_threads'])}), transformers {start['transformers']}, peft "
            f"{start['peft']}; 1-minute load average {start['load_average_1min']} at the start and "
            f"{end['load_average_1min']} at the end (above {start['cpus']}, other work competed for the CPUs)")


def _threads(n: int) -> str:
    return "1 thread" if n == 1 else f"{n} threads"


def _times(wins: float) -> str:
    return f"{number(wins)}× less" if wins >= 1 else f"{number(1 / wins)}× more"


def _row(measure: str, left: str, left_stat: Any, right: str, right_stat: Any, how: str) -> list[str]:
    if isinstance(left_stat, int):
        shown = (human_size(left_stat), human_size(right_stat))
        wins = right_stat / left_stat
    else:
        shown = (format_summary(left_stat), format_summary(right_stat))
        wins = right_stat["median"] / left_stat["median"]
    return [measure, f"{left}: {shown[0]}", f"{right}: {shown[1]}", f"{_times(wins)} {how}"]


def adapters_markdown(section: dict[str, Any]) -> str:
    """Returns one table per target set: each measurement, adapter side vs full-model side, and the ratio."""
    start, end = section["machine_start"], section["machine_end"]
    lines = [
        "## 2. What does an adapter save?",
        "",
        f"Measured {start['when']} on {_machine_line(start, end)}. Base `{section['base']}`; every time is the "
        f"median of n={section['reps']} repetitions, with their range (min–max) in brackets. Inference greedily "
        f"writes {section['new_tokens']} tokens after a {section['prompt_tokens']}-token prompt. The last column "
        "says how much less (or more) the left side takes than the right.",
        "",
        "![adapter vs full model](benchmarks.png)",
    ]
    for s in section["sets"].values():
        sw, inf, mb = s["switch"], s["inference"], s["mixed_batch"]
        rows = [
            _row("bytes on disk", "adapter folder", s["bytes"]["adapter"], "full checkpoint", s["bytes"]["full"],
                 "disk"),
            _row("save", "adapter", s["save"]["adapter"], "full model", s["save"]["full"], "time"),
            _row("load", "adapter onto a loaded base", s["load"]["adapter"], "full model from disk",
                 s["load"]["full"], "time"),
            _row("task switch", "`set_adapter`", sw["set_adapter"], "another full model", sw["load_full"], "time"),
            _row("task switch", "`load_adapter` from disk", sw["load_adapter"], "another full model",
                 sw["load_full"], "time"),
            _row("inference", "unmerged adapter", inf["unmerged"], "merged model", inf["merged"], "time per token"),
            _row("inference", "unmerged adapter", inf["unmerged"], "base, no adapter", inf["base"], "time per token"),
            _row("mixed batch", f"{mb['rows']} rows, {len(set(mb['adapters']))} adapters, one batch", mb["mixed"],
                 "adapter by adapter", mb["one_adapter_at_a_time"], "time"),
        ]
        lines += [
            "",
            f"### LoRA r={s['r']} on {', '.join(s['targets'])}: {s['params']['adapter']:,} adapter parameters "
            f"on a {s['params']['base']:,}-parameter base",
            "",
            format_table(rows, ["measure", "adapter side", "other side", "adapter side takes"]),
        ]
        checks = s["checks"]
        lines += ["", f"Checked in the same run: merged and unmerged logits agree to "
                  f"{checks['merged_vs_unmerged_max_abs_logit_diff']:.1g} (the adapter moves them by "
                  f"{checks['unmerged_vs_base_max_abs_logit_diff']:.2g}); the mixed batch wrote the same tokens "
                  "as the adapter-by-adapter runs."]
    return "\n".join(lines) + "\n"


def markdown(record: dict[str, Any]) -> str:
    """Returns docs/benchmarks.md for the whole record."""
    parts = ["# Benchmarks", "",
             "Written by `make bench` (`python -m benchmarks`) from `benchmarks.json` beside this file; do not edit "
             "by hand. Absolute times depend on the machine and on what else it was doing; ratios measured in one "
             "run hold better.", ""]
    if "notebooks" in record:
        parts.append(notebooks_markdown(record["notebooks"]))
    if "adapters" in record:
        parts.append(adapters_markdown(record["adapters"]))
    return "\n".join(parts)


PANELS = [  # (title, key, [(label, sub-key)], log scale)
    ("bytes on disk", "bytes", [("adapter", "adapter"), ("full model", "full")], True),
    ("save (s)", "save", [("adapter", "adapter"), ("full model", "full")], True),
    ("load (s)", "load", [("adapter onto base", "adapter"), ("full model", "full")], True),
    ("task switch (s)", "switch", [("set_adapter", "set_adapter"), ("load_adapter", "load_adapter"),
                                    ("full model", "load_full")], True),
    ("inference (ms per token)", "inference", [("base", "base"), ("unmerged", "unmerged"), ("merged", "merged")],
     False),
    ("mixed batch (s)", "mixed_batch", [("one mixed batch", "mixed"), ("adapter by adapter",
                                                                      "one_adapter_at_a_time")], False),
]


def _tick(value: float, _: int) -> str:
    return f"{value:g}"


def _bytes_tick(value: float, _: int) -> str:
    return human_size(value)


def plot(section: dict[str, Any], path: Path = DOCS / "benchmarks.png") -> Path:
    """Draws the adapter section as one figure of six panels (median bars, min–max whiskers); returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    sets = list(section["sets"])
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), layout="constrained")
    for ax, (title, key, sides, log) in zip(axes.flat, PANELS, strict=True):
        width = 0.8 / len(sides)
        for i, (label, sub) in enumerate(sides):
            values = [section["sets"][name][key][sub] for name in sets]
            xs = [j + (i - (len(sides) - 1) / 2) * width for j in range(len(sets))]
            if isinstance(values[0], int):
                ax.bar(xs, values, width, label=label)
                texts = [human_size(v) for v in values]
            else:
                med = [v["median"] for v in values]
                err = [[m - v["min"] for m, v in zip(med, values, strict=True)],
                       [v["max"] - m for m, v in zip(med, values, strict=True)]]
                ax.bar(xs, med, width, yerr=err, capsize=3, label=label)
                texts = [number(m) for m in med]
            for x, y, text in zip(xs, [v if isinstance(v, int) else v["max"] for v in values], texts, strict=True):
                ax.annotate(text, (x, y), ha="center", va="bottom", fontsize=7, xytext=(0, 2),
                            textcoords="offset points")
        ax.set_title(title)
        ax.set_xticks(range(len(sets)), sets, fontsize=8)
        low, high = ax.get_ylim()
        if log:
            ax.set_yscale("log")
            low = min(b.get_height() for b in ax.patches) / 2
            ax.set_ylim(low, high * (high / low) ** 0.35)  # head room for the legend
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_ylim(0, high * 1.35)
        ax.yaxis.set_major_formatter(FuncFormatter(_bytes_tick if key == "bytes" else _tick))
        ax.legend(fontsize=7, loc="upper left", ncols=len(sides))
    start = section["machine_start"]
    fig.suptitle(f"LoRA r=8 adapters on {section['base']} vs their full-model counterparts: median of "
                 f"n={section['reps']} (whiskers: min–max); {start['cpus']} CPUs, torch with "
                 f"{_threads(start['torch_threads'])}, {start['when']}", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
