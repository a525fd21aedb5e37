"""The safetensors format: its dtypes, a distrustful header reader, and the exact bytes a writer produces.

A `.safetensors` file is 8 bytes (the header's length N, a little-endian u64), N bytes of JSON naming every
tensor's dtype, shape and byte range, then the raw tensor data (https://github.com/huggingface/safetensors#format).

- `DTYPE_BITS` is the one dtype table of the package: the storage formula, the layout and the reader use it.
- `read_header`/`read_tensors` read 8 + N bytes whatever the file's size, never unpickle, and check every
  entry against the file (a pickle, a truncated file or a header that lies about sizes is refused).
- `layout` predicts a file byte for byte from names, dtypes and shapes alone, by the rules of safetensors'
  Rust writer (`safetensors/src/tensor.rs`, `prepare` and `impl Serialize for Metadata`): data ordered by
  dtype, widest first, then by name; compact JSON (`__metadata__` first); padded with spaces to 8 bytes.
  With several `__metadata__` entries their order is a Rust HashMap's (it changes from run to run); the
  header's length, and so the file's size, does not.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from adapterlab.adapter_files import AdapterFileError

# Bits per element of every dtype the format defines, in the order of safetensors' `Dtype` enum, which is
# also the order of the data in a file (descending). F4 and F6 pack elements below a byte: a tensor of
# them must fill whole bytes.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32,
    "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}
_RANK = {code: i for i, code in enumerate(DTYPE_BITS)}
# torch dtype name -> safetensors code, as safetensors.torch writes them (F4 and F6 have no torch dtype)
TORCH_CODES: dict[str, str] = {
    "bool": "BOOL", "uint8": "U8", "int8": "I8", "float8_e5m2": "F8_E5M2", "float8_e4m3fn": "F8_E4M3",
    "float8_e8m0fnu": "F8_E8M0", "float8_e4m3fnuz": "F8_E4M3FNUZ", "float8_e5m2fnuz": "F8_E5M2FNUZ",
    "int16": "I16", "uint16": "U16", "float16": "F16", "bfloat16": "BF16", "int32": "I32", "uint32": "U32",
    "float32": "F32", "complex64": "C64", "float64": "F64", "int64": "I64", "uint64": "U64",
}
ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16", "float": "float32"}
# safetensors refuses headers above 100 MB (MAX_HEADER_SIZE in its Rust source); so do we, before reading.
MAX_HEADER_BYTES = 100_000_000
ALIGNMENT = 8  # the JSON header is padded with spaces to a multiple of this
_PICKLE_MAGIC = tuple(bytes([0x80, p]) for p in range(2, 6)) + (b"PK\x03\x04",)  # PROTO 2-5; torch.save's zip


class LayoutError(ValueError):
    """A tensor cannot be laid out as asked; the message says why and what to pass instead."""


def dtype_code(dtype: str | torch.dtype) -> str:
    """Returns the safetensors code ('F32') of a torch dtype, its name ('float32'), an alias ('fp32') or a code.

    Raises:
        LayoutError: safetensors has no such dtype.
    """
    name = str(dtype).removeprefix("torch.")
    if name in DTYPE_BITS:
        return name
    name = ALIASES.get(name.lower(), name.lower())
    if name in TORCH_CODES:
        return TORCH_CODES[name]
    raise LayoutError(f"safetensors stores no dtype {str(dtype)!r}: use a torch dtype such as torch.float32, "
                      f"its name (or fp32, fp16, bf16), or a safetensors code ({', '.join(DTYPE_BITS)}).")


def tensor_bytes(dtype: str | torch.dtype, shape: Iterable[int]) -> int:
    """Returns the bytes of a tensor's data: numel × bits per element / 8.

    Raises:
        LayoutError: the dtype is unknown, or a sub-byte tensor (F4, F6) does not fill whole bytes.
    """
    code = dtype_code(dtype)
    bits = math.prod(shape) * DTYPE_BITS[code]
    if bits % 8:
        raise LayoutError(f"A {code} tensor of shape {list(shape)} is {bits} bits, not whole bytes; safetensors "
                          "stores only tensors that fill whole bytes.")
    return bits // 8


def header_length(prefix: bytes) -> int:
    """Returns N, the header's length, from a file's first 8 bytes (a little-endian unsigned 64-bit integer)."""
    return struct.unpack("<Q", prefix[:8])[0]


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
        n = header_length(prefix) if len(prefix) == 8 else None
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


def file_header_bytes(path: str | Path) -> int:
    """Returns the bytes of a .safetensors file on disk before its tensor data: 8 + the JSON header's length."""
    return 8 + read_header(path)[0]


@dataclass(frozen=True)
class TensorEntry:
    """One tensor's line in the header: where its bytes lie, counted from the end of the header."""

    name: str
    dtype: str  # safetensors code, e.g. 'F32'
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class Layout:
    """A safetensors file as it will be written: its JSON header and where each tensor's data goes."""

    header: bytes  # the JSON with its padding, without the 8 bytes that give its length
    entries: tuple[TensorEntry, ...]  # in data order

    @property
    def header_bytes(self) -> int:
        """Bytes before the tensor data: 8 for the length, then the padded JSON."""
        return 8 + len(self.header)

    @property
    def data_bytes(self) -> int:
        """Bytes of tensor data: the sum of numel × element size."""
        return self.entries[-1].end if self.entries else 0

    @property
    def file_bytes(self) -> int:
        """The file's size on disk, as `os.stat` reports it."""
        return self.header_bytes + self.data_bytes


def layout(tensors: Mapping[str, tuple[str | torch.dtype, Iterable[int]]],
           metadata: Mapping[str, str] | None = None) -> Layout:
    """Lays out tensors as `safetensors.torch.save_file(tensors, path, metadata)` writes them.

    Args:
        tensors: {name: (dtype, shape)}; the dtype as a torch dtype, its name or a safetensors code.
        metadata: the text-only `__metadata__` (PEFT's `save_pretrained` passes {"format": "pt"}).

    Returns:
        The header, byte for byte, and each tensor's place in the data.
    """
    specs = []
    for name, (dtype, shape) in tensors.items():
        if name == "__metadata__":
            raise LayoutError("A tensor cannot be named '__metadata__': safetensors keeps that key for the metadata.")
        specs.append((name, dtype_code(dtype), tuple(int(n) for n in shape)))
    # tensor.rs `prepare`: sort by dtype, descending, then by name (Rust compares UTF-8 bytes, which orders
    # strings as Python's code-point comparison does)
    specs.sort(key=lambda spec: (-_RANK[spec[1]], spec[0]))
    entries, offset = [], 0
    for name, code, shape in specs:
        size = tensor_bytes(code, shape)
        entries.append(TensorEntry(name, code, shape, offset, offset + size))
        offset += size
    return Layout(_header_json(entries, metadata), tuple(entries))


def _header_json(entries: list[TensorEntry], metadata: Mapping[str, str] | None) -> bytes:
    header: dict[str, object] = {} if metadata is None else {"__metadata__": dict(metadata)}
    for e in entries:
        header[e.name] = {"dtype": e.dtype, "shape": list(e.shape), "data_offsets": [e.begin, e.end]}
    # serde_json::to_string: no spaces, UTF-8 kept, control characters escaped as Python's json escapes them
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return text + b" " * (-len(text) % ALIGNMENT)


def layout_of(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> Layout:
    """Returns the layout of real tensors (only their names, dtypes and shapes are read)."""
    return layout({name: (t.dtype, t.shape) for name, t in tensors.items()}, metadata)
