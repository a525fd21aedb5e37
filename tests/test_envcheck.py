"""The environment check compares installed versions with the pins and says how to fix a mismatch."""

from packaging.requirements import Requirement

from adapterlab import envcheck


def test_this_environment_matches_the_pins():
    """The venv the tests run in is the pinned one (torch's '+cpu' label included)."""
    assert envcheck.problems() == []


def test_a_version_mismatch_names_both_versions_and_the_fix():
    """A wrong version is one sentence with the installed and the tested version and `make lab`."""
    check = envcheck.check_package(Requirement("torch==1.0.0"))
    assert not check.ok
    assert "is installed but the workbook is tested with ==1.0.0" in check.advice and "make lab" in check.advice


def test_a_missing_package_is_named():
    """A package that is not installed is reported as missing, with the fix."""
    check = envcheck.check_package(Requirement("no-such-package-xyz==1.0"))
    assert check.found == "missing" and "is not installed" in check.advice


def test_pins_come_from_the_package_metadata():
    """The checked pins are pyproject's: torch, transformers and peft among them, all exact."""
    names = {r.name for r in envcheck.pinned_requirements()}
    assert {"torch", "transformers", "peft", "safetensors"} <= names
    assert all(str(r.specifier).startswith("==") for r in envcheck.pinned_requirements(extras=True))
