"""Tests of adapterlab.cli, every command of `python -m adapterlab`: output, exit status, and one convention for
errors (one sentence on stderr, nothing on stdout, exit status 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.common import save_tiny_adapter

from adapterlab.__main__ import main
from adapterlab.storage import estimate

BAD_CALLS = {
    "no command": [],
    "unknown command": ["frobnicate"],
    "build: unknown flag": ["build", "--fast"],
    "inspect: missing folder": ["inspect", "no/such/adapter"],
    "inspect: unknown flag": ["inspect", "x", "--colour"],
    "size: unknown model": ["size", "--model", "nope", "--targets", "c_attn", "--r", "8"],
    "size: unknown target": ["size", "--model", "gpt2", "--targets", "q_proj", "-r", "8"],
    "size: r of 0": ["size", "--model", "gpt2", "--targets", "c_attn", "--r", "0"],
    "size: r not a number": ["size", "--model", "gpt2", "--targets", "c_attn", "--r", "eight"],
    "size: unknown dtype": ["size", "--model", "gpt2", "--targets", "c_attn", "--r", "8", "--dtype", "int4"],
    "size: unknown module to save": ["size", "--model", "gpt2", "--targets", "c_attn", "--r", "8",
                                     "--modules-to-save", "nothing", "--json"],
    "size: unknown flag": ["size", "--model", "gpt2", "--targets", "c_attn", "--r", "8", "--unknown"],
    "size: old flag name": ["size", "--model", "gpt2", "--targets", "c_attn", "--rank", "8"],
    "size: missing r and targets": ["size", "--model", "gpt2"],
}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """A LoRA adapter (r=4 on c_attn) of the tiny GPT-2, saved by PEFT."""
    return save_tiny_adapter(tmp_path_factory.mktemp("adapters") / "good", task_type="CAUSAL_LM")


@pytest.mark.parametrize("argv", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_a_bad_call_is_one_sentence_on_stderr_and_status_2(argv, capsys):
    """The message is a single line `COMMAND: ....` ending in a full stop, with no traceback and no usage block."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and lines[0].endswith("."), err
    assert "Traceback" not in err and "usage:" not in err
    command = argv[0] if argv and argv[0] in ("build", "inspect", "size") else "adapterlab"
    assert lines[0].startswith(f"{command}: ")


def test_help_is_status_0(capsys):
    """--help prints the command's help on stdout and returns 0, for the launcher and each command."""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("build", "env", "inspect", "size"))
    for command in ("build", "env", "inspect", "size"):
        assert main([command, "--help"]) == 0
        assert "usage:" in capsys.readouterr().out


def test_size_help_lists_the_known_models(capsys):
    """`size --help` names the models it knows without a config."""
    assert main(["size", "--help"]) == 0
    assert "llama-2-7b" in capsys.readouterr().out


def test_size_prints_exact_bytes_beside_rounded_ones(capsys):
    """`size` prints the count, the bytes both rounded and exact, the file with its header, and the ratio."""
    assert main(["size", "--model", "gpt2", "--targets", "c_attn", "--r", "8", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "294,912 parameters" in out and "1.18 MB (1,179,648 bytes)" in out and "422 times larger" in out
    assert "1,182,680 bytes" in out and "header of 3,032 bytes" in out


def test_size_json_is_the_estimate(capsys):
    """`size --json` prints the estimate as JSON: its numbers are estimate()'s, per target row."""
    assert main(["size", "--model", "llama-2-7b", "--targets", "q_proj,v_proj", "-r", "16", "--dtype", "fp16",
                 "--modules-to-save", "lm_head", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    est = estimate("llama-2-7b", ["q_proj", "v_proj"], 16, "float16", modules_to_save=["lm_head"])
    assert (data["model"], data["r"], data["targets"], data["dtype"]) == ("llama-2-7b", 16, ["q_proj", "v_proj"],
                                                                          "float16")
    assert (data["params"], data["tensor_bytes"], data["header_bytes"], data["file_bytes"]) == (
        est.params, est.bytes, est.header_bytes, est.file_bytes)
    assert [row["params"] for row in data["rows"]] == [32 * 16 * (4096 + 4096)] * 2
    assert data["saved_whole"][0]["params"] == 32000 * 4096 and data["file_bytes"] == data["header_bytes"] + sum(
        row["bytes"] for row in data["rows"] + data["saved_whole"])


def test_size_old_rank_flag_says_the_new_name(capsys):
    """--rank, the flag before PEFT's name, is answered with the flag to use."""
    assert main(["size", "--model", "gpt2", "--targets", "c_attn", "--rank", "8"]) == 2
    assert "--r (or -r)" in capsys.readouterr().err


def test_inspect_prints_report_and_exits_zero(adapter, capsys):
    """`inspect PATH` prints the fields of the report and returns 0; --json gives parseable JSON; --tensors lists
    every tensor."""
    assert main(["inspect", str(adapter)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for label in ("adapter type", "base model", "r ", "lora_alpha", "target modules", "tensors", "parameters",
                  "dtypes", "file size", "predicted from shapes", "header overhead"):
        assert label in out
    assert main(["inspect", str(adapter), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_tensors"] == 4  # lora_A and lora_B in each of 2 layers
    assert main(["inspect", str(adapter), "--tensors"]) == 0
    assert capsys.readouterr().out.count(".lora_A.weight  F32") == 2


def test_inspect_bad_file_is_one_line_naming_it(adapter, tmp_path, capsys):
    """A corrupt weights file: status 2, nothing on stdout, one stderr line naming the file and the problem."""
    weights = tmp_path / "adapter_model.safetensors"
    weights.write_bytes((adapter / "adapter_model.safetensors").read_bytes()[:-100])
    assert main(["inspect", str(weights)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and str(weights) in err and "truncated" in err


def test_env_exits_0_when_every_check_passes(capsys):
    """`env` prints a line per check and returns 0 in the workbook's own environment."""
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "transformers" in out and "Everything matches" in out


def test_cli_through_python_dash_m(adapter, tmp_path):
    """`python -m adapterlab inspect` works as a command: 0 for an adapter, 2 and one stderr line otherwise."""
    command = [sys.executable, "-m", "adapterlab", "inspect"]
    good = subprocess.run([*command, str(adapter)], capture_output=True, text=True, timeout=120)
    assert good.returncode == 0 and "LORA" in good.stdout
    bad = subprocess.run([*command, str(tmp_path / "missing")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1 and "missing" in bad.stderr and "Traceback" not in bad.stderr


def test_size_dora_counts_the_magnitudes(capsys):
    """`size --dora` sizes LoraConfig(use_dora=True): each module's line gains + d_out, the file its magnitudes."""
    assert main(["size", "--model", "gpt2", "--targets", "c_attn", "--r", "8", "--dora", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    est = estimate("gpt2", ["c_attn"], 8, use_dora=True)
    assert data["use_dora"] is True and data["params"] == 294_912 + 12 * 2304 == est.params
    assert data["file_bytes"] == est.file_bytes
