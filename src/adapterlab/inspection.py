"""`inspect`: describe a saved adapter from its files alone, reading only the safetensors header.

A safetensors file is three parts (https://github.com/huggingface/safetensors#format): an 8-byte
little-endian length N, N bytes of JSON naming every tensor's dtype, shape and byte range, then the
raw bytes. Everything an adapter card needs (names, shapes, dtypes, parameter count, size) is in
the header, so this module reads 8 + N bytes whatever the file's size and never loads a tensor.
It never unpickles: a legacy `adapter_model.bin` (torch.save, i.e. pickle) is refused, not opened.
A file that holds no tensors at all (40 bytes: the length prefix and `{"__metadata__":{"format":"pt"}}`,
what `save_pretrained` writes for a PeftModel whose LoRA layers `merge_and_unload` removed) is refused
too: PEFT itself loads such a file with no more than a warning about missing keys.

`inspect_adapter(path)` returns an `AdapterReport`; `python -m adapterlab inspect PATH` prints it,
or one line naming the file and the problem with exit status 2.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from adapterlab.cli import Parser, fail, parse

WEIGHTS_NAME = "adapter_model.safetensors"  # peft.utils.SAFETENSORS_WEIGHTS_NAME
LEGACY_WEIGHTS_NAME = "adapter_model.bin"  # peft.utils.WEIGHTS_NAME, written by safe_serialization=False
CONFIG_NAME = "adapter_config.json"  # peft.utils.CONFIG_NAME
# safetensors refuses headers above 100 MB (MAX_HEADER_SIZE in its Rust source); so do we, before reading.
MAX_HEADER_BYTES = 100_000_000
# Bits per element of every dtype name the safetensors format defines.
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E5M2FNUZ": 8, "F8_E4M3FNUZ": 8, "F8_E8M0": 8,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64, "C64": 64,
}
_PICKLE_MAGIC = tuple(bytes([0x80, p]) for p in range(2, 6)) + (b"PK\x03\x04",)  # PROTO 2-5; torch.save's zip


class AdapterFileError(ValueError):
    """A saved adapter cannot be read; the message names the file and says what is wrong."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header describes it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    n_bytes: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class AdapterReport:
    """What a saved adapter is, from `adapter_config.json` and the weights file's header."""

    weights_file: str
    peft_type: str | None
    base_model: str | None
    r: int | None
    lora_alpha: float | None
    target_modules: list[str] | str | None
    task_type: str | None
    n_tensors: int
    n_params: int
    dtypes: dict[str, int]  # dtype name -> number of tensors
    file_size: int  # bytes on disk
    data_bytes: int  # predicted from the shapes: sum of numel * bytes per element
    header_bytes: int  # the 8-byte length prefix plus the JSON header
    tensors: list[TensorInfo] = field(repr=False, default_factory=list)

    @property
    def predicted_size(self) -> int:
        """The file size predicted from the shapes and the header: equals `file_size` for a sound file."""
        return self.header_bytes + self.data_bytes

    def as_dict(self) -> dict:
        """The report without the per-tensor list, for JSON."""
        return {k: v for k, v in asdict(self).items() if k != "tensors"}

    def __str__(self) -> str:
        targets = self.target_modules
        rows = {
            "weights file": self.weights_file,
            "adapter type": self.peft_type or "(no adapter_config.json)",
            "base model": self.base_model,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "target modules": ", ".join(targets) if isinstance(targets, list) else targets,
            "task type": self.task_type,
            "tensors": self.n_tensors,
            "parameters": f"{self.n_params:,}",
            "dtypes": ", ".join(f"{k} x{v}" for k, v in self.dtypes.items()),
            "file size": f"{self.file_size:,} bytes",
            "predicted from shapes": f"{self.data_bytes:,} bytes of tensors + {self.header_bytes:,} of header",
            "header overhead": f"{self.header_bytes / self.file_size:.1%}" if self.file_size else "-",
        }
        return "\n".join(f"{key:<22}{value}" for key, value in rows.items())


def read_header(path: str | Path) -> tuple[int, dict]:
    """Returns (N, header dict) of a safetensors file, reading only its first 8 + N bytes.

    Raises:
        AdapterFileError: the file is missing, a pickle, too short, or its length prefix or JSON is bad.
    """
    path = Path(path)
    if not path.is_file():
        raise AdapterFileError(path, "no such file.")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        n = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else None
        fits = n is not None and n <= min(MAX_HEADER_BYTES, size - 8)
        raw = handle.read(n) if fits else b""
    # A pickle's first byte (0x80) can also be the low byte of a real header length, so a file is called a
    # pickle only when it does not read as safetensors (a JSON object right after the prefix).
    if not raw.startswith(b"{") and prefix.startswith(_PICKLE_MAGIC):
        raise AdapterFileError(path, "is a pickle (torch.save) file, not safetensors; refusing to unpickle it, "
                               "because unpickling runs code.")
    if n is None:
        raise AdapterFileError(path, f"is {size} bytes long, too short for the 8-byte length prefix of a "
                               "safetensors file; it is truncated or not safetensors.")
    if not fits:
        raise AdapterFileError(path, f"its length prefix announces a {n:,}-byte header but the file has "
                               f"{size - 8:,} bytes after the prefix; it is truncated or not safetensors.")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting or number length
        raise AdapterFileError(path, f"its header is not valid JSON ({type(exc).__name__}); the file is corrupt.")\
            from None
    if not isinstance(header, dict):
        raise AdapterFileError(path, "its header is JSON but not an object; the file is corrupt.")
    return n, header


def _tensor(path: Path, name: str, entry: object) -> tuple[TensorInfo, int, int]:
    """Checks one header entry; returns it with its (begin, end) byte offsets."""
    bad = f"tensor {name!r} has a bad header entry"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise AdapterFileError(path, f"{bad} (expected dtype, shape and data_offsets); the file is corrupt.")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BITS:
        raise AdapterFileError(path, f"tensor {name!r} has unknown dtype {dtype!r}; the file is corrupt.")
    if not (isinstance(shape, list) and isinstance(offsets, list) and len(offsets) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in [*shape, *offsets])):
        raise AdapterFileError(path, f"{bad} (shape and offsets must be non-negative integers).")
    begin, end = offsets
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if end < begin or bits % 8 or end - begin != bits // 8:
        raise AdapterFileError(path, f"the header lies about tensor {name!r}: shape {shape} in {dtype} needs "
                               f"{bits // 8:,} bytes but its offsets span {end - begin:,}; the file is corrupt.")
    return TensorInfo(name, dtype, tuple(shape), end - begin), begin, end


def read_tensors(path: str | Path) -> tuple[int, list[TensorInfo], dict]:
    """Returns (N, tensors in file order, metadata) after checking the header against the file's size.

    Raises:
        AdapterFileError: as `read_header`, or the byte ranges overlap, leave holes, or run past the end.
    """
    path = Path(path)
    n, header = read_header(path)
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict):
        raise AdapterFileError(path, "its __metadata__ is not a JSON object; the file is corrupt.")
    entries = sorted((_tensor(path, name, entry) for name, entry in header.items()), key=lambda t: (t[1], t[2]))
    data_size = path.stat().st_size - 8 - n
    position = 0
    for info, begin, end in entries:
        if begin != position:
            problem = "overlaps the previous one" if begin < position else "leaves a gap before it"
            raise AdapterFileError(path, f"the header lies about sizes: tensor {info.name!r} {problem}; "
                                   "the file is corrupt.")
        position = end
    if position != data_size:
        if position > data_size:
            raise AdapterFileError(path, f"is truncated: the header describes {position:,} bytes of tensors but "
                                   f"only {data_size:,} follow it.")
        raise AdapterFileError(path, f"has {data_size - position:,} bytes after its last tensor that the header "
                               "does not describe; the file is corrupt.")
    return n, [info for info, _, _ in entries], metadata


def _read_config(path: Path) -> dict:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise AdapterFileError(path, f"is not valid JSON ({type(exc).__name__}); the adapter config is corrupt.")\
            from None
    if not isinstance(config, dict) or "peft_type" not in config:
        raise AdapterFileError(path, "has no 'peft_type'; it is not a PEFT adapter config.")
    return config


def _locate(path: Path) -> tuple[Path, Path | None]:
    """Returns (weights file, config file or None) for an adapter folder or a weights file."""
    if path.is_file():
        config = path.with_name(CONFIG_NAME)
        return path, config if config.is_file() else None
    if not path.is_dir():
        raise AdapterFileError(path, "no such file or folder.")
    weights, config = path / WEIGHTS_NAME, path / CONFIG_NAME
    if not weights.is_file():
        if (path / LEGACY_WEIGHTS_NAME).is_file():
            raise AdapterFileError(path / LEGACY_WEIGHTS_NAME, "is the legacy pickle format, which inspect never "
                                   "unpickles; re-save the adapter with save_pretrained(..., safe_serialization=True).")
        raise AdapterFileError(path, f"has no {WEIGHTS_NAME}; is this a saved adapter folder?")
    if not config.is_file():
        raise AdapterFileError(path, f"has {WEIGHTS_NAME} but no {CONFIG_NAME}; save the adapter with "
                               "save_pretrained, which writes both.")
    return weights, config


def inspect_adapter(path: str | Path) -> AdapterReport:
    """Describes the adapter saved at `path` (a folder from `save_pretrained`, or a .safetensors file).

    Raises:
        AdapterFileError: the folder or a file is missing, corrupt, lies about its sizes, is a pickle, or
            holds no tensors.
    """
    weights, config_path = _locate(Path(path))
    n, tensors, _ = read_tensors(weights)
    if not tensors:
        raise AdapterFileError(weights, f"holds no tensors (a {weights.stat().st_size:,}-byte file with an empty "
                               "header): it was saved from a model with no LoRA layers left, as after "
                               "merge_and_unload(); save the adapter before merging.")
    config = _read_config(config_path) if config_path else {}
    dtypes: dict[str, int] = {}
    for t in tensors:
        dtypes[t.dtype] = dtypes.get(t.dtype, 0) + 1
    targets = config.get("target_modules")
    return AdapterReport(
        weights_file=weights.name,
        peft_type=config.get("peft_type"),
        base_model=config.get("base_model_name_or_path"),
        r=config.get("r"),
        lora_alpha=config.get("lora_alpha"),
        target_modules=sorted(targets) if isinstance(targets, list) else targets,
        task_type=config.get("task_type"),
        n_tensors=len(tensors),
        n_params=sum(t.numel for t in tensors),
        dtypes=dtypes,
        file_size=weights.stat().st_size,
        data_bytes=sum(t.n_bytes for t in tensors),
        header_bytes=8 + n,
        tensors=tensors,
    )


def main(argv: list[str]) -> int:
    """`python -m adapterlab inspect PATH [--json] [--tensors]`: describe a saved adapter."""
    parser = Parser(prog="python -m adapterlab inspect", description=main.__doc__)
    parser.add_argument("path", help="an adapter folder (from save_pretrained) or a .safetensors file")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--tensors", action="store_true", help="also list every tensor's name, dtype and shape")
    args, status = parse(parser, argv)
    if args is None:
        return status
    try:
        report = inspect_adapter(args.path)
    except AdapterFileError as exc:
        return fail("inspect", str(exc))
    except OSError as exc:  # unreadable file, permissions: still one line, never a traceback
        return fail("inspect", f"{args.path}: cannot be read ({exc.strerror or exc})")
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report)
    if args.tensors:
        for t in report.tensors:
            print(f"  {t.name}  {t.dtype}  {list(t.shape)}")
    return 0
