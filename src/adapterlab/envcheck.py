"""Is this kernel the workbook's tested stack? Installed versions against the pins, device, offline mode.

The pins are read from the installed package's own metadata, i.e. from pyproject.toml, the one
place they are written. One check is about two packages at once: transformers' own adapter methods on a
plain model (`add_adapter`, `set_adapter`, `enable_adapters`, `disable_adapters`, `active_adapters`,
`get_adapter_state_dict`, `delete_adapter`; not `load_adapter`, in 5.23.0) refuse to run with a PEFT
older than the `MIN_PEFT_VERSION` written in `transformers/integrations/peft.py`. pip does
not know that coupling (PEFT is an optional dependency of transformers), so upgrading transformers
alone can break those methods; `check_peft_for_transformers` reads the floor from the installed source.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import metadata

from packaging.requirements import Requirement
from packaging.version import Version

from adapterlab.tables import format_table

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


def transformers_min_peft() -> str | None:
    """Returns the lowest PEFT version the installed transformers' adapter methods accept, read from its source.

    The floor is `MIN_PEFT_VERSION` in `transformers/integrations/peft.py`; the file is read as text, not
    imported. None when transformers is not installed or the constant is not found.
    """
    try:
        source = metadata.distribution("transformers").locate_file("transformers/integrations/peft.py")
        text = source.read_text(encoding="utf-8")
    except (metadata.PackageNotFoundError, OSError):
        return None
    match = re.search(r"""^MIN_PEFT_VERSION\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    return match.group(1) if match else None


def check_peft_for_transformers(peft_version: str | None = None, min_peft: str | None = None,
                                transformers_version: str | None = None) -> Check:
    """Checks that the installed PEFT is new enough for the installed transformers' adapter methods.

    Args:
        peft_version: the PEFT version to check; the installed one when None.
        min_peft: the floor transformers asks for; `transformers_min_peft()` when None.
        transformers_version: named in the advice; the installed one when None. Passing all three
            simulates another pair of releases without installing anything.
    """
    name = "peft for transformers"
    min_peft = min_peft or transformers_min_peft()
    peft_version = peft_version or _installed("peft")
    transformers_version = transformers_version or _installed("transformers")
    if min_peft is None or peft_version is None:
        return Check(name, True, peft_version or "missing", "(not checked)",
                     "transformers' PEFT floor could not be read; the package checks above still apply.")
    expected = f">={min_peft}"
    if Version(peft_version) >= Version(min_peft):
        return Check(name, True, peft_version, expected)
    return Check(name, False, peft_version, expected,
                 f"transformers {transformers_version} needs peft >= {min_peft} for its adapter methods (add_adapter, "
                 f"set_adapter, active_adapters and others), but peft {peft_version} is installed: those methods "
                 f"raise 'The version of PEFT you are using is not compatible'; {FIX}.")


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_environment() -> list[Check]:
    """Returns a check per pinned package, then the Python version, the device and the hub's offline mode."""
    checks = [check_package(r) for r in pinned_requirements()]
    checks.append(check_peft_for_transformers())
    python = ".".join(map(str, sys.version_info[:3]))
    new_enough = sys.version_info >= (3, 11)
    checks.append(Check("python", new_enough, python, ">=3.11",
                        "" if new_enough else "Python 3.11 or newer is needed; make the venv with a newer python3."))
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    checks.append(Check("device", True, device, "cpu or cuda",
                        "" if device == "cpu" else "A GPU is there; the notebooks still run on the CPU."))
    # The hub's own flag, read from HF_HUB_OFFLINE when huggingface_hub was imported (after adapterlab set it)
    from huggingface_hub import is_offline_mode

    offline = is_offline_mode()
    checks.append(Check("hub offline", True, str(offline), "True",
                        "" if offline else "The hub is online: only the real hub GPT-2 needs it."))
    return checks


def problems() -> list[str]:
    """Returns one sentence per failed check; an empty list means all is well."""
    return [c.advice for c in check_environment() if not c.ok]


def format_environment(checks: list[Check] | None = None) -> str:
    """Returns the checks (default: `check_environment()`) as a table, then what to fix, or that nothing needs it."""
    checks = check_environment() if checks is None else checks
    table = format_table([("ok" if c.ok else "!!", c.name, c.found, c.expected) for c in checks],
                         ["", "what", "found", "expected"], style="plain")
    failed = [c.advice for c in checks if not c.ok]
    notes = [c.advice for c in checks if c.ok and c.advice]
    return "\n".join([table, *failed, *notes] + ([] if failed else ["Everything matches the tested versions."]))


def show_environment() -> None:
    """Prints `format_environment()`."""
    print(format_environment())
