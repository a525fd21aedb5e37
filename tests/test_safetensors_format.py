"""Tests of adapterlab.safetensors_format: the predicted header and size are safetensors' own, byte for byte; the
one dtype table is the one every user of it reads, and it is safetensors' own."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from adapterlab import safetensors_format as stf
from adapterlab import storage
from adapterlab.inspection import inspect_adapter
from adapterlab.safetensors_format import (
    DTYPE_BITS,
    LayoutError,
    dtype_code,
    file_header_bytes,
    header_length,
    layout,
    layout_of,
    read_tensors,
)

DTYPES = [getattr(torch, name) for name in stf.TORCH_CODES if hasattr(torch, name)]
# Names as a model could have them, plus anything JSON must escape: quotes, backslashes, control
# characters, non-ASCII (safetensors cannot take lone surrogates, so neither can a name).
NAMES = st.text(st.characters(exclude_categories=("Cs",)), max_size=12).filter(lambda s: s != "__metadata__")
SHAPES = st.lists(st.integers(0, 5), max_size=3)


def _saved(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> tuple[bytes, int]:
    """Saves with safetensors itself; returns (the padded JSON header, the file's size)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.safetensors"
        save_file(tensors, path, metadata=metadata)
        raw = path.read_bytes()
    length = header_length(raw)
    return raw[8:8 + length], len(raw)


@given(specs=st.dictionaries(NAMES, st.tuples(st.sampled_from(DTYPES), SHAPES), max_size=6),
       metadata=st.none() | st.dictionaries(NAMES, NAMES, max_size=1))
@settings(max_examples=60, deadline=None)
def test_header_and_size_are_those_safetensors_writes(specs, metadata):
    """For random names, dtypes, shapes and metadata, the predicted header is save_file's, byte for byte."""
    assume(specs or metadata != {})  # safetensors' own bug, see the xfail test below
    tensors = {name: torch.zeros(shape, dtype=torch.uint8).view(dtype) if dtype.itemsize == 1
               else torch.empty(shape, dtype=dtype) for name, (dtype, shape) in specs.items()}
    predicted = layout_of(tensors, metadata)
    header, size = _saved(tensors, metadata)
    assert predicted.header == header
    assert predicted.file_bytes == size


def test_several_metadata_entries_change_the_order_not_the_size():
    """With several metadata entries (a Rust HashMap, in no fixed order) the size is still exact."""
    metadata = {"format": "pt", "b": "x", "long key": "é"}
    tensors = {"w": torch.zeros(3, 4), "b": torch.zeros(4, dtype=torch.float16)}
    predicted = layout_of(tensors, metadata)
    header, size = _saved(tensors, metadata)
    assert predicted.file_bytes == size and len(predicted.header) == len(header)
    assert json.loads(predicted.header) == json.loads(header)


@pytest.mark.xfail(reason="safetensors 0.8.0 writes '{},\"__metadata__\":{}}' (invalid JSON, a file it cannot "
                          "load) for no tensors with an empty metadata dict", strict=True)
def test_no_tensors_with_empty_metadata():
    """No tensors and metadata={}: safetensors should write '{"__metadata__":{}}', as predicted."""
    header, _ = _saved({}, {})
    assert layout({}, {}).header == header


def test_header_bytes_read_from_disk_are_the_predicted_ones(tmp_path):
    """file_header_bytes reads 8 + the header's length from a file: the layout's header_bytes."""
    tensors = {"a": torch.zeros(3, 5), "b": torch.zeros(7, dtype=torch.bfloat16)}
    save_file(tensors, tmp_path / "t.safetensors", metadata={"format": "pt"})
    assert file_header_bytes(tmp_path / "t.safetensors") == layout_of(tensors, {"format": "pt"}).header_bytes


def test_data_is_ordered_widest_dtype_first_then_by_name():
    """F64 comes before F32, F32 before BF16, BF16 before F16; within a dtype, names in order."""
    entries = layout({"a": ("F16", [1]), "b": ("BF16", [1]), "c": ("F32", [1]), "d": ("F64", [1]),
                      "a32": ("F32", [1])}).entries
    assert [e.name for e in entries] == ["d", "a32", "c", "b", "a"]
    assert [(e.begin, e.end) for e in entries] == [(0, 8), (8, 12), (12, 16), (16, 18), (18, 20)]


def test_header_is_padded_with_spaces_to_eight_bytes():
    """The JSON is padded with spaces so the data starts on an 8-byte boundary; an empty file is 16 bytes."""
    empty = layout({})
    assert empty.header == b"{}      " and empty.file_bytes == 16
    one = layout({"x": ("F32", [2, 3])}, {"format": "pt"})
    assert one.header.rstrip(b" ") == b'{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2,3],' \
                                      b'"data_offsets":[0,24]}}'
    assert len(one.header) % 8 == 0 and one.file_bytes == 8 + len(one.header) + 24


@pytest.mark.parametrize("given_as", [torch.bfloat16, "bfloat16", "torch.bfloat16", "BF16"])
def test_dtype_code_accepts_torch_dtypes_names_and_codes(given_as):
    """A dtype may be given as torch dtype, its name, or the safetensors code."""
    assert dtype_code(given_as) == "BF16"


def test_unknown_dtype_and_reserved_name_are_teaching_errors():
    """An unknown dtype and a tensor named '__metadata__' each get one sentence that says what to do."""
    with pytest.raises(LayoutError, match="use a torch dtype"):
        layout({"x": ("int4", [1])})
    with pytest.raises(LayoutError, match="keeps that key"):
        layout({"__metadata__": ("F32", [1])})


def test_header_length_is_the_little_endian_prefix():
    """header_length reads the first 8 bytes as a little-endian u64, whatever follows them."""
    assert header_length(struct.pack("<Q", 2**32 + 7) + b"{") == 2**32 + 7


def test_the_reader_reads_back_what_the_layout_predicts(tmp_path):
    """A file written by safetensors is read back by read_tensors with the layout's entries and header length."""
    tensors = {"a": torch.zeros(3, 5), "b": torch.zeros(7, dtype=torch.bfloat16),
               "c": torch.zeros(2, dtype=torch.int64)}
    save_file(tensors, tmp_path / "t.safetensors", metadata={"format": "pt"})
    n, infos, metadata = read_tensors(tmp_path / "t.safetensors")
    predicted = layout_of(tensors, {"format": "pt"})
    assert 8 + n == predicted.header_bytes and metadata == {"format": "pt"}
    assert [(i.name, i.dtype, i.shape, i.n_bytes) for i in infos] == [
        (e.name, e.dtype, e.shape, e.end - e.begin) for e in predicted.entries]


@pytest.mark.parametrize("code", list(DTYPE_BITS))
def test_every_user_of_the_dtype_table_agrees(code, tmp_path):
    """For every dtype the format defines (F4 and F6 included), the layout, the inspector and the storage
    formula give one tensor of 16 elements the same number of bytes."""
    expected = 16 * DTYPE_BITS[code] // 8
    entry = layout({"w.lora_A.weight": (code, [4, 4])}, {"format": "pt"})
    assert entry.data_bytes == expected
    weights = tmp_path / "adapter_model.safetensors"
    weights.write_bytes(struct.pack("<Q", len(entry.header)) + entry.header + bytes(expected))
    assert inspect_adapter(weights).data_bytes == expected
    model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))  # LoRA r=4 on it: A (4, 2), B (2, 4)
    est = storage.estimate(model, ["0"], 4, code, full_dtype="float32")
    assert est.bytes == expected and est.file_bytes == layout(est.tensors(), storage.METADATA).file_bytes


def test_torch_codes_are_those_safetensors_writes():
    """Every torch dtype of the table maps to the code safetensors.torch writes for it."""
    from safetensors.torch import _TYPES

    assert {code: getattr(torch, name) for name, code in stf.TORCH_CODES.items() if code in _TYPES} == _TYPES
    assert set(_TYPES) <= set(DTYPE_BITS)


def test_a_sub_byte_tensor_must_fill_whole_bytes():
    """Three F4 elements are 12 bits: the layout refuses them, as safetensors' writer does."""
    with pytest.raises(LayoutError, match="whole bytes"):
        layout({"x": ("F4", [3])})
    assert layout({"x": ("F4", [4]), "y": ("F6_E2M3", [4])}).data_bytes == 2 + 3
