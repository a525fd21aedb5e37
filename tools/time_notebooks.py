"""Measures how long each notebook takes and writes the figures the instructor guide and the map show.

    .venv/bin/python -m tools.time_notebooks                    # run every notebook, warm cache
    .venv/bin/python -m tools.time_notebooks 04_reloading_adapters.ipynb   # only these; keep the rest
    .venv/bin/python -m tools.time_notebooks --from-benchmarks  # take the figures `make bench` measured
    .venv/bin/python -m tools.time_notebooks --render           # only rewrite the docs from the JSON

(Run from the workbook folder, so that `benchmarks` is importable beside `tools`.)

Each notebook runs top to bottom in a fresh kernel with the base models already built (where a learner
stands after `make lab`), through the benchmark's own runner (`benchmarks/bench_notebooks.py`), and the
committed notebook is never written to. The figures go to docs/notebook_times.json with the machine
they came from (cores, load average: a busy machine inflates them); then the run-time lines of
docs/INSTRUCTOR.md (`<!-- time:NAME -->`) and the notebook map in README.md are rewritten from it.

Study time is an estimate from a stated formula, not a measurement: reading the markdown at
200 words a minute, 30 s per code cell, and 3 minutes per exercise in "Check your understanding".

Three kinds of notebook: the core path (`NN_topic`, one workshop day, at most 240 study minutes), the deep
dives (`NNa_topic`, beside the core notebook of their number) and the capstone (`NN_capstone`, the day's
closing project: its own row after the core path, counted neither in the core total nor among the dives).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import bench_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DOCS = ROOT / "docs"
TIMES = DOCS / "notebook_times.json"
WORDS_PER_MINUTE, CODE_CELL_S, EXERCISE_S = 200, 30, 180
BUDGET_S = 45  # per notebook, warm cache, 2 cores (docs/AUTHORING.md)


def describe(path: Path) -> dict:
    """Returns what a notebook holds: title, one-line summary, cells, words, exercises, study minutes."""
    nb = json.loads(path.read_text())
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    title = next((line.lstrip("# ").strip() for text in markdown for line in text.splitlines()
                  if line.startswith("# ")), path.stem)
    words = sum(len(re.findall(r"\w+", text)) for text in markdown)
    # Exercises: the questions the notebook imports from adapterlab.questions.nbNN (a deep dive's: nbNNa).
    imported = re.findall(r"from adapterlab\.questions\.(nb\d+[a-z]?) import ([\w, ]+)", "\n".join(code))
    exercises = len({(module, name.strip()) for module, names in imported for name in names.split(",")
                     if re.fullmatch(r"q\d+", name.strip())})  # the questions, not a constant imported beside them
    minutes = words / WORDS_PER_MINUTE + (len(code) * CODE_CELL_S + exercises * EXERCISE_S) / 60
    return {"title": title, "code_cells": len(code), "markdown_words": words, "exercises": exercises,
            "exact_minutes": round(minutes, 1), "study_minutes": int(5 * round(minutes / 5)) or 5}


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None,)
    return {"cpus": os.cpu_count(), "load_average_1min": load[0], "platform": platform.platform(terse=True),
            "python": platform.python_version(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}


def measure(paths: list[Path]) -> dict[str, dict]:
    """Runs each notebook in a fresh kernel (warm model cache); returns seconds and peak memory per notebook."""
    # Exercises answered by the notebooks go to a scratch file, never the learner's progress.
    os.environ.setdefault("ADAPTERLAB_PROGRESS", str(Path(tempfile.mkdtemp()) / "progress.json"))
    rows = {}
    with bench_notebooks.built_cache(progress=False) as (built, _):
        for path in paths:
            with bench_notebooks.model_cache("warm", built) as cache:
                result = bench_notebooks.run_notebook(path, cache)
            row = {"run_s": round(result["wall_s"], 1), "kernel_start_s": round(result["kernel_start_s"], 1),
                   "peak_gb": round(result["peak_rss_bytes"] / 1e9, 2), "error": result["error"],
                   "source": "tools/time_notebooks.py", "machine": machine()}
            rows[path.name] = row
            print(f"{path.name:<34}{row['run_s']:7.1f} s  peak {row['peak_gb']:.2f} GB"
                  + (f"  FAILED {result['error']}" if result["error"] else ""), flush=True)
    return rows


def from_benchmarks() -> dict[str, dict]:
    """The warm-cache figures `make bench` wrote to docs/benchmarks.json."""
    record = json.loads((DOCS / "benchmarks.json").read_text())["notebooks"]
    start = record.get("machine_start", {})
    where = {"cpus": start.get("cpus"), "load_average_1min": start.get("load_average_1min"),
             "date_utc": start.get("when")}
    return {name: {"run_s": round(row["warm"]["wall_s"], 1), "peak_gb": round(row["warm"]["peak_rss_bytes"] / 1e9, 2),
                   "error": row["warm"]["error"], "source": "make bench (docs/benchmarks.json)", "machine": where}
            for name, row in record["rows"].items() if "warm" in row}


def time_text(row: dict | None) -> str:
    if not row:
        return "not measured yet (run `python -m tools.time_notebooks`)"
    cpus, load = row["machine"].get("cpus"), row["machine"].get("load_average_1min")
    where = f"{cpus} cores" + (f", load {load:.1f}" if isinstance(load, (int, float)) else "")
    status = f", FAILED: {row['error']}" if row.get("error") else ""
    peak = f", peak memory {row['peak_gb']:.1f} GB" if row.get("peak_gb") else ""
    return f"{row['run_s']:.0f} s to run all cells (warm cache, {where}; budget {BUDGET_S} s){peak}{status}"


def is_deep_dive(path: Path) -> bool:
    """A deep dive is named after the core notebook it deepens, with a letter: `03a_files_by_hand.ipynb`."""
    return re.match(r"^\d\d[a-z]_", path.name) is not None


def is_capstone(path: Path) -> bool:
    """The capstone, the day's closing project after the core path, is named `NN_capstone.ipynb`."""
    return re.match(r"^\d\d_capstone\.ipynb$", path.name) is not None


def is_core(path: Path) -> bool:
    """A notebook of the core path: neither a deep dive nor the capstone."""
    return not is_deep_dive(path) and not is_capstone(path)


def core_minutes(notebooks: list[Path]) -> int:
    """The core path's study time by the stated formula: the sum over the core notebooks (no deep dive, no
    capstone)."""
    return sum(describe(path)["study_minutes"] for path in notebooks if is_core(path))


def map_table(notebooks: list[Path], times: dict[str, dict]) -> str:
    """The README's map: the core path with its total, then the deep dives beside it, as Markdown."""
    def row(path: Path) -> str:
        info, measured = describe(path), times.get(path.name)
        run = f"{measured['run_s']:.0f} s" if measured else "?"
        return (f"| [`{path.stem}`](notebooks/{path.name}) | {SUMMARIES.get(path.name, info['title'])} "
                f"| ~{info['study_minutes']} min | {run} |")

    core = [path for path in notebooks if is_core(path)]
    dives = [path for path in notebooks if is_deep_dive(path)]
    capstones = [path for path in notebooks if is_capstone(path)]
    lines = ["**The core path** (one workshop day):", "",
             "| notebook | what it teaches | study | runs in |", "|---|---|---|---|", *map(row, core),
             f"| **core path** | | **~{core_minutes(notebooks)} min** | |"]
    if capstones:
        lines += ["", "**The capstone** (the day's closing project, after the core path; not in its total):", "",
                  "| notebook | what it teaches | study | runs in |", "|---|---|---|---|", *map(row, capstones)]
    if dives:
        lines += ["", "**Deep dives** (optional, or homework: each beside the core notebook of its number):", "",
                  "| deep dive | what it teaches | study | runs in |", "|---|---|---|---|", *map(row, dives)]
    return "\n".join(lines)


# The 90-minute session takes core notebooks in this order of priority while their study minutes fit in 90
# (wrap, save, merge, switch, size, reload, train, start); the rest is homework.
NINETY_MINUTES = ["01_lora_wrapping.ipynb", "03_saving_adapters.ipynb", "06_merge_pitfalls.ipynb",
                  "05_switching_adapters.ipynb", "07_storage_formula.ipynb", "04_reloading_adapters.ipynb",
                  "02_training_adapters.ipynb", "00_start_here.ipynb"]
DAY_START, BREAKS = 9 * 60, {2: ("coffee", 15), 4: ("lunch", 60), 6: ("coffee", 15)}  # after the Nth core notebook


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _listed(paths: list[Path]) -> str:
    return ", ".join(f"`{path.stem}` ({describe(path)['study_minutes']} min)" for path in paths)


def schedules(notebooks: list[Path]) -> str:
    """The instructor guide's two plans, as Markdown, every figure the map's study minutes (describe())."""
    core = [path for path in notebooks if is_core(path)]
    clock = DAY_START
    rows = ["| from | to | notebook | study (the map's figure) |", "|---|---|---|---|"]
    for number, path in enumerate(core, start=1):
        minutes = describe(path)["study_minutes"]
        rows.append(f"| {_hhmm(clock)} | {_hhmm(clock + minutes)} | [`{path.stem}`](../notebooks/{path.name}) "
                    f"| {minutes} min |")
        clock += minutes
        if number in BREAKS and number < len(core):
            what, length = BREAKS[number]
            rows.append(f"| {_hhmm(clock)} | {_hhmm(clock + length)} | *{what}* | |")
            clock += length
    teaching = core_minutes(notebooks)
    breaks = sum(length for number, (_, length) in BREAKS.items() if number < len(core))
    day = [f"**One day:** the core path, every exercise: {teaching} min of study and {breaks} min of breaks, "
           f"{(teaching + breaks) // 60} h {(teaching + breaks) % 60:02d} min in all.", "", *rows]
    chosen, ninety = [], 0
    for path in (NOTEBOOKS / name for name in NINETY_MINUTES if (NOTEBOOKS / name).is_file()):
        if ninety + describe(path)["study_minutes"] <= 90:
            chosen.append(path)
            ninety += describe(path)["study_minutes"]
    chosen.sort()
    short = f"**90 minutes:** {_listed(chosen)}: {ninety} min by the map; the other core notebooks are homework."
    dives = [path for path in notebooks if is_deep_dive(path)]
    homework = (f"**Deep dives** (optional, or homework; {sum(describe(p)['study_minutes'] for p in dives)} min "
                f"in all): {_listed(dives)}.")
    capstones = [path for path in notebooks if is_capstone(path)]
    closing = ([f"**Capstone** (the closing project, after the core path or as homework; not in the day's "
                f"total): {_listed(capstones)}."] if capstones else [])
    return "\n".join([*day, "", short, "", homework, *([""] + closing if closing else [])])


def render(times: dict[str, dict]) -> None:
    """Rewrites the measured lines of docs/INSTRUCTOR.md and the notebook map of README.md."""
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    guide = DOCS / "INSTRUCTOR.md"
    if guide.is_file():
        text = guide.read_text()
        for path in notebooks:
            text = re.sub(rf"^(- \*\*Run time:\*\* ).*(<!-- time:{re.escape(path.name)} -->)$",
                          lambda m, p=path: f"{m[1]}{time_text(times.get(p.name))} {m[2]}", text, flags=re.M)
        text = re.sub(r"<!-- schedules:start -->.*<!-- schedules:end -->",
                      lambda _: f"<!-- schedules:start -->\n{schedules(notebooks)}\n<!-- schedules:end -->",
                      text, flags=re.S)
        guide.write_text(text)
    table = map_table(notebooks, times)
    notebook_map = ROOT / "README.md"
    text = notebook_map.read_text()
    text = re.sub(r"<!-- map:start -->.*<!-- map:end -->", lambda _: f"<!-- map:start -->\n{table}\n<!-- map:end -->",
                  text, flags=re.S)
    notebook_map.write_text(text)


# One line per notebook for the map; a notebook missing here is listed by its title.
SUMMARIES = {
    "00_start_here.ipynb": "check the environment, meet the two offline GPT-2s and where their parameters live",
    "01_lora_wrapping.ipynb": "LoRA on one layer by hand, then `get_peft_model` on GPT-2: `Conv1D`, "
                              "`fan_in_fan_out`, trainable counts",
    "02_training_adapters.ipynb": "you write the training: a `datasets` dataset, the collator that masks the "
                                  "prompt, `TrainingArguments` and a `Trainer` with an eval set; held-out accuracy, "
                                  "overfitting seen",
    "03_saving_adapters.ipynb": "what `save_pretrained` writes: the three files, the fields of "
                                "`adapter_config.json` that matter, saving only the adapter",
    "04_reloading_adapters.ipynb": "`PeftModel.from_pretrained`, `is_trainable`, `load_adapter` and the active "
                                   "adapter, device and dtype, your own adapter reloaded",
    "05_switching_adapters.ipynb": "two adapters that learned different tasks: `set_adapter`, "
                                   "`disable_adapter`, mixed batches, what gets saved",
    "06_merge_pitfalls.ipynb": "`merge_and_unload` and its pitfalls: the maths, dtypes, the reversible road, "
                               "disk cost, when to merge",
    "07_storage_formula.ipynb": "the storage formula checked against bytes on disk, what breaks it, "
                                "and a size calculator",
    "08_capstone.ipynb": "a new task end to end: your data split, your collator and `Trainer`, accuracy, the size "
                         "predicted, a shareable folder, reload, serving beside the shipped adapters, merge or not",
    "00a_version_drift.ipynb": "when transformers and PEFT drift apart: the floor transformers checks, and where",
    "01a_second_architecture.ipynb": "a Llama-style model (`nn.Linear` q/k/v/o, GQA): choosing `target_modules`, "
                                     "PEFT's defaults per architecture, the adapter's size by hand",
    "02a_memory_and_scaling.ipynb": "why LoRA: AdamW's memory for full fine-tuning and LoRA; what `r`, "
                                    "`lora_alpha` and rsLoRA do to training",
    "02b_checkpoints_and_resuming.ipynb": "what a checkpoint holds, resuming exactly, keeping the best checkpoint "
                                          "by validation loss",
    "03a_files_by_hand.ipynb": "the safetensors file opened by hand, the legacy pickle and why it is unsafe, "
                               "crash-safe saves",
    "04a_error_lab.ipynb": "ten ways a reload fails (some silently) and how to recover; `hotswap_adapter`",
    "04b_transformers_integration.ipynb": "transformers' own adapter API: `load_adapter`, `add_adapter`, "
                                          "`set_adapter` on a plain model, against PEFT's",
    "04c_device_map_offload.ipynb": "`device_map` with disk offloading on a CPU: LoRA weights on meta with no "
                                    "data, what fails, what works (load first, offload after)",
    "05a_weighted_adapters.ipynb": "combining adapters with `add_weighted_adapter`, and `delete_adapter`",
    "06a_merging_in_depth.ipynb": "the merge's rounding, `safe_merge`, recovery, latency",
    "06b_qlora_for_real.ipynb": "QLoRA for real on a CPU: a 4-bit base (bitsandbytes), training on it, merging "
                                "into 4 bits against the alternatives, saving and reloading 4-bit models",
    "07a_published_figures.ipynb": "published adapter sizes and percentages, recomputed with the formula",
    "07b_file_size_in_depth.ipynb": "what else changes an adapter's file size: whole modules, resized "
                                    "vocabularies, dtypes, DoRA's magnitudes",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to run (file names in notebooks/; default: all)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--from-benchmarks", action="store_true", help="use docs/benchmarks.json from make bench")
    source.add_argument("--render", action="store_true", help="only rewrite the docs from notebook_times.json")
    args = parser.parse_args(argv)
    times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    if args.from_benchmarks:
        if not (DOCS / "benchmarks.json").is_file():
            parser.error("docs/benchmarks.json does not exist yet: run `make bench` first, or leave out the flag")
        times.update(from_benchmarks())
    elif not args.render:
        paths = [NOTEBOOKS / name for name in args.names] or sorted(NOTEBOOKS.glob("*.ipynb"))
        if missing := [p.name for p in paths if not p.is_file()]:
            parser.error(f"no such notebook in notebooks/: {', '.join(missing)}")
        times.update(measure(paths))
    for name, row in times.items():
        if (NOTEBOOKS / name).is_file():
            row.update(describe(NOTEBOOKS / name))
    TIMES.write_text(json.dumps(dict(sorted(times.items())), indent=1) + "\n")
    render(times)
    print(f"wrote {TIMES.relative_to(ROOT)}, docs/INSTRUCTOR.md and the map in README.md")
    return 1 if any(row.get("error") for row in times.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
