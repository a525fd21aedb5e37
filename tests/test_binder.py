"""The Binder/repo2docker files: postBuild pre-builds the base models where `start` tells the workbook to look.

repo2docker runs `postBuild` once when it builds the image and `start` before every server start. Both
are run here, directly as repo2docker runs them (so each must be executable, with a shebang), with a
stand-in `python` that only records how it was called, so the test takes no time.
"""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# The stand-in records every call; with FAIL_IMPORT set, `python -c ...` fails, as where the package is missing.
FAKE_PYTHON = """#!/bin/bash
echo "ADAPTERLAB_CACHE=$ADAPTERLAB_CACHE ARGS=$*" >> "$CALLS"
[ -n "${FAIL_IMPORT:-}" ] && [ "$1" = "-c" ] && exit 1
exit 0
"""


@pytest.fixture
def fake_python(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python", "pip", "pip3", "conda", "mamba"):  # an installer called directly is recorded too
        (bin_dir / name).write_text(FAKE_PYTHON)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(tmp_path / "calls"),
           "NB_PYTHON_PREFIX": str(tmp_path / "env")}
    env.pop("ADAPTERLAB_CACHE", None)
    return env, tmp_path / "calls"


def test_postbuild_builds_the_models_where_start_points(fake_python):
    """postBuild runs `python -m adapterlab build` with the ADAPTERLAB_CACHE that `start` sets at run time."""
    env, calls = fake_python
    subprocess.run([str(ROOT / "postBuild")], env=env, cwd=ROOT, check=True, capture_output=True)
    build = [line for line in calls.read_text().splitlines() if line.endswith("ARGS=-m adapterlab build")]
    assert len(build) == 1, calls.read_text()
    subprocess.run([str(ROOT / "start"), "python", "-c", "pass"], env=env, cwd=ROOT, check=True)
    at_start = calls.read_text().splitlines()[-1]
    cache = build[0].split(" ARGS=")[0]
    assert at_start.split(" ARGS=")[0] == cache
    assert cache == f"ADAPTERLAB_CACHE={env['NB_PYTHON_PREFIX']}/share/adapterlab-models"


def test_start_keeps_a_cache_the_host_chose(fake_python):
    """A JupyterHub that sets ADAPTERLAB_CACHE itself keeps it: start only fills it in when it is unset."""
    env, calls = fake_python
    subprocess.run([str(ROOT / "start"), "python"], env={**env, "ADAPTERLAB_CACHE": "/srv/models"}, check=True)
    assert calls.read_text().startswith("ADAPTERLAB_CACHE=/srv/models ")


def test_environment_yml_installs_the_package():
    """environment.yml installs adapterlab itself (`-e .`), so repo2docker stages the repository first."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert "-e ." in pip


def test_postbuild_installs_no_test_tools(fake_python):
    """The learners' image gets the runtime stack only: nothing postBuild runs installs the dev extra or a test
    tool, even where the package is missing and postBuild installs it itself."""
    env, calls = fake_python
    for failing in ("", "1"):  # the package installed by environment.yml, and not
        subprocess.run([str(ROOT / "postBuild")], env={**env, "FAIL_IMPORT": failing}, cwd=ROOT, check=True,
                       capture_output=True)
    ran = [line.split(" ARGS=", 1)[1] for line in calls.read_text().splitlines()]  # what python was asked to do
    assert "-m pip install --no-deps -e ." in ran  # the fallback ran
    for tool in ("[dev]", "pytest", "nbval", "playwright", "ruff", "hypothesis"):
        assert not any(tool in args for args in ran), f"postBuild installs {tool}"
