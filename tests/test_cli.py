"""One convention for every command's errors: one sentence on stderr, nothing on stdout, exit status 2."""

import pytest

from adapterlab.__main__ import main

BAD_CALLS = {
    "unknown command": ["frobnicate"],
    "build: unknown flag": ["build", "--fast"],
    "inspect: missing folder": ["inspect", "no/such/adapter"],
    "inspect: unknown flag": ["inspect", "x", "--colour"],
    "size: unknown model": ["size", "--model", "gpt5", "--targets", "c_attn", "-r", "8"],
    "size: missing r": ["size", "--model", "gpt2", "--targets", "c_attn"],
    "size: old flag name": ["size", "--model", "gpt2", "--targets", "c_attn", "--rank", "8"],
}


@pytest.mark.parametrize("argv", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_a_bad_call_is_one_sentence_on_stderr_and_status_2(argv, capsys):
    """The message is a single line ending in a full stop, with no traceback and no usage block."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" or argv == ["frobnicate"]
    if argv != ["frobnicate"]:  # the bare launcher lists its commands instead (a usage, not an error sentence)
        assert len(lines) == 1 and lines[0].endswith(".") and "Traceback" not in err, err
        assert lines[0].startswith(f"{argv[0]}: ")


def test_help_is_status_0(capsys):
    """--help prints the command's help on stdout and returns 0, for the launcher and each command."""
    assert main(["--help"]) == 0
    for command in ("build", "inspect", "size"):
        assert main([command, "--help"]) == 0
        assert "usage:" in capsys.readouterr().out
