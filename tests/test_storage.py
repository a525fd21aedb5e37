"""Tests of adapterlab.storage: the formula against PEFT's own count, and the file against bytes on disk."""

from __future__ import annotations

import struct
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import LoraConfig, get_peft_model
from peft.utils.constants import EMBEDDING_LAYER_NAMES
from tests.common import tiny_gpt2_config
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    MistralConfig,
)

from adapterlab import storage
from adapterlab.safetensors_format import layout
from adapterlab.storage import StorageError, estimate, estimate_dict, format_estimate, lora_parameters, model_shapes

TINY_GPT2 = tiny_gpt2_config(n_embd=32, vocab_size=100)
# Grouped-query attention: 4 query heads share 2 key/value heads, so k_proj and v_proj are narrower.
TINY_LLAMA = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=100, tie_word_embeddings=False)
TINY_MISTRAL = MistralConfig(hidden_size=48, intermediate_size=80, num_hidden_layers=3, num_attention_heads=4,
                             num_key_value_heads=1, vocab_size=120, tie_word_embeddings=False, sliding_window=8)
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


def _peft_trainable(model: torch.nn.Module, **config) -> int:
    torch.manual_seed(0)
    return get_peft_model(model, LoraConfig(**config)).get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("targets", [["c_attn"], ["c_proj"], ["attn.c_proj"], ["c_fc", "mlp.c_proj"],
                                     ["c_attn", "c_proj", "c_fc"], ["all-linear"]])
@pytest.mark.parametrize("r", [1, 8])
def test_formula_matches_peft_on_tiny_gpt2(targets, r):
    """For GPT-2's Conv1D modules, the formula gives exactly PEFT's trainable-parameter count."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(TINY_GPT2)
    expected = _peft_trainable(model, r=r, target_modules=targets if targets != ["all-linear"] else "all-linear",
                               fan_in_fan_out=True)
    assert estimate(TINY_GPT2, targets, r).params == expected


def test_formula_matches_peft_on_real_gpt2_shapes():
    """On GPT-2 small's real shapes, rank 8 on c_attn is 12 × 8 × (768 + 2304) = 294,912, as PEFT counts."""
    with torch.device("meta"):  # the shapes without 500 MB of random initialisation
        model = GPT2LMHeadModel(GPT2Config())
    assert _peft_trainable(model.to_empty(device="cpu"), r=8, target_modules=["c_attn"], fan_in_fan_out=True) == 294_912
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


@given(r=st.integers(1, 512))
@settings(max_examples=25, deadline=None)
def test_size_is_linear_in_rank(r):
    """Doubling the rank doubles the adapter: parameters are r times those of rank 1."""
    shapes = model_shapes(TINY_GPT2)
    assert estimate(shapes, ["c_attn", "c_fc"], r).params == r * estimate(shapes, ["c_attn", "c_fc"], 1).params


def _saved_file(model: torch.nn.Module, folder, autocast: bool = True, **config):
    """Wraps `model` with LoRA, saves it with PEFT into `folder`, returns adapter_model.safetensors."""
    torch.manual_seed(0)
    with warnings.catch_warnings():  # tied lm_head, embeddings saved: PEFT's warnings are the point here
        warnings.simplefilter("ignore", UserWarning)
        get_peft_model(model, LoraConfig(**config), autocast_adapter_dtype=autocast).save_pretrained(folder)
    return folder / "adapter_model.safetensors"


def _header(path) -> bytes:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return raw[8:8 + length]


CONFIGS = {"gpt2": TINY_GPT2, "llama": TINY_LLAMA, "mistral": TINY_MISTRAL}
# (model, targets, r, base dtype, autocast_adapter_dtype, modules_to_save, the LoRA weights' dtype on disk)
CASES = [
    ("gpt2", ["c_attn"], 1, "float32", True, [], "float32"),
    ("gpt2", ["c_attn"], 8, "float32", True, [], "float32"),
    ("gpt2", ["c_attn", "c_proj", "c_fc"], 3, "float32", True, [], "float32"),
    ("gpt2", ["all-linear"], 16, "float32", True, [], "float32"),
    ("gpt2", ["c_attn"], 4, "float16", True, [], "float32"),  # PEFT upcasts the adapter on a half base
    ("gpt2", ["c_attn"], 4, "float16", False, [], "float16"),
    ("gpt2", ["c_attn", "mlp.c_proj"], 4, "bfloat16", False, [], "bfloat16"),
    ("gpt2", ["c_attn"], 4, "bfloat16", True, ["ln_f"], "float32"),  # F32 LoRA beside a BF16 norm
    ("gpt2", ["c_attn"], 4, "float32", True, ["lm_head"], "float32"),
    ("gpt2", ["wte", "c_attn"], 4, "float32", True, [], "float32"),  # lora_embedding_A/_B
    ("gpt2", ["lm_head"], 2, "float32", True, [], "float32"),  # PEFT's embedding name: base weight saved
    ("llama", ATTENTION, 8, "float32", True, [], "float32"),
    ("llama", ["all-linear"], 4, "bfloat16", True, [], "float32"),
    ("llama", ["embed_tokens"], 4, "float32", True, [], "float32"),
    ("llama", ["embed_tokens", "q_proj"], 4, "float16", True, [], "float32"),
    ("llama", ["q_proj"], 4, "float16", False, ["lm_head", "norm"], "float16"),
    ("mistral", ["q_proj", "v_proj"], 16, "float32", True, [], "float32"),
    ("mistral", ["all-linear"], 2, "float16", False, [], "float16"),
    ("mistral", ["gate_proj", "up_proj", "down_proj"], 8, "bfloat16", True, ["lm_head"], "float32"),
]


@pytest.mark.parametrize("name, targets, r, base, autocast, to_save, lora_dtype", CASES)
def test_predicted_file_is_peft_file_to_the_byte(tmp_path, name, targets, r, base, autocast, to_save, lora_dtype):
    """The predicted header is the one PEFT writes, byte for byte, and file_bytes is os.stat's size.

    Covers ranks, target sets, Embedding targets, modules_to_save, embeddings saved whole, and all
    three dtypes, including PEFT's float32 LoRA weights on a float16/bfloat16 base (autocast_adapter_dtype).
    """
    est = estimate(CONFIGS[name], targets, r, lora_dtype, full_dtype=base, modules_to_save=to_save)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(CONFIGS[name]).to(getattr(torch, base))
    path = _saved_file(model, tmp_path, autocast, r=r, target_modules="all-linear" if targets == ["all-linear"]
                       else targets, fan_in_fan_out=name == "gpt2", modules_to_save=to_save or None)
    assert layout(est.tensors(), storage.METADATA).header == _header(path)
    assert est.file_bytes == path.stat().st_size


def test_score_head_of_a_classifier_is_saved_whole(tmp_path):
    """modules_to_save=['score'] on a sequence classifier saves the score layer under its own name, to the byte."""
    torch.manual_seed(0)
    est = estimate(AutoModelForSequenceClassification.from_config(TINY_LLAMA), ["q_proj"], 4,
                   modules_to_save=["score"])
    model = AutoModelForSequenceClassification.from_config(TINY_LLAMA)
    path = _saved_file(model, tmp_path, r=4, target_modules=["q_proj"], modules_to_save=["score"])
    assert "base_model.model.score.weight" in est.tensors()
    assert est.file_bytes == path.stat().st_size


def test_real_gpt2_small_file_to_the_byte(tmp_path):
    """GPT-2 small's real shapes, r=8 on c_attn: 294,912 float32 parameters in a file of 1,182,680 bytes."""
    with torch.device("meta"):  # the shapes without 500 MB of random initialisation
        model = GPT2LMHeadModel(GPT2Config())
    model.to_empty(device="cpu")
    path = _saved_file(model, tmp_path, r=8, target_modules=["c_attn"], fan_in_fan_out=True)
    est = estimate("gpt2", ["c_attn"], 8)
    assert est.file_bytes == path.stat().st_size == 1_182_680
    assert (est.bytes, est.header_bytes) == (294_912 * 4, 3_032)


def test_naive_predictions_miss_the_upcast_and_the_header(tmp_path):
    """On a float16 base, PEFT's file is the float32 size; float16 tensors alone, or no header, are wrong."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(TINY_LLAMA).to(torch.float16)
    size = _saved_file(model, tmp_path, r=4, target_modules=["q_proj"]).stat().st_size
    right, naive = estimate(TINY_LLAMA, ["q_proj"], 4, "float32"), estimate(TINY_LLAMA, ["q_proj"], 4, "float16")
    assert right.file_bytes == size and naive.file_bytes != size and right.bytes != size


def test_embedding_names_are_peft_s():
    """The names whose targeting makes PEFT save the embedding's base weight are PEFT's own list."""
    assert list(storage.EMBEDDING_LAYER_NAMES) == EMBEDDING_LAYER_NAMES


def test_estimating_a_wrapped_model_is_a_storage_error():
    """A model already wrapped by get_peft_model gets one sentence: pass the base model instead."""
    model = get_peft_model(AutoModelForCausalLM.from_config(TINY_LLAMA), LoraConfig(target_modules=["q_proj"]))
    with pytest.raises(StorageError, match="before wrapping it"):
        estimate(model.base_model.model, ["q_proj"], 4)


def test_shapes_from_a_local_folder(tmp_path):
    """A folder holding a config.json is read like a known model."""
    TINY_LLAMA.save_pretrained(tmp_path)
    assert model_shapes(tmp_path).n_params == model_shapes(TINY_LLAMA).n_params


def test_a_hub_id_outside_the_local_cache_is_a_storage_error():
    """A hub id is looked up in the local cache only; when absent, the error says what to pass instead."""
    with pytest.raises(StorageError, match="local Hugging Face cache"):
        estimate("adapterlab-test/no-such-model", ["c_attn"], 8)


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
    assert lora_parameters(768, 2304, r=8) == 8 * 768 + 2304 * 8


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="gpt5"), "Unknown model"), (dict(targets=["q_proj"]), "no module named 'q_proj'"),
    (dict(r=0), "at least 1"), (dict(dtype="int4"), "Unknown dtype"),
    (dict(modules_to_save=["classifier"]), "no module with weights named 'classifier'"),
])
def test_bad_input_raises_a_teaching_error(kwargs, message):
    """Each bad input gets a StorageError that names the problem and the valid choices."""
    args = dict(model="gpt2", targets=["c_attn"], r=8, dtype="float16") | kwargs
    with pytest.raises(StorageError, match=message):
        estimate(**args)


DORA_CASES = [
    ("gpt2", ["c_attn"], 4, "float32"),
    ("gpt2", ["all-linear"], 2, "float32"),
    ("gpt2", ["wte", "attn.c_proj"], 3, "float32"),  # DoRA on an Embedding: a magnitude per embedding feature
    ("llama", ATTENTION, 8, "float32"),  # GQA: k_proj and v_proj have fewer outputs, so smaller magnitudes
    ("mistral", ["all-linear"], 2, "float32"),
]


@pytest.mark.parametrize("name, targets, r, dtype", DORA_CASES)
def test_dora_file_and_parameters_to_the_byte(tmp_path, name, targets, r, dtype):
    """use_dora=True adds one lora_magnitude_vector (d_out,) per wrapped module: the predicted header is PEFT's
    byte for byte, file_bytes is the file's size, and params is PEFT's trainable count."""
    est = estimate(CONFIGS[name], targets, r, dtype, use_dora=True)
    plain = estimate(CONFIGS[name], targets, r, dtype)
    assert est.params - plain.params == sum(m.count * m.d_out for m, _ in est.rows)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(CONFIGS[name])
    config = dict(r=r, target_modules="all-linear" if targets == ["all-linear"] else targets,
                  fan_in_fan_out=name == "gpt2", use_dora=True)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        wrapped = get_peft_model(model, LoraConfig(**config))
    assert wrapped.get_nb_trainable_parameters()[0] == est.params
    wrapped.save_pretrained(tmp_path)
    path = tmp_path / "adapter_model.safetensors"
    assert layout(est.tensors(), storage.METADATA).header == _header(path)
    assert est.file_bytes == path.stat().st_size
    assert "DoRA r=" in format_estimate(est) and estimate_dict(est)["use_dora"] is True


def test_dora_adds_d_out_per_module():
    """lora_parameters with use_dora is r · (d_in + d_out) + d_out."""
    assert lora_parameters(128, 384, 4, use_dora=True) == 4 * (128 + 384) + 384


@pytest.mark.parametrize("targets", [r".*\.c_attn", r".*\.h\.0\.(attn\.c_attn|mlp\.c_fc)", "c_attn|c_proj"])
def test_a_regex_string_is_sized_as_peft_wraps_it(tmp_path, targets):
    """A string target_modules is a regex PEFT matches whole against each full module name: the estimate wraps the
    same modules (one layer of a kind, too) and predicts the file to the byte; a bare 'c_attn|c_proj' matches no
    full name and is an error, as in PEFT."""
    if targets == "c_attn|c_proj":
        with pytest.raises(StorageError, match="regular expression"):
            estimate(CONFIGS["gpt2"], targets, 2)
        return
    est = estimate(CONFIGS["gpt2"], targets, 2)
    path = _saved_file(AutoModelForCausalLM.from_config(CONFIGS["gpt2"]), tmp_path, r=2, target_modules=targets,
                       fan_in_fan_out=True)
    assert layout(est.tensors(), storage.METADATA).header == _header(path)
    assert est.file_bytes == path.stat().st_size
