"""The command line's one convention: an error is one sentence on stderr, and exit status 2.

Every command of `python -m adapterlab` follows it (0: done; 1: a check ran and found problems, as
`env` does; 2: the command could not do what was asked). argparse's own usage errors are turned into
such a sentence too, instead of its usage block.
"""

from __future__ import annotations

import argparse
import sys


def fail(command: str, message: str) -> int:
    """Prints `command: message` to stderr as one sentence; returns 2, the status to exit with."""
    print(f"{command}: {message}" + ("" if message.endswith((".", "?", "!")) else "."), file=sys.stderr)
    return 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one sentence on stderr with status 2."""

    def error(self, message: str):
        command = self.prog.split()[-1]
        fail(command, f"{message}; see `{self.prog} --help`")
        raise SystemExit(2)


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace | None, int]:
    """Returns (arguments, 0), or (None, status) when argparse stopped: 0 after --help, 2 after a usage error."""
    try:
        return parser.parse_args(argv), 0
    except SystemExit as exc:
        return None, int(exc.code or 0)
