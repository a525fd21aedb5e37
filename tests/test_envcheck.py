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


def test_transformers_peft_floor_is_read_from_its_source():
    """The floor is transformers' own MIN_PEFT_VERSION (read as text), and the pinned PEFT clears it."""
    from packaging.version import Version
    from transformers.integrations import peft as integration

    assert envcheck.transformers_min_peft() == integration.MIN_PEFT_VERSION
    check = envcheck.check_peft_for_transformers()
    assert check.ok and Version(check.found) >= Version(envcheck.transformers_min_peft())


def test_a_transformers_that_needs_a_newer_peft_is_caught_and_says_what_breaks():
    """Simulated: transformers asking for a PEFT newer than the installed one fails the check, naming both
    versions, the methods that break, transformers' own error and the fix; a PEFT at the floor passes."""
    check = envcheck.check_peft_for_transformers(peft_version="0.21.2", min_peft="0.22.0",
                                                 transformers_version="5.24.0")
    assert not check.ok and check.expected == ">=0.22.0"
    for words in ("transformers 5.24.0 needs peft >= 0.22.0", "peft 0.21.2 is installed", "add_adapter",
                  "The version of PEFT you are using is not compatible", "make lab"):
        assert words in check.advice
    assert envcheck.check_peft_for_transformers(peft_version="0.22.0", min_peft="0.22.0").ok


def test_the_coupling_check_quotes_transformers_own_error():
    """The advice quotes the error transformers' check_peft_version really raises for a too-old PEFT."""
    import pytest
    from transformers.utils.peft_utils import check_peft_version

    with pytest.raises(ValueError, match="The version of PEFT you are using is not compatible"):
        check_peft_version(min_version="999.0")


def test_the_coupling_check_is_part_of_the_environment_check():
    """`check_environment` (notebook 00, `python -m adapterlab env`) includes the coupling check."""
    assert "peft for transformers" in {c.name for c in envcheck.check_environment()}
