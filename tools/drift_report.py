"""The drift report: the workbook run against the newest releases, written to docs/DRIFT.md.

Every claim in the notebooks is an `assert`, so a run against newer releases tells which claims they
break. `make test-latest` makes `.venv-latest` with the newest release of every runtime dependency,
runs the unit tests and every notebook (nbval: one pytest item per code cell) with `--junitxml`, then
`report`, which reads the XML and writes the Markdown. Failures are grouped by cause: the same
exception type and the same message once numbers, paths and addresses are blanked out.

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
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")  # pytest writes ESC as '#x1B': XML 1.0 forbids it
EXCEPTION = re.compile(r"^((?:\w+\.)*[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt|Iteration))(?::\s*(.*))?$")
SOURCE_LINE = re.compile(r"^-*> *\d+\s+(.*)$")  # IPython's arrow at the line that raised
FRAME = re.compile(r"^File (\S+):\d+, in ([\w.<>]+)")  # an IPython traceback's frame in a library
PINS_CHECK = "is tested with =="  # envcheck.check_package's words for a version that is not the pin
REQUIRES = re.compile(r"version\b.*(?:>=|at least|or (?:newer|higher))", re.I)  # "needs PEFT >= 0.22"
CLAIMS = ("AssertionError", "OutputMismatch")  # failures where the claim itself changed
HINTS = {
    "AssertionError": "The claim no longer holds: the computed value changed. Check it against the release notes, "
                      "then update the assert and the sentences around it when the pin is raised.",
    "OutputMismatch": "The cell's printed output is checked (tag `nbval-check-output`) and it changed: compare the "
                      "two lines; if the new one is right, store it with `make notebooks` when the pin is raised.",
    "VersionCheck": "Expected: the environment check (notebook 00, `adapterlab.envcheck`) compares the kernel with "
                    "the pins, so it fails on purpose here. It passes again once the pins are raised.",
    "ImportError": "A name the workbook imports moved or was removed: find its new home in the release notes.",
    "Timeout": "The cell ran past nbval's cell timeout: the new release is slower here, or it hangs.",
}
DEFAULT_HINT = "The code raised before the claim could be checked: an API, a default or a requirement changed."
REQUIRES_HINT = ("One release now needs a newer release of another package than the run had: raise the two pins "
                 "together once that release is out, and keep this pin until then.")


@dataclass(frozen=True)
class Result:
    """One junit test case: a unit test or a notebook cell (suite is its junit classname)."""

    suite: str
    name: str
    outcome: str  # 'passed', 'failed' or 'skipped'
    text: str = ""  # the failure's full text (a cell's traceback)
    message: str = ""  # pytest's exception line


@dataclass(frozen=True)
class Failure:
    """A failed test case and the claim it makes (assert lines, the text before it or a test's docstring)."""

    where: str
    kind: str
    message: str
    asserts: list[str]
    sentence: str
    knock_on: bool = False  # a NameError after an earlier failed cell of the same notebook
    call: str = ""  # the cell's line that raised, and the library function it called


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
    results = []
    for case in ET.parse(path).iter("testcase") if path.exists() else []:
        outcome, text, message = "passed", "", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, text, message = "failed", child.text or "", child.get("message", "")
            elif child.tag == "skipped" and outcome == "passed":
                outcome = "skipped"
        message = re.sub(r'^failed on \w+ with "(.*)"$', r"\1", message, flags=re.S)  # a fixture's error
        results.append(Result(case.get("classname", ""), case.get("name", ""), outcome,
                              ANSI.sub("", text), ANSI.sub("", message)))
    return results


def cause_of(text: str) -> tuple[str, str]:
    """Returns (kind, message) of a failure's text; a bare assert's message is its source line."""
    lines = [line.rstrip() for line in text.splitlines()]
    if PINS_CHECK in text:
        return "VersionCheck", "the installed versions are not the pins"
    if any("Timeout of" in line and "exceeded" in line for line in lines):
        return "Timeout", next(line.split(": ", 1)[-1] for line in lines if "Timeout of" in line)
    if "Cell outputs differ" in text:
        old = next((x.strip() for x in lines if x.strip().startswith("- ")), "?")
        new = next((x.strip() for x in lines if x.strip().startswith("+ ")), "?")
        return "OutputMismatch", f"stored `{old[2:]}`, now `{new[2:]}`"
    if lines and lines[0].startswith("assert "):  # pytest's message for a failed bare assert
        return "AssertionError", lines[0]
    for i in range(len(lines) - 1, -1, -1):
        match = EXCEPTION.match(lines[i].strip())
        if match:
            message = " ".join([match.group(2) or ""] + [x.strip() for x in lines[i + 1:] if x.strip()]).strip()
            if not message:
                sources = [m.group(1) for m in map(SOURCE_LINE.match, lines[:i]) if m]
                message = sources[-1].strip() if sources else "(no message)"
            return match.group(1), message
    return "Failure", next((line.strip() for line in lines if line.strip()), "(no message)")


def call_site(text: str) -> str:
    """The cell's line that raised and the first library function under it, from an IPython traceback."""
    lines = text.splitlines()
    calls = [m.group(1).strip() for m in map(SOURCE_LINE.match, lines) if m]
    frames = [m for m in map(FRAME.match, lines) if m]
    if not calls or calls[0].startswith("assert "):
        return ""
    into = f" → `{frames[0].group(2)}` ({_short(frames[0].group(1), 80)})" if frames else ""
    return f"`{_short(calls[0], 100)}`{into}"


def normalise(message: str) -> str:
    """Blanks out what differs between two instances of one cause: addresses, paths, numbers."""
    message = re.sub(r"0x[0-9a-fA-F]+", "0x_", message)
    message = re.sub(r"(?:/[\w.@+-]+)+", "<path>", message)
    return " ".join(re.sub(r"\d+(?:\.\d+)*", "N", message).split())[:300]


def _asserts(source: str) -> list[str]:
    """The cell's assert statements, each on one line (IPython magics are skipped)."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        nodes = sorted((n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Assert)), key=lambda n: n.lineno)
        found = [ast.get_source_segment(code, n) or "" for n in nodes]
    except SyntaxError:
        found = [line for line in code.splitlines() if line.strip().startswith("assert ")]
    return [" ".join(a.split())[:240] for a in found]


def _last_paragraph(cell: dict) -> str:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", "".join(cell["source"])) if p.strip()]
    text = paragraphs[-1] if paragraphs else ""
    return text if len(text) <= 300 else "… " + text[-300:].split(". ", 1)[-1]  # whole sentences


def cell_claim(notebook: Path, cell_num: int) -> tuple[list[str], str]:
    """Returns the assert lines of code cell `cell_num` (counted as nbval does) and the markdown before it."""
    cells = json.loads(notebook.read_text())["cells"] if notebook.exists() else []
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    if cell_num >= len(code):
        return [], ""
    before = [c for c in cells[: code[cell_num]] if c["cell_type"] == "markdown"]
    return _asserts("".join(cells[code[cell_num]]["source"])), _last_paragraph(before[-1]) if before else ""


def docstring_claim(module: Path, name: str) -> str:
    """Returns the first line of a unit test's docstring (its claim), or ''."""
    for node in ast.walk(ast.parse(module.read_text())) if module.exists() else []:
        if isinstance(node, ast.FunctionDef) and node.name == name.split("[")[0]:
            return (ast.get_docstring(node) or "").split("\n")[0]
    return ""


def group_causes(results: list[Result], root: Path) -> list[Cause]:
    """Groups failed results by (kind, normalised message), the biggest group first; knock-ons apart."""
    causes: dict[tuple[str, str], Cause] = {}
    failed_notebooks: set[str] = set()
    for r in (r for r in results if r.outcome == "failed"):
        if r.suite.endswith(".ipynb") and r.name.startswith("Cell "):
            kind, message = cause_of(r.text)
            path, cell = r.suite[: -len(".ipynb")].replace(".", "/") + ".ipynb", int(r.name.split()[1])
            asserts, sentence = cell_claim(root / path, cell)
            failure = Failure(f"`{path}` code cell {cell}", kind, message, asserts, sentence,
                              kind == "NameError" and path in failed_notebooks, call_site(r.text))
            failed_notebooks.add(path)
        else:  # a unit test: pytest's one-line message, the docstring as its claim
            kind, message = cause_of(r.text if PINS_CHECK in r.text else (r.message or r.text).split("\n")[0])
            failing = [line[1:].strip() for line in r.text.splitlines() if line.startswith(">")]
            places = re.findall(r"^([\w./-]+\.py:\d+): ", r.text, re.M)
            if failing and message.startswith("assert "):  # values alone say little: add the line that failed
                message = f"{failing[-1]} ({message})"
            elif failing and places and message == "(no message)":
                message = f"(no message), raised by `{failing[-1]}` at {places[-1]}"
            module = root / (r.suite.replace(".", "/") + ".py")
            failure = Failure(f"`{r.suite}::{r.name}`", kind, message, [], docstring_claim(module, r.name))
        key, label = (("knock-on", ""),) * 2 if failure.knock_on else ((kind, normalise(message)), (kind, message))
        causes.setdefault(key, Cause(*label)).failures.append(failure)
    return sorted(causes.values(), key=lambda c: (c.kind == "knock-on", -len(c.failures)))


def _short(message: str, limit: int) -> str:
    """The message without this machine's paths (the repo, site-packages), cut to `limit` characters."""
    message = re.sub(r"\S*/site-packages/", "", message.replace(f"{ROOT}/", ""))
    message = re.sub(r"/tmp/(?:tmp|pytest-of-)[\w-]+/", "<tmp>/", message)
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _counts(results: list[Result]) -> tuple[int, int, int]:
    outcomes = [r.outcome for r in results]
    return outcomes.count("passed"), outcomes.count("failed"), outcomes.count("skipped")


def _failure_line(f: Failure) -> str:
    if "code cell" not in f.where:  # a unit test: its docstring is its claim
        return f"- {f.where}: {f.sentence or '(no docstring)'}"
    claim = "; ".join(f"`{a}`" for a in f.asserts) or "no assert in this cell"
    said = f.sentence and (f.kind in CLAIMS or not f.asserts)
    call = f", at {f.call}" if f.call and f.kind not in CLAIMS else ""
    return f"- {f.where}{call}: {claim}" + (f'. The text before it: "{f.sentence}"' if said else "")


def _hint(cause: Cause) -> str:
    return HINTS.get(cause.kind) or (REQUIRES_HINT if REQUIRES.search(cause.message) else DEFAULT_HINT)


def _cause_section(n: int, cause: Cause) -> list[str]:
    """One cause: its error, what to do, and its failures with their claims (knock-ons: cells only)."""
    count = f"{len(cause.failures)} failure{'s' * (len(cause.failures) > 1)}"
    if cause.kind != "knock-on":
        return [f"### {n}. {cause.kind}: {_short(cause.message, 90)} ({count})", "", "```text",
                f"{cause.kind}: {_short(cause.message, 1200)}", "```", "",
                f"What to do: {_hint(cause)}", "", *map(_failure_line, cause.failures), ""]
    by_notebook: dict[str, list[str]] = {}
    for f in cause.failures:
        by_notebook.setdefault(f.where.split(" code cell ")[0], []).append(f.where.split()[-1])
    return [f"### {n}. Knock-on failures ({count})", "", "A `NameError` in a cell after an earlier failed cell of "
            "the same notebook: the name was to come from a cell that failed. They clear when the causes above "
            "are fixed.", "", *(f"- {nb}: code cell{'s' * (len(c) > 1)} {', '.join(c)}"
                                 for nb, c in by_notebook.items()), ""]


def build_report(unit: list[Result], cells: list[Result], versions: list[Version], root: Path,
                 notes: list[str], day: str) -> str:
    """Returns the Markdown report: versions, counts, failures by cause, sentences to revisit."""
    out = ["# Drift report: the workbook against the newest releases", "",
           f"Written by `make test-latest` (`tools/drift_report.py`) on {day}; do not edit by hand. The unit tests "
           "and every notebook cell (nbval, `--nbval-lax`) ran in `.venv-latest`, a virtual environment with the "
           "newest release of each runtime dependency, against a model cache of its own. The pins in "
           "`pyproject.toml` stay what `make lab` installs; this report says what raising them would break.",
           "", "## Versions", "", "| package | pin | newest on the index | ran with |", "|---|---|---|---|"]
    out += [f"| {v.name} | {v.pin} | {v.newest} | {v.ran}{'' if v.ran.split('+')[0] == v.pin else ' (newer)'} |"
            for v in versions]
    out += [""] + [f"- {note}" for note in notes] + ([""] if notes else [])
    (u_pass, u_fail, u_skip), (c_pass, c_fail, c_skip) = _counts(unit), _counts(cells)
    out += ["## Counts", "", f"Unit tests: {u_pass} passed, {u_fail} failed, {u_skip} skipped.",
            f"Notebook cells: {c_pass} of {len(cells)} passed, {c_fail} failed, {c_skip} skipped.", "",
            "| notebook | cells | passed | failed |", "|---|---|---|---|"]
    for suite in dict.fromkeys(r.suite for r in cells):
        p, f, _ = _counts(mine := [r for r in cells if r.suite == suite])
        out.append(f"| {suite.removesuffix('.ipynb').split('.')[-1]} | {len(mine)} | {p} | {f} |")
    causes = group_causes(unit + cells, root)
    out += ["", "## Failures by cause", ""] + ([] if causes else ["None: every claim holds.", ""])
    out += [line for n, cause in enumerate(causes, 1) for line in _cause_section(n, cause)]
    revisit: dict[str, list[str]] = {}  # sentence -> the cells after it whose claim changed
    for f in (f for c in causes if c.kind in CLAIMS for f in c.failures if f.sentence and "code cell" in f.where):
        revisit.setdefault(f.sentence, []).append(f.where)
    out += ["## Sentences to revisit", ""]
    out += [f'- "{sentence}" (before {", ".join(where)})' for sentence, where in revisit.items()] or [
        "None: no claim's value or printed output changed; the failures above raised before their claims."]
    return "\n".join(out) + "\n"


def _pip(*args: str, check: bool = False) -> str:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if check and done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"pip {args[0]} failed ({last}); `make test-latest` needs the package index.")
    return done.stdout


def newest_on_index(name: str) -> str:
    """Returns the newest release the index lists for `name` (pip index versions), or '?'."""
    match = re.search(rf"^{re.escape(name)} \(([^)]+)\)", _pip("index", "versions", name), re.I | re.M)
    return match.group(1) if match else "?"


def choose_torch(pin: str, out: Path) -> str:
    """Returns the torch requirement to install: the newest one pip resolves, unless it is a CUDA build."""
    report = _pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-", "torch", check=True)
    names = {i["metadata"]["name"].lower(): i for i in json.loads(report)["install"]}
    newest = names["torch"]["metadata"]["version"]
    cuda = sorted(n for n in names if n.startswith(("nvidia", "cuda")))
    urls = [urlparse(i["download_info"]["url"]) for i in names.values()]
    local = [Path(unquote(u.path)) for u in urls if u.scheme == "file" and Path(unquote(u.path)).is_file()]
    facts = {"pin": pin, "newest": newest, "cuda": cuda, "download_gb": sum(p.stat().st_size for p in local) / 1e9,
             "wheels": len(names), "sized": len(local), "chosen": pin if cuda else f"torch=={newest}"}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(facts, indent=1))
    return facts["chosen"]


def torch_note(facts: dict, listed: str) -> str:
    """One sentence on which torch ran, and why (`listed`: the newest release the index lists)."""
    held = "" if listed in ("?", facts["newest"]) else (
        f"the index lists {listed}, but pip here resolves {facts['newest']} (a pip constraint or the Python "
        "version holds the newer one back). ")
    if not facts["cuda"]:
        return f"torch: {held}pip resolves {facts['newest']} without CUDA packages, so the run used it."
    return (f"torch: {held}{facts['newest']} is a CUDA build here: it brings {len(facts['cuda'])} CUDA "
            f"packages, {facts['download_gb']:.1f} GB to download (counting the {facts['sized']} of "
            f"{facts['wheels']} wheels whose size is known here), so the run kept torch at the pin "
            f"({facts['pin']}, the CPU build).")


def main(argv: list[str] | None = None) -> int:
    """`torch` prints the torch requirement to install; `report` writes the Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("torch")
    t.add_argument("--pin", required=True)
    t.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report")
    r.add_argument("--work", type=Path, required=True, help="the run's folder: junit XML, torch.json, stamps")
    r.add_argument("--out", type=Path, default=ROOT / "docs" / "DRIFT.md")
    args = parser.parse_args(argv)
    if args.command == "torch":
        print(choose_torch(args.pin, args.out))
        return 0
    work = args.work
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    versions = [Version(name, pin, newest_on_index(name), metadata.version(name))
                for name, pin in (line.split("==") for line in pins)]
    notes = ["The test tools (nbval, pytest, hypothesis) stayed at their pins; only the runtime moved."]
    if (work / "torch.json").exists():
        listed = next(v.newest for v in versions if v.name == "torch")
        notes.insert(0, torch_note(json.loads((work / "torch.json").read_text()), listed))
    if (work / "started").exists() and (work / "finished").exists():
        minutes = (int((work / "finished").read_text()) - int((work / "started").read_text())) / 60
        notes.append(f"The run took {minutes:.0f} min on {os.cpu_count()} CPUs, venv and model build included.")
    if (work / "build.rc").exists() and (work / "build.rc").read_text().strip() != "0":
        log = (work / "build.log").read_text().strip().splitlines() or [""]
        notes.append(f"`python -m adapterlab build` failed (exit {(work / 'build.rc').read_text().strip()}): {log[-1]}")
    unit, cells = parse_junit(work / "unit.xml"), parse_junit(work / "notebooks.xml")
    notes += [f"{name}: no results (the run wrote no junit XML; see its console output)."
              for name, found in (("unit.xml", unit), ("notebooks.xml", cells)) if not found]
    args.out.write_text(build_report(unit, cells, versions, ROOT, notes, date.today().isoformat()))
    print(f"wrote {args.out}: {sum(r.outcome == 'failed' for r in unit + cells)} failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
