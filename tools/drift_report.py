"""The drift report: the workbook run against the newest releases, written to docs/DRIFT.md.

Every claim in the notebooks is an `assert`, so a run against newer releases tells which claims they
break. `make test-latest` makes `.venv-latest` with the newest release of every runtime dependency,
runs the unit tests and every notebook (nbval: one pytest item per code cell) with `--junitxml`, and
then runs `report`, which reads the XML and writes the Markdown. Failures are grouped by cause: the
same exception type and the same message once numbers, paths and addresses are blanked out.

    python tools/drift_report.py torch --pin torch==2.13.0 --out DIR/torch.json  # prints what to install
    python tools/drift_report.py report --work DIR --out docs/DRIFT.md
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
# pytest writes ESC as the text '#x1B' in junit XML (ESC is not allowed in XML 1.0).
ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")
EXCEPTION = re.compile(r"^((?:\w+\.)*[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt|Iteration))(?::\s*(.*))?$")
SOURCE_LINE = re.compile(r"^-*> *\d+\s+(.*)$")  # IPython's arrow at the line that raised
HINTS = {
    "AssertionError": "The claim itself no longer holds: the computed value changed. Check the number or "
                      "behaviour against the new release, then update the assert and the sentence around it.",
    "ImportError": "A name the workbook imports moved or was removed: find its new home in the release notes.",
    "ModuleNotFoundError": "A module the workbook imports is gone or not installed with the new release.",
    "NameError": "Usually a knock-on failure: an earlier cell of the same notebook failed to define the name.",
    "Timeout": "The cell ran past nbval's cell timeout: the new release is slower here, or it hangs.",
}
DEFAULT_HINT = "The library raised before the cell's claim could be checked: an API or default changed."


@dataclass(frozen=True)
class Result:
    """One junit test case: a unit test or a notebook cell (suite is its junit classname)."""

    suite: str
    name: str
    outcome: str  # 'passed', 'failed' or 'skipped'
    text: str = ""


@dataclass(frozen=True)
class Failure:
    """A failed test case, with the claim it makes (assert lines, the sentence before it)."""

    where: str
    kind: str
    message: str
    asserts: list[str]
    sentence: str


@dataclass
class Cause:
    """Failures sharing an exception type and normalised message."""

    kind: str
    message: str
    failures: list[Failure] = field(default_factory=list)


@dataclass(frozen=True)
class Version:
    """A pinned package: its pin, the newest release the index lists, and the version the run used."""

    name: str
    pin: str
    newest: str
    ran: str


def parse_junit(path: Path) -> list[Result]:
    """Returns the test cases of a pytest junit XML file (none when it does not exist)."""
    if not path.exists():
        return []
    results = []
    for case in ET.parse(path).iter("testcase"):
        outcome, text = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, text = "failed", child.text or child.get("message", "")
            elif child.tag == "skipped" and outcome == "passed":
                outcome = "skipped"
        results.append(Result(case.get("classname", ""), case.get("name", ""), outcome, ANSI.sub("", text)))
    return results


def cause_of(text: str) -> tuple[str, str]:
    """Returns (exception type, message) from a failure's text; a bare assert's message is its source line."""
    lines = [line.rstrip() for line in text.splitlines()]
    if any("Timeout of" in line and "exceeded" in line for line in lines):
        return "Timeout", next(line.split(": ", 1)[-1] for line in lines if "Timeout of" in line)
    for i in range(len(lines) - 1, -1, -1):
        match = EXCEPTION.match(lines[i].strip())
        if match:
            message = " ".join([match.group(2) or ""] + [x.strip() for x in lines[i + 1:] if x.strip()]).strip()
            if not message:
                sources = [m.group(1) for m in map(SOURCE_LINE.match, lines[:i]) if m]
                message = sources[-1].strip() if sources else "(no message)"
            return match.group(1), message
    first = next((line.strip() for line in lines if line.strip()), "(no message)")
    return "Failure", first


def normalise(message: str) -> str:
    """Blanks out what differs between two instances of one cause: addresses, paths, numbers."""
    message = re.sub(r"0x[0-9a-fA-F]+", "0x_", message)
    message = re.sub(r"(?:/[\w.@+-]+)+", "<path>", message)
    message = re.sub(r"\d+(?:\.\d+)*", "N", message)
    return " ".join(message.split())[:300]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _asserts(source: str) -> list[str]:
    """The cell's assert statements, each on one line."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        nodes = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Assert)]
        found = [ast.get_source_segment(code, n) or "" for n in sorted(nodes, key=lambda n: n.lineno)]
    except SyntaxError:
        found = [line for line in code.splitlines() if line.strip().startswith("assert ")]
    return [" ".join(a.split())[:240] for a in found]


def _last_paragraph(markdown: str) -> str:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", markdown) if p.strip()]
    text = paragraphs[-1] if paragraphs else ""
    return text if len(text) <= 400 else "…" + text[-399:]


def cell_claim(notebook: Path, cell_num: int) -> tuple[list[str], str]:
    """Returns the assert lines of code cell `cell_num` (counted as nbval does) and the markdown before it."""
    cells = json.loads(notebook.read_text())["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    if cell_num >= len(code):
        return [], ""
    index = code[cell_num]
    before = next((c for c in reversed(cells[:index]) if c["cell_type"] == "markdown"), None)
    return _asserts(_source(cells[index])), _last_paragraph(_source(before)) if before else ""


def test_claim(module: Path, name: str) -> str:
    """Returns the first line of a unit test's docstring (its claim), or ''."""
    if not module.exists():
        return ""
    base = name.split("[")[0]
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == base:
            return (ast.get_docstring(node) or "").split("\n")[0]
    return ""


def failure_of(result: Result, root: Path) -> Failure:
    """Turns a failed result into a Failure, finding its claim in the notebook or the test module."""
    kind, message = cause_of(result.text)
    if result.suite.endswith(".ipynb") and result.name.startswith("Cell "):
        path = result.suite[: -len(".ipynb")].replace(".", "/") + ".ipynb"
        cell = int(result.name.split()[1])
        asserts, sentence = cell_claim(root / path, cell) if (root / path).exists() else ([], "")
        return Failure(f"`{path}` code cell {cell}", kind, message, asserts, sentence)
    module = root / (result.suite.replace(".", "/") + ".py")
    return Failure(f"`{result.suite}::{result.name}`", kind, message, [], test_claim(module, result.name))


def group_causes(results: list[Result], root: Path) -> list[Cause]:
    """Groups failed results by (exception type, normalised message); the biggest group first."""
    causes: dict[tuple[str, str], Cause] = {}
    for result in (r for r in results if r.outcome == "failed"):
        failure = failure_of(result, root)
        key = (failure.kind, normalise(failure.message))
        causes.setdefault(key, Cause(failure.kind, failure.message)).failures.append(failure)
    return sorted(causes.values(), key=lambda c: -len(c.failures))


def _short(message: str, limit: int) -> str:
    """The message without this machine's paths (the repo, site-packages), cut to `limit` characters."""
    message = re.sub(r"\S*/site-packages/", "", message.replace(f"{ROOT}/", ""))
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _counts(results: list[Result]) -> tuple[int, int, int]:
    outcomes = [r.outcome for r in results]
    return outcomes.count("passed"), outcomes.count("failed"), outcomes.count("skipped")


def build_report(unit: list[Result], cells: list[Result], versions: list[Version], root: Path,
                 notes: list[str], day: str) -> str:
    """Returns the Markdown report: versions, counts, failures by cause, sentences to revisit."""
    out = ["# Drift report: the workbook against the newest releases", "",
           f"Written by `make test-latest` (`tools/drift_report.py`) on {day}; do not edit by hand. The unit "
           "tests and every notebook cell (nbval, `--nbval-lax`) ran in `.venv-latest`, a virtual environment "
           "with the newest release of each runtime dependency, against a model cache of its own. The pins in "
           "`pyproject.toml` stay what `make lab` installs; this report says what the next upgrade would break.",
           "", "## Versions", "", "| package | pin | newest on the index | ran with |", "|---|---|---|---|"]
    out += [f"| {v.name} | {v.pin} | {v.newest} | {v.ran}{'' if v.ran.split('+')[0] == v.pin else ' (new)'} |"
            for v in versions]
    out += [""] + [f"- {note}" for note in notes] + ([""] if notes else [])
    u_pass, u_fail, u_skip = _counts(unit)
    c_pass, c_fail, c_skip = _counts(cells)
    out += ["## Counts", "", f"Unit tests: {u_pass} passed, {u_fail} failed, {u_skip} skipped.",
            f"Notebook cells: {c_pass} of {len(cells)} passed, {c_fail} failed, {c_skip} skipped.", "",
            "| notebook | cells | passed | failed |", "|---|---|---|---|"]
    for suite in dict.fromkeys(r.suite for r in cells):
        mine = [r for r in cells if r.suite == suite]
        p, f, _ = _counts(mine)
        out.append(f"| {suite.split('.')[-2] if suite.count('.') else suite} | {len(mine)} | {p} | {f} |")
    causes = group_causes(unit + cells, root)
    out += ["", "## Failures by cause", ""]
    if not causes:
        out += ["None: every claim holds with the newest releases.", ""]
    for n, cause in enumerate(causes, 1):
        count = f"{len(cause.failures)} failure{'s' if len(cause.failures) > 1 else ''}"
        out += [f"### {n}. {cause.kind}: {_short(cause.message, 90)} ({count})", "", "```text",
                f"{cause.kind}: {_short(cause.message, 1200)}", "```", "",
                f"What to do: {HINTS.get(cause.kind, DEFAULT_HINT)}", ""]
        for f in cause.failures:
            if "code cell" not in f.where:  # a unit test: its docstring is its claim
                out.append(f"- {f.where}: {f.sentence or 'no docstring'}")
                continue
            claim = "claim " + "; ".join(f"`{a}`" for a in f.asserts) if f.asserts else "no assert in this cell"
            out.append(f"- {f.where}: {claim}." + (f' The text before it: "{f.sentence}"' if f.sentence else ""))
        out.append("")
    revisit: dict[str, list[str]] = {}
    for f in (f for c in causes if c.kind == "AssertionError" for f in c.failures if f.sentence):
        revisit.setdefault(f.sentence, []).append(f.where)
    out += ["## Sentences to revisit", ""]
    out += [f'- "{sentence}" (before {", ".join(where)})' for sentence, where in revisit.items()] or [
        "None: no claim's value changed (no assert failed); the failures above are errors raised before one."]
    return "\n".join(out) + "\n"


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def newest_on_index(name: str) -> str:
    """Returns the newest release the index lists for `name` (pip index versions), or '?'."""
    match = re.search(rf"^{re.escape(name)} \(([^)]+)\)", _pip("index", "versions", name).stdout, re.I | re.M)
    return match.group(1) if match else "?"


def choose_torch(pin: str, out: Path) -> str:
    """Returns the torch requirement to install: the newest one pip resolves, unless it is a CUDA build."""
    report = json.loads(_pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-", "torch").stdout)
    items = report["install"]
    newest = next(i["metadata"]["version"] for i in items if i["metadata"]["name"].lower() == "torch")
    cuda = sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"].lower().startswith(("nvidia", "cuda")))
    urls = [urlparse(i["download_info"]["url"]) for i in items]
    local = [Path(unquote(u.path)) for u in urls if u.scheme == "file"]
    size_mb = sum(p.stat().st_size for p in local if p.is_file()) / 1e6
    chosen = pin if cuda else f"torch=={newest}"
    facts = {"pin": pin, "newest": newest, "cuda": cuda, "download_mb": round(size_mb),
             "downloads": len(items), "sized": len(local), "chosen": chosen}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(facts, indent=1))
    return chosen


def torch_note(facts: dict, listed: str) -> str:
    """One sentence on which torch ran, and why (`listed`: the newest release the index lists)."""
    held = "" if listed in ("?", facts["newest"]) else (
        f" (the index lists {listed}, but pip here resolves {facts['newest']}: a pip constraint or the "
        "Python version holds it back)")
    if not facts.get("cuda"):
        return f"torch: pip resolves {facts['newest']}{held} without CUDA packages, so the run used it."
    return (f"torch: the newest torch pip resolves here is {facts['newest']}{held}, a CUDA build that brings "
            f"{len(facts['cuda'])} CUDA packages ({facts['download_mb'] / 1000:.1f} GB to download, counting only "
            f"the {facts['sized']} of {facts['downloads']} wheels whose size is known here), so the run kept "
            f"torch at the pin ({facts['pin']}, the CPU build).")


def main(argv: list[str] | None = None) -> int:
    """`torch` prints the torch requirement to install; `report` writes the Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("torch")
    t.add_argument("--pin", required=True)
    t.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report")
    r.add_argument("--work", type=Path, required=True, help="folder with unit.xml, notebooks.xml, torch.json")
    r.add_argument("--out", type=Path, default=ROOT / "docs" / "DRIFT.md")
    args = parser.parse_args(argv)
    if args.command == "torch":
        print(choose_torch(args.pin, args.out))
        return 0
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    versions = [Version(name, pin, newest_on_index(name), metadata.version(name))
                for name, pin in (line.split("==") for line in pins)]
    notes = []
    if (args.work / "torch.json").exists():
        listed = next(v.newest for v in versions if v.name == "torch")
        notes.append(torch_note(json.loads((args.work / "torch.json").read_text()), listed))
    notes.append("The test tools (nbval, pytest, hypothesis, …) stayed at their pins; only the runtime moved.")
    if (args.work / "started").exists():
        minutes = (time.time() - float((args.work / "started").read_text())) / 60
        cpus = os.cpu_count()
        notes.append(f"The run took {minutes:.0f} min on {cpus} CPUs, venv and model build included.")
    build = args.work / "build.rc"
    if build.exists() and build.read_text().strip() != "0":
        log = (args.work / "build.log").read_text().strip().splitlines() or [""]
        notes.append(f"`python -m adapterlab build` failed (exit {build.read_text().strip()}): {log[-1]}")
    unit, cells = parse_junit(args.work / "unit.xml"), parse_junit(args.work / "notebooks.xml")
    for name, found in (("unit.xml", unit), ("notebooks.xml", cells)):
        if not found:
            notes.append(f"{name}: no results (the run wrote no junit XML; see the console output).")
    args.out.write_text(build_report(unit, cells, versions, ROOT, notes, date.today().isoformat()))
    print(f"wrote {args.out}: {sum(r.outcome == 'failed' for r in unit + cells)} failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
