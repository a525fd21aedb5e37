"""Is this kernel the workbook's tested stack? Installed versions against the pins, device, offline mode.

The pins are read from the installed package's own metadata, i.e. from pyproject.toml, the one
place they are written.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import metadata

from packaging.requirements import Requirement

FIX = "run `make lab` in the workbook folder (or `pip install -e '.[dev]'` in your environment)"


@dataclass(frozen=True)
class Check:
    """One line of the environment check: what was looked at, whether it is fine, and what to do."""

    name: str
    ok: bool
    found: str
    expected: str
    advice: str = ""


def pinned_requirements(extras: bool = False) -> list[Requirement]:
    """Returns adapterlab's pinned requirements (with the `dev` extra's when `extras`)."""
    try:
        lines = metadata.requires("adapterlab") or []
    except metadata.PackageNotFoundError:
        raise RuntimeError(f"adapterlab is not installed in this kernel's Python ({sys.executable}); {FIX}.") \
            from None
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if extras or r.marker is None]


def check_package(requirement: Requirement) -> Check:
    """Compares one installed distribution with its pin; the advice says how to fix a mismatch."""
    expected = str(requirement.specifier)
    try:
        found = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return Check(requirement.name, False, "missing", expected, f"{requirement.name} is not installed; {FIX}.")
    # prereleases=True so a local label like torch's '2.13.0+cpu' matches '==2.13.0'.
    if requirement.specifier.contains(found, prereleases=True):
        return Check(requirement.name, True, found, expected)
    return Check(requirement.name, False, found, expected,
                 f"{requirement.name} {found} is installed but the workbook is tested with {expected}; {FIX}.")


def check_environment() -> list[Check]:
    """Returns a check per pinned package, then the Python version, the device and the hub's offline mode."""
    checks = [check_package(r) for r in pinned_requirements()]
    python = ".".join(map(str, sys.version_info[:3]))
    new_enough = sys.version_info >= (3, 11)
    checks.append(Check("python", new_enough, python, ">=3.11",
                        "" if new_enough else "Python 3.11 or newer is needed; make the venv with a newer python3."))
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    checks.append(Check("device", True, device, "cpu or cuda",
                        "" if device == "cpu" else "A GPU is there; the notebooks still run on the CPU."))
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    checks.append(Check("hub offline", True, str(offline), "True",
                        "" if offline else "The hub is online: only the real hub GPT-2 needs it."))
    return checks


def problems() -> list[str]:
    """Returns one sentence per failed check; an empty list means all is well."""
    return [c.advice for c in check_environment() if not c.ok]


def show_environment() -> None:
    """Prints the checks as a table, then what to fix (or that nothing needs fixing)."""
    checks = check_environment()
    print(f"{'':4}{'what':<14}{'found':<14}{'expected'}")
    for c in checks:
        print(f"{'ok' if c.ok else '!!':<4}{c.name:<14}{c.found:<14}{c.expected}")
    failed = [c.advice for c in checks if not c.ok]
    notes = [c.advice for c in checks if c.ok and c.advice]
    for line in failed + notes:
        print(line)
    if not failed:
        print("Everything matches the tested versions.")


def main(argv: list[str]) -> int:
    """`python -m adapterlab env`: prints the checks; exit status 1 if any failed."""
    show_environment()
    return 1 if problems() else 0
