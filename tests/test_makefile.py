"""The README's two commands do what it says (read from `make -n`, which runs nothing)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(target: str) -> str:
    return subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_lab_opens_start_here_and_prints_its_url():
    """`make lab` builds the models, then starts JupyterLab on notebook 00 and prints a URL straight to it."""
    commands = _dry_run("lab")
    assert "-m adapterlab build" in commands
    launch = next(line for line in commands.splitlines() if "jupyter lab" in line or "00_start_here" in line)
    assert "--ServerApp.root_dir=notebooks" in commands and "notebooks/00_start_here.ipynb" in commands
    assert (ROOT / "notebooks" / "00_start_here.ipynb").is_file(), launch
    assert re.search(r"http://127\.0\.0\.1:\d+/lab/tree/00_start_here\.ipynb\?token=[0-9a-f]{32}", commands)


def test_test_runs_lint_units_notebooks_and_browser():
    """`make test` runs ruff, the unit tests, every notebook under nbval with a cell timeout, and the browser test."""
    commands = _dry_run("test")
    assert "ruff check" in commands
    assert "pytest tests" in commands
    assert "--nbval-lax" in commands and "--nbval-cell-timeout=" in commands and " notebooks" in commands
    assert "-m browser tests/browser" in commands
    assert "tests/test_solutions.py" in commands  # the solved run: every exercise answered wrong, then right


def test_ci_runs_make_test():
    """.ci/run runs exactly `make test`, with CI=true so a missing browser fails."""
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test" in script and 'CI="${CI:-true}"' in script and "set -euo pipefail" in script


def test_test_latest_runs_apart_from_the_learners_environment():
    """`make test-latest` makes its own venv and model cache, runs units and notebooks there, writes docs/DRIFT.md;
    `make test` never runs it (it needs the package index)."""
    commands = _dry_run("test-latest")
    assert "-m venv .venv-latest" in commands and "drift_report.py report" in commands
    assert "--junitxml" in commands and "docs/DRIFT.md" in commands
    assert "test-latest" not in _dry_run("test") and "drift_report" not in _dry_run("test")
    makefile = (ROOT / "Makefile").read_text().replace("$(LATEST)", ".venv-latest")
    assert re.search(r"^test-latest: export ADAPTERLAB_CACHE = .*\.venv-latest", makefile, re.M)
