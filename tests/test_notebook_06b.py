"""Facts notebook 06b (QLoRA for real) states about bitsandbytes 0.50.2, PEFT 0.21.2 and transformers 5.23.0.

The notebook shows each pitfall on the learner's machine; these tests pin down the mechanism on the smallest
case: one `Linear4bit` layer. bitsandbytes' CPU backend repacks a 4-bit weight at the first inference
forward on a CPU with AVX512-BF16 (`Linear4bit.forward` calls `_convert_weight_packed_for_cpu`), and the
inverse run by `state_dict()` restores the per-block scales (`absmax`) only when they are double-quantized.
"""

import importlib.util
import warnings
from pathlib import Path

import bitsandbytes as bnb
import pytest
import torch
from bitsandbytes.functional import has_avx512bf16
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from tests.common import tiny_gpt2
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

import adapterlab  # noqa: F401 - before transformers/peft

REPACKS = has_avx512bf16()
needs_repacking_cpu = pytest.mark.skipif(not REPACKS, reason="this CPU has no AVX512-BF16: bitsandbytes never "
                                                             "repacks here, so there is nothing to damage")


def _layer(double_quant: bool) -> bnb.nn.Linear4bit:
    """One 4-bit layer, 128 -> 384 like gpt2-mini's c_attn, NF4 in blocks of 64, float32 compute."""
    torch.manual_seed(0)
    dense = torch.nn.Linear(128, 384)
    layer = bnb.nn.Linear4bit(128, 384, compute_dtype=torch.float32, quant_type="nf4",
                              compress_statistics=double_quant)
    layer.load_state_dict(dense.state_dict())
    return layer.to("cpu").eval()


def _run(layer, x):
    with torch.no_grad():
        return layer(x)


@needs_repacking_cpu
def test_the_first_inference_forward_repacks_the_weight_and_its_scales():
    """Eval mode, no gradients, on such a CPU: the scales become bfloat16 in a (blocks per row, out) layout."""
    layer = _layer(double_quant=False)
    state = layer.weight.quant_state
    assert state.absmax.shape == (384 * 128 // 64,) and state.absmax.dtype == torch.float32
    _run(layer, torch.randn(2, 128))
    assert state.packing_format_for_cpu
    assert state.absmax.shape == (128 // 64, 384) and state.absmax.dtype == torch.bfloat16


def test_training_mode_never_repacks():
    """A layer in training mode (or with gradients) keeps the standard layout: merging after training is safe."""
    layer = _layer(double_quant=False).train()
    _run(layer, torch.randn(2, 128))
    assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False)


@needs_repacking_cpu
@pytest.mark.parametrize("double_quant, damaged", [(False, True), (True, False)])
def test_state_dict_after_running_damages_the_layer_unless_double_quantized(double_quant, damaged):
    """state_dict() undoes the repacking, but restores the scales' order only for double-quantized scales: without,
    the layer's next outputs move (the CPU reload difference of the QLoRA facts, on one layer)."""
    layer, x = _layer(double_quant), torch.randn(2, 128)
    before = _run(layer, x)
    layer.state_dict()
    moved = (_run(layer, x) - before).abs().max().item()
    assert (moved > 0.01) is damaged
    if damaged:  # left in the repacked (blocks per row, out) order and bfloat16
        assert layer.weight.quant_state.absmax.shape == (2, 384)


def test_the_undo_restores_the_order_only_for_nested_scales():
    """bitsandbytes' inverse re-quantizes (and so reorders) absmax only under `if recovered_state.original_nested`."""
    source = Path(importlib.util.find_spec("bitsandbytes.functional").origin).read_text()
    inverse = source[source.index("def _convert_weight_packed_for_cpu_inverse"):]
    inverse = inverse[:inverse.index("\ndef ")]
    assert "if recovered_state.original_nested:" in inverse
    assert inverse.index("absmax.T.reshape(-1)") > inverse.index("if recovered_state.original_nested:")


@needs_repacking_cpu
@pytest.mark.parametrize("double_quant", [False, True])
def test_peft_merges_a_repacked_weight_as_if_it_were_not(double_quant):
    """PEFT's Linear4bit.merge reads the base weight with `dequantize_bnb_weight(weight, state=weight.quant_state)`;
    after an inference forward that gives a matrix off by more than the weights' own size, double quantization or
    not: a merge after running writes base + delta onto garbage."""
    from peft.utils.integrations import dequantize_bnb_weight

    layer = _layer(double_quant)
    before = dequantize_bnb_weight(layer.weight, state=layer.weight.quant_state).clone()
    _run(layer, torch.randn(2, 128))
    after = dequantize_bnb_weight(layer.weight, state=layer.weight.quant_state)
    assert (after - before).abs().max() > before.abs().max()
    source = Path(importlib.util.find_spec("peft.tuners.lora.bnb").origin).read_text()
    assert "output = dequantize_bnb_weight(weight, state=weight.quant_state)" in source


_TINY_DIR = {}


def _tiny_4bit():
    """A tiny GPT-2 as wide as gpt2-mini (two 64-weight blocks per row), saved once, loaded in 4 bits, no dropout."""
    import tempfile

    if "path" not in _TINY_DIR:
        _TINY_DIR["path"] = Path(tempfile.mkdtemp())
        tiny_gpt2(n_embd=128, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0).save_pretrained(_TINY_DIR["path"])
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)
    return AutoModelForCausalLM.from_pretrained(_TINY_DIR["path"], quantization_config=config, device_map="cpu")


def test_gpt2_conv1d_becomes_linear4bit_stored_out_by_in():
    """Loading GPT-2 in 4 bits replaces Conv1D by Linear4bit, whose weight is (out, in): PEFT then sets
    fan_in_fan_out=False on the layer, without a warning, whatever the config said."""
    model = _tiny_4bit()
    layer = model.transformer.h[0].attn.c_attn
    assert isinstance(layer, bnb.nn.Linear4bit) and tuple(layer.weight.quant_state.shape) == (3 * 128, 128)
    wrapped = get_peft_model(model, LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    assert wrapped.base_model.model.transformer.h[0].attn.c_attn.fan_in_fan_out is False
    assert wrapped.peft_config["default"].fan_in_fan_out is True  # silently: the config keeps what it was given


def test_prepare_model_for_kbit_training_freezes_casts_half_floats_and_checkpoints():
    """What peft 0.21.2's prepare_model_for_kbit_training does (its docstring lists other steps): freeze every
    parameter, cast float16/bfloat16 non-4-bit parameters to float32, and enable gradient checkpointing only
    when asked (use_gradient_checkpointing, default True) for a k-bit model."""
    model = _tiny_4bit()
    model.transformer.ln_f.to(torch.bfloat16)
    prepared = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    assert not any(p.requires_grad for p in prepared.parameters())
    assert prepared.transformer.ln_f.weight.dtype == torch.float32
    assert not prepared.is_gradient_checkpointing
    assert isinstance(prepared.transformer.h[0].attn.c_attn, bnb.nn.Linear4bit)
    assert prepare_model_for_kbit_training(_tiny_4bit()).is_gradient_checkpointing


def test_merging_into_4bit_warns_once_per_layer():
    """PEFT's 4-bit merge warns "Merge lora module to 4-bit linear may get different generations due to rounding
    errors." for each merged layer (notebook 06b asserts four for gpt2-mini's four c_attn)."""
    wrapped = get_peft_model(_tiny_4bit(), LoraConfig(r=2, target_modules=["c_attn"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wrapped.merge_and_unload()
    texts = [str(w.message) for w in caught]
    assert texts.count("Merge lora module to 4-bit linear may get different generations due to rounding errors.") == 2


def test_a_saved_4bit_model_reloads_as_linear4bit(tmp_path):
    """Four-bit weights are serializable: save_pretrained writes them, from_pretrained rebuilds Linear4bit layers
    from config.json's quantization_config alone; saved before any forward, the outputs are the same."""
    model = _tiny_4bit()
    model.save_pretrained(tmp_path)
    again = AutoModelForCausalLM.from_pretrained(tmp_path, device_map="cpu")
    assert isinstance(again.transformer.h[0].attn.c_attn, bnb.nn.Linear4bit)
    ids = torch.arange(8)[None]
    assert torch.equal(_run(model.eval(), ids).logits, _run(again.eval(), ids).logits)


@needs_repacking_cpu
def test_a_repacked_layer_cannot_train():
    """After an inference forward has repacked it, the layer's next training step (gradients flowing through it)
    raises bitsandbytes' in-place error: on such a CPU, train a 4-bit model before you run it for inference."""
    layer = _layer(double_quant=False)
    _run(layer, torch.randn(2, 128))
    layer.train()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        layer(torch.randn(2, 128, requires_grad=True)).sum().backward()


def test_the_merge_check_names_what_it_was_handed(tmp_path):
    """06b.merge_4bit's check wants (model, the adapter's folder); anything else is named as such, before any
    model is loaded."""
    from adapterlab.questions.nb06b import diagnose_merged_4bit

    assert diagnose_merged_4bit(None)[0] == "not_pair"
    assert diagnose_merged_4bit((torch.nn.Linear(2, 2), tmp_path))[0] == "no_folder"
