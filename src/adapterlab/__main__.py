"""`python -m adapterlab COMMAND ...` and the `adapterlab` console script: both run `adapterlab.cli.main`."""

from __future__ import annotations

import sys

from adapterlab.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
