"""The pins have one home (pyproject.toml); environment.yml, what Binder builds for learners, mirrors its runtime part.

pyproject.toml's `dependencies` are the runtime stack every learner needs; its `dev` extra holds the
test tools (pytest, nbval, ruff, hypothesis, playwright, ...), which are not installed for learners.
"""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIP_OPTIONS = ("--extra-index-url ", "-e .")  # the environment's pip lines that are not packages


def _name(requirement: str) -> str:
    """'Foo_Bar==1.0' -> 'foo-bar' (PEP 503 normalised)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0]).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _packages(env: dict) -> tuple[list[str], list[str]]:
    """Returns an environment's (conda packages, pip requirements), leaving out pip's options and `-e .`."""
    conda = [item for item in env["dependencies"] if isinstance(item, str)]
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    return conda, [line for line in pip if not line.startswith(PIP_OPTIONS)]


def runtime_differences(env: dict, project: dict) -> list[str]:
    """Returns how the environment's pip packages differ from pyproject's runtime pins (empty: they match)."""
    _, pip = _packages(env)
    problems = [f"{line} is not pinned with ==" for line in pip if "==" not in line]
    ours = {_name(line): line.strip() for line in pip}
    pinned = {_name(line): line.strip() for line in project["dependencies"]}
    problems += [f"environment.yml has {ours.get(name)}, pyproject.toml {pinned.get(name)}"
                 for name in sorted(ours.keys() | pinned.keys()) if ours.get(name) != pinned.get(name)]
    return problems


def dev_tools_in(env: dict, project: dict) -> set[str]:
    """Returns the dev extra's packages that the environment installs, by pip or by conda."""
    conda, pip = _packages(env)
    installed = {_name(line) for line in pip} | {_name(item.split("=")[0]) for item in conda}
    return installed & {_name(line) for line in project["optional-dependencies"]["dev"]}


def test_every_pin_is_exact():
    """Every requirement in pyproject.toml is pinned with ==, so 'the tested versions' means one set."""
    project = _project()
    for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" in line, f"{line} is not pinned exactly"


def test_environment_yml_mirrors_the_runtime_pins():
    """environment.yml names exactly pyproject's runtime packages, at the same versions."""
    assert runtime_differences(_environment(), _project()) == []


def test_environment_yml_installs_no_test_tooling():
    """Learners' image holds the runtime stack only: nothing from the dev extra."""
    assert dev_tools_in(_environment(), _project()) == set()


def test_a_drifted_or_bloated_environment_is_caught():
    """A changed pin, a missing runtime package, an unpinned line or a dev tool each make the checks fail."""
    project, env = _project(), _environment()
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    pinned = [line for line in pip if "==" in line]
    changed, dropped = pinned[0].split("==")[0], pinned[-1].split("==")[0]
    pip[pip.index(pinned[0])] = f"{changed}==0.0.1"
    pip.remove(pinned[-1])
    pip += ["requests", "pytest==9.2.0"]
    env["dependencies"].append("ruff")
    problems = "\n".join(runtime_differences(env, project))
    assert f"{changed}==0.0.1" in problems and f"{dropped}==" in problems and "requests is not pinned" in problems
    assert dev_tools_in(env, project) == {"pytest", "ruff"}


def test_environment_yml_python_is_supported():
    """The conda Python satisfies pyproject's requires-python."""
    conda, _ = _packages(_environment())
    python = next(d for d in conda if d.startswith("python="))
    assert tuple(map(int, python.split("=")[1].split("."))) >= (3, 11)
