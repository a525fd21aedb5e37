"""The README's two commands do what it says, read from what make would run (`make -n`, which runs nothing).

The claims are about behaviour, not the Makefile's wording: which commands `make -nB TARGET` prints
(`-B`: as if nothing were built yet), and which targets exist (`make -p`'s database). `.ci/run` is run
for real with a stand-in `make` that only records how it was called.
"""

import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = ".venv/bin/python"  # the learners' venv (make's default VENV); test-latest uses a venv of its own


def _dry_run(target: str) -> list[str]:
    """The commands `make -nB target` would run, one per line, continuation lines joined."""
    out = subprocess.run(["make", "-nB", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.replace("\\\n", " ").splitlines()


def _phony_targets() -> list[str]:
    """Every .PHONY target of the Makefile, from make's own database (`make -pnq`)."""
    db = subprocess.run(["make", "-pnq", "__no_such_target__"], cwd=ROOT, capture_output=True, text=True).stdout
    return sorted({name for line in db.splitlines() if line.startswith(".PHONY:") for name in line.split()[1:]})


def _pytest_runs(commands: list[str]) -> list[tuple[dict[str, str], list[str], list[str]]]:
    """(environment set by `env K=V`, options, paths) of each pytest run in the learners' venv."""
    runs = []
    for line in commands:
        if f"{PY} -m pytest" not in line:
            continue
        words = shlex.split(line.split(" || ")[0])
        at = words.index(PY)
        env = dict(w.split("=", 1) for w in words[:at] if "=" in w)
        options, paths, args = [], [], iter(words[at + 3 :])
        for word in args:
            if word in ("-m", "-p", "-k"):
                options.append(f"{word} {next(args)}")
            elif word.startswith("-"):
                options.append(word)
            else:
                paths.append(word)
        runs.append((env, options, paths))
    return runs


@pytest.fixture(scope="module")
def make_test() -> list[str]:
    return _dry_run("test")


def test_lab_opens_start_here_and_prints_its_url():
    """`make lab` builds the models, then starts JupyterLab on notebook 00 and prints a URL straight to it."""
    commands = "\n".join(_dry_run("lab"))
    assert "-m adapterlab build" in commands
    assert "--ServerApp.root_dir=notebooks" in commands and "notebooks/00_start_here.ipynb" in commands
    assert (ROOT / "notebooks" / "00_start_here.ipynb").is_file()
    url = re.search(r"http://127\.0\.0\.1:(\d+)/lab/tree/00_start_here\.ipynb\?token=([0-9a-f]{32})", commands)
    assert url, commands
    assert f"--ServerApp.port={url[1]}" in commands and f"--IdentityProvider.token={url[2]}" in commands


def test_torch_is_installed_alone_and_first_at_its_pin(make_test):
    """The venv gets torch at pyproject's pin in a pip call of its own before anything else (so pip picks the
    CPU build, not the several-GB CUDA one), then the package with its dev extra."""
    installs = [line for line in make_test if f"{PY} -m pip install" in line and "--upgrade pip" not in line]
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in dependencies if d.startswith("torch"))
    assert shlex.split(installs[0])[-1] == pin, installs
    assert ".[dev]" in installs[1], installs


def test_every_test_stage_of_the_makefile_runs_in_make_test(make_test):
    """Whatever a target runs under pytest in the learners' venv (`check`, `unit`, the notebooks, the browser,
    the room, ...), `make test` runs too: no test folder is left to a target CI never calls."""
    tested = {path for _, _, paths in _pytest_runs(make_test) for path in paths}
    assert {"tests", "tests/browser", "tests/hub"} <= tested
    for target in _phony_targets():
        for _, _, paths in _pytest_runs(_dry_run(target)):
            assert set(paths) <= tested, f"make {target} runs pytest on {paths}, make test does not"


def test_make_test_deselects_nothing(make_test):
    """`make test` runs every test, the slow ones too: no `-m 'not ...'` and no `-k` in any of its pytest runs."""
    for _, options, paths in _pytest_runs(make_test):
        assert not any(o.startswith("-k") or o.startswith("-m not") for o in options), (options, paths)


def test_make_test_keeps_out_of_the_users_home(make_test):
    """Each pytest run of `make test` gets a HOME and a model cache inside the repository's build/ folder, never
    the user's own."""
    for env, _, paths in _pytest_runs(make_test):
        assert Path(env.get("HOME", "~")).is_relative_to(ROOT / "build"), (paths, env)
        assert Path(env.get("ADAPTERLAB_CACHE", "~")).is_relative_to(ROOT / "build"), (paths, env)


def test_make_test_runs_every_notebook_solved_under_nbval(make_test):
    """`make test` writes the solved notebooks (tools/solved_run.py) and runs that folder under nbval, with a cell
    timeout, so a hung cell fails the run instead of hanging CI."""
    written = [shlex.split(line) for line in make_test if "tools.solved_run" in line and "--write" in line]
    assert written, "make test never writes the solved notebooks"
    folder = written[0][written[0].index("--write") + 1]
    nbval = [options for _, options, paths in _pytest_runs(make_test) if folder in paths]
    assert nbval and "--nbval-lax" in nbval[0], nbval
    assert any(o.startswith("--nbval-cell-timeout=") for o in nbval[0]), nbval


def test_make_test_lints_every_python_folder(make_test):
    """ruff checks every top-level folder that holds Python files (a new folder cannot escape the lint)."""
    ruff = next(shlex.split(line) for line in make_test if "-m ruff check" in line)
    folders = {p.relative_to(ROOT).parts[0] for p in ROOT.glob("*/**/*.py")
               if not p.relative_to(ROOT).parts[0].startswith(".") and p.relative_to(ROOT).parts[0] != "build"}
    assert folders <= set(ruff), f"ruff skips {folders - set(ruff)}"


@pytest.fixture
def fake_make(tmp_path):
    """A PATH whose `make` records its working folder, $CI and its arguments, and exits with $MAKE_RC."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    make = bin_dir / "make"
    make.write_text('#!/bin/bash\necho "$PWD|${CI-unset}|$*" >> "$CALLS"\nexit "${MAKE_RC:-0}"\n')
    make.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(tmp_path / "calls")}
    env.pop("CI", None)
    return env, tmp_path / "calls"


def test_ci_runs_make_test_with_ci_true(fake_make, tmp_path):
    """.ci/run runs `make test` once, from the repository root wherever it is called from, with CI=true (so a
    missing browser or room fails) unless CI is already set."""
    env, calls = fake_make
    subprocess.run([str(ROOT / ".ci" / "run")], cwd=tmp_path, env=env, check=True)
    subprocess.run([str(ROOT / ".ci" / "run")], cwd=tmp_path, env={**env, "CI": "false"}, check=True)
    assert calls.read_text().splitlines() == [f"{ROOT}|true|test", f"{ROOT}|false|test"]


def test_ci_fails_when_make_test_fails(fake_make):
    """A failing `make test` fails .ci/run with the same exit status (CI can never pass on a failure)."""
    env, _ = fake_make
    assert subprocess.run([str(ROOT / ".ci" / "run")], env={**env, "MAKE_RC": "3"}).returncode == 3


def test_test_latest_runs_apart_from_the_learners_environment(make_test, tmp_path):
    """`make test-latest` makes its own venv, exports a model cache of its own to every command, runs units and
    notebooks there and writes docs/DRIFT.md; `make test` never runs it (it needs the package index)."""
    commands = "\n".join(_dry_run("test-latest"))
    venv = re.search(r"-m venv (\S+)", commands)[1]
    assert venv != ".venv" and f"{venv}/bin/python -m pytest" in commands and "docs/DRIFT.md" in commands
    # The exported environment, as the recipes get it: a `+` line runs even under -n, and a prerequisite
    # inherits its target's variables.
    probe = tmp_path / "probe.mk"
    probe.write_text("test-latest: probe-env\nprobe-env:\n\t+@echo \"CACHE=$$ADAPTERLAB_CACHE\"\n")
    out = subprocess.run(["make", "-nB", "-f", "Makefile", "-f", str(probe), "test-latest"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    cache = re.search(r"^CACHE=(.*)$", out, re.M)[1]
    assert Path(cache).is_relative_to(ROOT / venv), cache
    assert "drift_report" not in "\n".join(make_test) and f"{venv}/" not in "\n".join(make_test)
