"""The command line, `python -m adapterlab COMMAND ...` (or `adapterlab COMMAND ...`): every command, in one place.

- `build`: build the offline GPT-2 into the model cache (done once; what `make lab` runs).
- `env`: check installed versions against the workbook's pins.
- `inspect PATH`: describe a saved adapter from its files alone.
- `size`: predict an adapter's size, to the byte, before training it.

One convention for all: 0 when done; 1 when a check ran and found problems (`env`); 2 when the command
could not do what was asked, told in one sentence on stderr (`COMMAND: message.`), argparse's own usage
errors included. The modules below compute and format; this one parses, prints and picks the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from adapterlab.build import BuildError, build_lab
from adapterlab.cache import CacheError
from adapterlab.envcheck import check_environment, format_environment
from adapterlab.inspection import AdapterFileError, inspect_adapter
from adapterlab.storage import KNOWN_MODELS, StorageError, estimate, estimate_dict, format_estimate

PROG = "python -m adapterlab"


def fail(command: str, message: str) -> int:
    """Prints `command: message` to stderr as one sentence; returns 2, the status to exit with."""
    print(f"{command}: {message}" + ("" if message.endswith((".", "?", "!")) else "."), file=sys.stderr)
    return 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one sentence on stderr (`COMMAND: message.`) with exit status 2."""

    def error(self, message: str):
        fail(self.prog.split()[-1], f"{message}; see `{self.prog} --help`")
        self.exit(2)


class _Renamed(argparse.Action):
    """An option that was renamed: using it is a usage error that names the new option."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"the rank is now --r (or -r), PEFT's name for it: e.g. --r 8, not {option_string}")


def run_build(args: argparse.Namespace) -> int:
    try:
        lines = build_lab(force=args.force)
    except (CacheError, BuildError) as exc:
        return fail("build", str(exc))
    print("\n".join(lines))
    return 0


def run_env(args: argparse.Namespace) -> int:
    checks = check_environment()
    print(format_environment(checks))
    return 0 if all(c.ok for c in checks) else 1


def run_inspect(args: argparse.Namespace) -> int:
    try:
        report = inspect_adapter(args.path)
    except AdapterFileError as exc:
        return fail("inspect", str(exc))
    except OSError as exc:  # unreadable file, permissions: still one line, never a traceback
        return fail("inspect", f"{args.path}: cannot be read ({exc.strerror or exc})")
    print(json.dumps(report.as_dict(), indent=2) if args.json else report)
    if args.tensors:
        for t in report.tensors:
            print(f"  {t.name}  {t.dtype}  {list(t.shape)}")
    return 0


def run_size(args: argparse.Namespace) -> int:
    targets, to_save = ([t for item in names for t in item.split(",") if t]
                        for names in (args.targets, args.modules_to_save))
    try:
        est = estimate(args.model, targets, args.r, args.dtype, args.base_dtype, to_save, use_dora=args.dora)
    except StorageError as exc:
        return fail("size", str(exc))
    print(json.dumps(estimate_dict(est), indent=2) if args.json else format_estimate(est))
    return 0


def parser() -> Parser:
    """Returns the parser of every command; each sub-command sets `run` (called with the parsed arguments) and
    `parser` (its own parser)."""
    top = Parser(prog=PROG, description="The LoRA adapter workbook's command line.")
    commands = top.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="build the offline GPT-2 into the model cache (done once)",
                                description="Get a machine ready for the workbook, once (what `make lab` runs).")
    build.add_argument("--force", action="store_true", help="rebuild gpt2 even if a current build is cached")
    build.set_defaults(run=run_build, parser=build)

    env = commands.add_parser("env", help="check installed versions against the workbook's pins",
                              description="Installed versions against the pins; exit status 1 if any check fails.")
    env.set_defaults(run=run_env, parser=env)

    inspect = commands.add_parser("inspect", help="describe a saved adapter from its files alone",
                                  description="Describe a saved adapter from its files alone (nothing unpickled).")
    inspect.add_argument("path", help="an adapter folder (from save_pretrained) or a .safetensors file")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.add_argument("--tensors", action="store_true", help="also list every tensor's name, dtype and shape")
    inspect.set_defaults(run=run_inspect, parser=inspect)

    size = commands.add_parser("size", help="predict an adapter's size before training it",
                               description="Predict a LoRA adapter's parameters and file size, to the byte, "
                                           "before training.",
                               epilog=f"Known models: {', '.join(KNOWN_MODELS)}; or a folder holding a config.json.")
    size.add_argument("--model", required=True, help="a known model name, or a local model folder")
    size.add_argument("--targets", required=True, nargs="+",
                      help="target modules as in LoraConfig(target_modules=...), or all-linear")
    size.add_argument("-r", "--r", required=True, type=int, help="LoRA rank r, as in LoraConfig(r=...)")
    size.add_argument("--rank", action=_Renamed, help=argparse.SUPPRESS)
    size.add_argument("--dtype", default="float32", help="LoRA weights' dtype: float32, float16 or bfloat16")
    size.add_argument("--base-dtype", help="the base model's dtype, for modules saved whole (default: --dtype)")
    size.add_argument("--modules-to-save", nargs="+", default=[], help="as in LoraConfig(modules_to_save=...)")
    size.add_argument("--dora", action="store_true", help="DoRA, as in LoraConfig(use_dora=True): a magnitude "
                      "vector per wrapped module")
    size.add_argument("--json", action="store_true", help="print the estimate as JSON")
    size.set_defaults(run=run_size, parser=size)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `python -m adapterlab COMMAND ...` with `argv` (default: the process's arguments); returns the exit
    status."""
    try:
        args, extra = parser().parse_known_args(argv)
        if extra:  # told by the command's own parser, so the sentence starts with the command's name
            args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse's exit: 0 after --help, 2 after `Parser.error`'s one sentence
        return int(exc.code or 0)
    return args.run(args)
