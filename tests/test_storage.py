"""Tests of adapterlab.storage: the formula against PEFT's own count and against bytes on disk."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig

from adapterlab import storage
from adapterlab.storage import StorageError, estimate, lora_parameters, model_shapes

TINY_GPT2 = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=16)
# Grouped-query attention: 4 query heads share 2 key/value heads, so k_proj and v_proj are narrower.
TINY_LLAMA = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=100, tie_word_embeddings=False)


def _peft_trainable(model: torch.nn.Module, **config) -> int:
    torch.manual_seed(0)
    return get_peft_model(model, LoraConfig(**config)).get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("targets", [["c_attn"], ["c_proj"], ["attn.c_proj"], ["c_fc", "mlp.c_proj"],
                                     ["c_attn", "c_proj", "c_fc"], ["all-linear"]])
@pytest.mark.parametrize("rank", [1, 8])
def test_formula_matches_peft_on_tiny_gpt2(targets, rank):
    """For GPT-2's Conv1D modules, the formula gives exactly PEFT's trainable-parameter count."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(TINY_GPT2)
    expected = _peft_trainable(model, r=rank, target_modules=targets if targets != ["all-linear"] else "all-linear",
                               fan_in_fan_out=True)
    assert estimate(TINY_GPT2, targets, rank).params == expected


def test_formula_matches_peft_on_real_gpt2_shapes():
    """On GPT-2 small's real shapes, rank 8 on c_attn is 12 × 8 × (768 + 2304) = 294,912, as PEFT counts."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config())
    assert _peft_trainable(model, r=8, target_modules=["c_attn"], fan_in_fan_out=True) == 294_912
    assert estimate("gpt2", ["c_attn"], 8).params == 294_912


@pytest.mark.parametrize("targets", [["q_proj", "k_proj", "v_proj", "o_proj"], ["k_proj"], ["q_proj", "v_proj"],
                                     ["all-linear"], ["embed_tokens"]])
def test_formula_matches_peft_on_tiny_llama_with_gqa(targets):
    """With grouped-query attention (k_proj, v_proj 64 → 32), per-module shapes still give PEFT's count."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(TINY_LLAMA)
    expected = _peft_trainable(model, r=4, target_modules=targets if targets != ["all-linear"] else "all-linear")
    assert estimate(TINY_LLAMA, targets, 4).params == expected


def test_gqa_shapes_are_read_from_the_config():
    """k_proj of a GQA model maps hidden_size to num_key_value_heads × head_dim, not to hidden_size."""
    shapes = {m.name.rsplit(".", 1)[-1]: (m.d_in, m.d_out) for m in model_shapes(TINY_LLAMA).modules}
    assert shapes["q_proj"] == (64, 64) and shapes["k_proj"] == (64, 32) and shapes["o_proj"] == (64, 64)


# Published totals: the Hugging Face model pages / the models' own parameter counts.
@pytest.mark.parametrize("name, n_params", [
    ("gpt2", 124_439_808), ("gpt2-medium", 354_823_168), ("gpt2-large", 774_030_080), ("gpt2-xl", 1_557_611_200),
    ("llama-2-7b", 6_738_415_616), ("llama-3-8b", 8_030_261_248), ("mistral-7b", 7_241_732_096),
])
def test_known_models_have_their_published_parameter_counts(name, n_params):
    """The config fields kept for each well-known model rebuild its published total parameter count."""
    assert model_shapes(name).n_params == n_params


def test_gpt3_is_within_half_a_percent_of_175b():
    """GPT-3's fields (96 layers, d_model 12288) on GPT-2's architecture give the paper's 175B to 0.5%."""
    assert abs(model_shapes("gpt3-175b").n_params / 175e9 - 1) < 0.005


def test_seed_seven_b_example():
    """Llama-2-7B, rank 16 on q/k/v/o, fp16: 16,777,216 parameters and 33,554,432 bytes (not 20M / 40 MB)."""
    est = estimate("llama-2-7b", storage.ATTENTION_TARGETS["llama"], 16, "fp16")
    assert (est.params, est.bytes) == (16_777_216, 33_554_432)
    assert round(est.ratio) == 402


@given(rank=st.integers(1, 512))
@settings(max_examples=25, deadline=None)
def test_size_is_linear_in_rank(rank):
    """Doubling the rank doubles the adapter: parameters are rank times those of rank 1."""
    shapes = model_shapes(TINY_GPT2)
    assert estimate(shapes, ["c_attn", "c_fc"], rank).params == rank * estimate(shapes, ["c_attn", "c_fc"], 1).params


@pytest.mark.parametrize("dtype, autocast, nbytes", [("float32", True, 4), ("float16", True, 4),
                                                     ("float16", False, 2), ("bfloat16", False, 2)])
def test_predicted_bytes_plus_header_is_the_file_size(tmp_path, dtype, autocast, nbytes):
    """A saved adapter file is the predicted tensor bytes plus its safetensors header, to the byte.

    PEFT keeps adapters in float32 on a half-precision base unless autocast_adapter_dtype=False.
    """
    torch.manual_seed(0)
    model = GPT2LMHeadModel(TINY_GPT2).to(getattr(torch, dtype))
    config = LoraConfig(r=4, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True)
    get_peft_model(model, config, autocast_adapter_dtype=autocast).save_pretrained(tmp_path)
    path = tmp_path / "adapter_model.safetensors"
    est = estimate(TINY_GPT2, ["c_attn", "c_fc"], 4, {4: "float32", 2: dtype}[nbytes])
    assert path.stat().st_size == est.bytes + storage.safetensors_header_bytes(path)


def test_shapes_from_a_local_folder(tmp_path):
    """A folder holding a config.json is read like a known model."""
    TINY_LLAMA.save_pretrained(tmp_path)
    assert model_shapes(tmp_path).n_params == model_shapes(TINY_LLAMA).n_params


def test_a_hub_id_outside_the_local_cache_is_a_storage_error():
    """A hub id is looked up in the local cache only; when absent, the error says what to pass instead."""
    with pytest.raises(StorageError, match="local Hugging Face cache"):
        model_shapes("adapterlab-test/no-such-model")


def test_shapes_from_a_model_with_a_resized_vocabulary():
    """Reading a model object sees its resized embedding (103 rows, tied to lm_head, counted once)."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(TINY_GPT2)
    model.resize_token_embeddings(103)
    shapes = model_shapes(model)
    assert [m.d_in for m in shapes.modules if m.name.endswith("wte")] == [103]
    assert shapes.n_params == sum(p.numel() for p in model.parameters())


def test_bare_c_proj_matches_attention_and_mlp():
    """As in PEFT, the target 'c_proj' matches both GPT-2 modules of that name; 'attn.c_proj' only one."""
    assert len(estimate("gpt2", ["c_proj"], 1).rows) == 2
    assert len(estimate("gpt2", ["attn.c_proj"], 1).rows) == 1


@pytest.mark.parametrize("alias, name", [("fp16", "float16"), (torch.bfloat16, "bfloat16"), ("FP32", "float32")])
def test_dtype_aliases(alias, name):
    """fp16/bf16/fp32 and torch dtypes name the same three storage types."""
    assert storage.dtype_name(alias) == name


def test_lora_parameters_is_a_plus_b():
    """One pair is A (r, d_in) plus B (d_out, r)."""
    assert lora_parameters(768, 2304, 8) == 8 * 768 + 2304 * 8


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="gpt5"), "Unknown model"), (dict(targets=["q_proj"]), "no module named 'q_proj'"),
    (dict(rank=0), "at least 1"), (dict(dtype="int4"), "Unknown dtype"),
])
def test_bad_input_raises_a_teaching_error(kwargs, message):
    """Each bad input gets a StorageError that names the problem and the valid choices."""
    args = dict(model="gpt2", targets=["c_attn"], rank=8, dtype="float16") | kwargs
    with pytest.raises(StorageError, match=message):
        estimate(**args)


def test_cli_prints_parameters_bytes_and_ratio(capsys):
    """`size` prints the count, the bytes and the ratio, and exits 0."""
    assert storage.main(["--model", "gpt2", "--targets", "c_attn", "--rank", "8", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "294,912 parameters" in out and "1.18 MB" in out and "422 times larger" in out


@pytest.mark.parametrize("argv", [
    ["--model", "nope", "--targets", "c_attn", "--rank", "8"],
    ["--model", "gpt2", "--targets", "q_proj", "--rank", "8"],
    ["--model", "gpt2", "--targets", "c_attn", "--rank", "0"],
    ["--model", "gpt2", "--targets", "c_attn", "--rank", "eight"],
    ["--model", "gpt2", "--targets", "c_attn", "--rank", "8", "--dtype", "int4"],
    ["--model", "gpt2"],
])
def test_cli_bad_input_is_one_sentence_and_status_2(capsys, argv):
    """Bad input: exit status 2, one line on stderr ending in a full stop, nothing on stdout."""
    assert storage.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.rstrip().endswith(".")


def test_cli_help_returns_0(capsys):
    """--help prints the usage, lists the known models and returns 0."""
    assert storage.main(["--help"]) == 0
    assert "llama-2-7b" in capsys.readouterr().out


def test_module_entry_point_dispatches_to_size(capsys):
    """`python -m adapterlab size ...` reaches storage.main."""
    from adapterlab.__main__ import main

    assert main(["size", "--model", "llama-2-7b", "--targets", "q_proj", "--rank", "1"]) == 0
    assert "262,144" in capsys.readouterr().out
