"""`raises` lets a notebook show an error and fails when the error changes."""

import pytest

from adapterlab.expect import raises


def test_keeps_the_expected_exception_and_shortens_paths():
    """The expected error is kept, shown as 'Type: first line', with machine paths cut to the last part."""
    with raises(FileNotFoundError) as caught:
        open("/definitely/not/here.json")
    assert caught.type_name == "FileNotFoundError"
    assert caught.message.endswith("'…/here.json'") and "/definitely" not in repr(caught)


def test_fails_when_nothing_is_raised():
    """A block that raises nothing fails with an AssertionError naming what was expected."""
    with pytest.raises(AssertionError, match="expected KeyError, but nothing was raised"):
        with raises(KeyError):
            pass


def test_other_exceptions_pass_through():
    """An exception of another type is not swallowed."""
    with pytest.raises(ZeroDivisionError):
        with raises(KeyError):
            _ = 1 / 0
