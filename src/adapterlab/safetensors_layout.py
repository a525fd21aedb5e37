"""The bytes of a safetensors file, from its tensors' names, dtypes and shapes alone.

A `.safetensors` file is 8 bytes (the header's length, a little-endian u64), a JSON header, then the
raw tensor data. Nothing in it depends on the tensors' values, so its exact size, and its header
byte for byte, can be predicted before a single weight exists. The rules below are those of
safetensors' Rust writer (`safetensors/src/tensor.rs`, `prepare` and `impl Serialize for Metadata`):

- tensors are laid out by dtype, widest element first (F64 before F32 before BF16 before F16 ...),
  then by name, so every tensor starts aligned to its element size;
- the header is compact JSON (serde_json: no spaces, non-ASCII kept as UTF-8): first `__metadata__`
  when given (PEFT passes `{"format": "pt"}`), then `"name": {"dtype", "shape", "data_offsets"}` in
  data order, offsets counted from the end of the header;
- the JSON is padded with spaces to a multiple of 8 bytes, so the data starts 8-byte aligned.

With two or more `__metadata__` entries their order is that of a Rust HashMap (it changes from run to
run); the header's length, and so the file's size, does not.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

# safetensors dtype code -> (bytes per element, place in safetensors' `Dtype` enum, which orders the data)
DTYPES: dict[str, tuple[int, int]] = {
    "BOOL": (1, 0), "U8": (1, 2), "I8": (1, 3), "F8_E5M2": (1, 4), "F8_E4M3": (1, 5), "F8_E8M0": (1, 6),
    "F8_E4M3FNUZ": (1, 7), "F8_E5M2FNUZ": (1, 8), "I16": (2, 9), "U16": (2, 10), "F16": (2, 11), "BF16": (2, 12),
    "I32": (4, 13), "U32": (4, 14), "F32": (4, 15), "C64": (8, 16), "F64": (8, 17), "I64": (8, 18), "U64": (8, 19),
}
# torch dtype name -> safetensors code, as safetensors.torch writes them
TORCH_CODES: dict[str, str] = {
    "bool": "BOOL", "uint8": "U8", "int8": "I8", "float8_e5m2": "F8_E5M2", "float8_e4m3fn": "F8_E4M3",
    "float8_e8m0fnu": "F8_E8M0", "float8_e4m3fnuz": "F8_E4M3FNUZ", "float8_e5m2fnuz": "F8_E5M2FNUZ",
    "int16": "I16", "uint16": "U16", "float16": "F16", "bfloat16": "BF16", "int32": "I32", "uint32": "U32",
    "float32": "F32", "complex64": "C64", "float64": "F64", "int64": "I64", "uint64": "U64",
}
ALIGNMENT = 8  # the JSON header is padded with spaces to a multiple of this


class LayoutError(ValueError):
    """A tensor cannot be laid out as asked; the message says why and what to pass instead."""


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


def dtype_code(dtype: str | torch.dtype) -> str:
    """Returns the safetensors code ('F32') of a torch dtype, its name ('float32') or a code itself.

    Raises:
        LayoutError: safetensors has no such dtype.
    """
    name = str(dtype).removeprefix("torch.")
    if name in DTYPES:
        return name
    if name in TORCH_CODES:
        return TORCH_CODES[name]
    raise LayoutError(f"safetensors stores no dtype {str(dtype)!r}: use a torch dtype such as torch.float32, "
                      f"its name, or a safetensors code ({', '.join(DTYPES)}).")


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
    specs.sort(key=lambda spec: (-DTYPES[spec[1]][1], spec[0]))
    entries, offset = [], 0
    for name, code, shape in specs:
        size = math.prod(shape) * DTYPES[code][0]
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


def file_bytes(tensors: Mapping[str, tuple[str | torch.dtype, Iterable[int]]],
               metadata: Mapping[str, str] | None = None) -> int:
    """Returns the size of the safetensors file these tensors make: 8 + padded JSON header + data."""
    return layout(tensors, metadata).file_bytes


def file_header_bytes(path: str | Path) -> int:
    """Returns the bytes of a .safetensors file on disk before its tensor data: 8 + the JSON header's length."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))  # little-endian u64, the format's first field
    return 8 + length
