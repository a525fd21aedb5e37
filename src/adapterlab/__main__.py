"""The command line: `python -m adapterlab COMMAND ...`.

Each command lives in the module of its idea, as a `main(argv) -> exit status` function.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "build": ("adapterlab.build", "build the offline GPT-2 into the model cache (done once)"),
    "env": ("adapterlab.envcheck", "check installed versions against the workbook's pins"),
    "inspect": ("adapterlab.inspection", "describe a saved adapter from its files alone"),
    "size": ("adapterlab.storage", "predict an adapter's size before training it"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m adapterlab COMMAND [ARGS]\n\ncommands:", file=sys.stderr)
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<9}{text}", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
