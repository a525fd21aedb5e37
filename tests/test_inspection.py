"""Tests of adapterlab.inspection: the report of a sound adapter, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.common import TINY_GPT2, save_tiny_adapter, tiny_gpt2

import adapterlab  # noqa: F401 - before transformers/peft: offline hub, quiet progress bars
from adapterlab.cli import main
from adapterlab.inspection import AdapterFileError, inspect_adapter
from adapterlab.safetensors_format import read_header

N_LAYER, N_EMBD, R = TINY_GPT2["n_layer"], TINY_GPT2["n_embd"], 4


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """A LoRA adapter (r=4 on c_attn) of the tiny 2-layer, 16-wide GPT-2, saved by PEFT."""
    return save_tiny_adapter(tmp_path_factory.mktemp("adapters") / "good", r=R, task_type="CAUSAL_LM")


def _copy(adapter: Path, tmp_path: Path) -> Path:
    target = tmp_path / "adapter"
    shutil.copytree(adapter, target)
    return target


def _run_cli(path: Path, capsys) -> tuple[int, str, str]:
    status = main(["inspect", str(path)])
    out, err = capsys.readouterr()
    return status, out, err


def test_report_matches_config_and_shapes(adapter):
    """The report's r, alpha, targets and counts are those PEFT saved; the predicted size is the real one."""
    report = inspect_adapter(adapter)
    assert (report.peft_type, report.r, report.lora_alpha, report.target_modules) == ("LORA", R, 8, ["c_attn"])
    assert report.n_tensors == 2 * N_LAYER  # lora_A and lora_B per layer
    assert report.n_params == N_LAYER * R * (N_EMBD + 3 * N_EMBD)  # A: r x d_in, B: 3*d_out x r
    assert report.dtypes == {"F32": report.n_tensors}
    assert report.predicted_size == report.file_size == (adapter / "adapter_model.safetensors").stat().st_size
    assert all(t.name.startswith("base_model.model.transformer.h.") for t in report.tensors)


def test_report_agrees_with_safetensors(adapter):
    """Names, shapes and dtypes read from the header alone equal what the safetensors library loads."""
    from safetensors.torch import load_file

    loaded = load_file(adapter / "adapter_model.safetensors")
    report = inspect_adapter(adapter / "adapter_model.safetensors")
    assert {t.name: t.shape for t in report.tensors} == {k: tuple(v.shape) for k, v in loaded.items()}
    assert report.n_params == sum(v.numel() for v in loaded.values())


def _truncate(folder: Path) -> Path:
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    return weights


def _garbage(folder: Path) -> Path:
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(b"this is not a safetensors file at all" * 10)
    return weights


def _lying_header(folder: Path) -> Path:
    """Doubles one tensor's first dimension in the header, leaving the bytes as they were."""
    weights = folder / "adapter_model.safetensors"
    data = weights.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"][0] *= 2
    raw = json.dumps(header).encode()
    weights.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    return weights


def _huge_prefix(folder: Path) -> Path:
    weights = folder / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(struct.pack("<Q", 2**63) + data[8:])
    return weights


def _no_weights(folder: Path) -> Path:
    (folder / "adapter_model.safetensors").unlink()
    return folder


def _no_config(folder: Path) -> Path:
    (folder / "adapter_config.json").unlink()
    return folder


def _bad_config(folder: Path) -> Path:
    (folder / "adapter_config.json").write_text("{not json")
    return folder / "adapter_config.json"


def _emptied(folder: Path) -> Path:
    """What PEFT writes for a PeftModel whose LoRA layers merge_and_unload removed: no tensors at all."""
    from safetensors.torch import save_file

    weights = folder / "adapter_model.safetensors"
    save_file({}, weights, metadata={"format": "pt"})
    return weights


def _missing(folder: Path) -> Path:
    shutil.rmtree(folder)
    return folder


BAD_INPUTS = {
    "missing folder": (_missing, "no such file"),
    "no weights": (_no_weights, "has no adapter_model.safetensors"),
    "no config": (_no_config, "no adapter_config.json"),
    "bad config": (_bad_config, "not valid JSON"),
    "truncated": (_truncate, "truncated"),
    "garbage": (_garbage, "truncated or not safetensors"),
    "lying header": (_lying_header, "lies about tensor"),
    "huge length prefix": (_huge_prefix, "length prefix"),
    "no tensors": (_emptied, "holds no tensors"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_line_and_status_2(case, adapter, tmp_path, capsys):
    """Each bad input: exit status 2, nothing on stdout, one stderr line naming the file and the problem."""
    damage, problem = BAD_INPUTS[case]
    named = damage(_copy(adapter, tmp_path))
    status, out, err = _run_cli(tmp_path / "adapter", capsys)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert str(named) in err and problem in err


class _RunsCode:
    """Unpickling this calls os.mkdir(marker): the harmless stand-in for any code an attacker picks."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.mark.parametrize("name", ["adapter_model.bin", "adapter_model.safetensors"])
def test_pickle_is_refused_and_never_run(name, adapter, tmp_path, capsys):
    """A malicious pickle, as the legacy .bin or disguised as .safetensors, is refused and its code never runs."""
    folder = _copy(adapter, tmp_path)
    (folder / "adapter_model.safetensors").unlink()
    marker = tmp_path / "code-ran"
    (folder / name).write_bytes(pickle.dumps({"lora_A": _RunsCode(marker)}))
    pickle.loads((folder / name).read_bytes())  # the file really is live: unpickling it runs the code
    assert marker.is_dir()
    marker.rmdir()
    status, out, err = _run_cli(folder, capsys)
    assert status == 2 and len(err.splitlines()) == 1 and "pickle" in err and name in err
    assert not marker.exists()


def test_header_length_that_looks_like_a_pickle_is_still_safetensors(tmp_path):
    """A header of 640 bytes starts the file with 0x80 0x02, a pickle's opening bytes; it is read, not refused."""
    from safetensors.torch import load_file

    raw = json.dumps({"a.lora_A.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
    raw = raw.ljust(640)  # safetensors itself pads headers with spaces
    weights = tmp_path / "adapter_model.safetensors"
    weights.write_bytes(struct.pack("<Q", 640) + raw + bytes(16))
    assert weights.read_bytes()[:2] == b"\x80\x02"
    assert inspect_adapter(weights).n_params == 4 and len(load_file(weights)) == 1


def _bytes_read() -> int:
    """Bytes this process has read through read() calls so far (Linux's /proc/self/io `rchar`)."""
    io_stats = Path("/proc/self/io")
    if not io_stats.is_file():
        pytest.skip("counting bytes read needs Linux's /proc/self/io")
    return int(next(line for line in io_stats.read_text().splitlines() if line.startswith("rchar:")).split()[1])


def test_multi_gigabyte_file_is_described_from_its_header_alone(tmp_path):
    """Only the header is read: describing a (sparse) 4 GB weights file reads kilobytes, not gigabytes."""
    header = {"big.lora_A.weight": {"dtype": "F32", "shape": [1024, 1024 * 1024], "data_offsets": [0, 4 * 2**30]}}
    raw = json.dumps(header).encode()
    weights = tmp_path / "adapter_model.safetensors"
    with open(weights, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        handle.truncate(8 + len(raw) + 4 * 2**30)  # a hole: no disk used, but the size is real
    before = _bytes_read()
    report = inspect_adapter(weights)
    assert _bytes_read() - before < 64 * 1024  # the header is ~100 bytes; reading the tensors would be 4 GB
    assert report.n_params == 2**30 and report.predicted_size == report.file_size > 4 * 10**9
    assert report.peft_type is None  # a bare weights file: no config beside it


def test_read_header_reads_only_the_header(adapter):
    """read_header returns the length prefix N and the JSON object in the next N bytes, metadata included."""
    data = (adapter / "adapter_model.safetensors").read_bytes()
    n, header = read_header(adapter / "adapter_model.safetensors")
    assert n == struct.unpack("<Q", data[:8])[0] and header == json.loads(data[8 : 8 + n])
    assert header["__metadata__"] == {"format": "pt"}


@pytest.fixture(scope="module")
def good_bytes(adapter) -> bytes:
    return (adapter / "adapter_model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corrupt")


def _corrupt(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["truncate", "overwrite", "prefix", "insert"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "prefix":
        return struct.pack("<Q", draw(st.integers(0, 2**64 - 1))) + data[8:]
    at = draw(st.integers(0, len(data) - 1))
    chunk = draw(st.binary(min_size=1, max_size=16))
    if kind == "insert":
        return data[:at] + chunk + data[at:]
    return data[:at] + chunk + data[at + len(chunk) :]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_corruptions_never_crash_or_pass_a_broken_file(data, adapter, good_bytes, scratch, capsys):
    """Any corruption of a good file gives a report or AdapterFileError, never another exception; and a
    report is only given when the safetensors library can load the file too (no broken file passes)."""
    from safetensors.torch import load_file

    folder = scratch / "adapter"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(adapter, folder)
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(_corrupt(good_bytes, data.draw))
    try:
        report = inspect_adapter(folder)
    except AdapterFileError as exc:
        assert str(weights) in str(exc) and "\n" not in str(exc)
        assert main(["inspect", str(folder)]) == 2
        assert len(capsys.readouterr().err.splitlines()) == 1
        return
    assert report.predicted_size == report.file_size
    assert len(load_file(weights)) == report.n_tensors


def test_a_bad_file_is_caught_as_bad_input(tmp_path):
    """A caller that catches ValueError for bad input catches a bad file, told as 'path: problem'."""
    missing = tmp_path / "adapter_model.safetensors"
    with pytest.raises(ValueError) as caught:
        inspect_adapter(missing)
    assert str(caught.value).startswith(f"{missing}: ")


def _lie(data: bytes, draw) -> bytes:
    """Rewrites one tensor's dtype, shape or offsets in the header to a drawn value; the bytes stay."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    name = draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
    field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
    small = st.integers(0, 70_000)
    header[name][field] = draw({
        "dtype": st.sampled_from(["F16", "BF16", "F32", "I32", "F64", "U8", "F4", "X9"]),
        "shape": st.lists(small, max_size=3),
        "data_offsets": st.lists(small, min_size=2, max_size=2),
    }[field])
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_lying_headers_are_caught(data, adapter, good_bytes, scratch):
    """A header that lies about one tensor's dtype, shape or byte range is refused exactly when the safetensors
    library refuses it too (a lie that keeps every byte count true, such as F32 -> I32, is not detectable)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = scratch / "lie.safetensors"
    weights.write_bytes(_lie(good_bytes, data.draw))
    try:
        inspect_adapter(weights)
        accepted = True
    except AdapterFileError:
        accepted = False
    try:
        load_file(weights)
        loads = True
    except (SafetensorError, TypeError, ValueError, KeyError):
        loads = False
    assert accepted == loads


def test_an_adapter_saved_after_merge_and_unload_is_refused_plainly(adapter, tmp_path, capsys):
    """Saving the PeftModel left behind by merge_and_unload writes a 40-byte file with no tensors, which PEFT
    reloads with only a warning; the inspector refuses it in one line that names the cause and the fix."""
    import warnings

    from peft import PeftModel

    shell = PeftModel.from_pretrained(tiny_gpt2(), adapter)
    shell.merge_and_unload()
    shell.save_pretrained(tmp_path / "shell")
    weights = tmp_path / "shell" / "adapter_model.safetensors"
    assert weights.stat().st_size == 40
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        PeftModel.from_pretrained(tiny_gpt2(), tmp_path / "shell")  # PEFT: a warning, no error
    assert any("missing adapter keys" in str(w.message) for w in said)
    status, out, err = _run_cli(tmp_path / "shell", capsys)
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert "holds no tensors" in err and "merge_and_unload" in err and "40-byte" in err
