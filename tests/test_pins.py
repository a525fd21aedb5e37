"""The pins have one home (pyproject.toml); environment.yml must mirror it exactly."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(line.split("==") for line in lines)


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    return dict(line.split("==") for line in pip if "==" in line)


def test_every_pin_is_exact():
    """Every requirement in pyproject.toml is pinned with ==, so 'the tested versions' means one set."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" in line, f"{line} is not pinned exactly"


def test_environment_yml_mirrors_pyproject():
    """environment.yml names the same packages at the same versions as pyproject.toml."""
    assert _environment_pins() == _pyproject_pins()


def test_environment_yml_python_is_supported():
    """The conda Python satisfies pyproject's requires-python."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert tuple(map(int, python.split("=")[1].split("."))) >= (3, 11)
