"""adapterlab.merging: the delta by hand, weight drift and logits between models."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from tests import common
from torch import nn

from adapterlab import merging

TINY = common.tiny_gpt2_config(n_layer=1)
IDS = torch.tensor([[1, 5, 7, 9, 11, 13]])


def tiny_lora(target_modules=("c_attn", "c_proj", "c_fc"), seed=0):
    """A 1-layer GPT-2 with a LoRA adapter whose B is not zero, so merging changes the weights."""
    return common.tiny_lora(common.tiny_gpt2(seed, n_layer=1), target_modules=target_modules, seed=seed,
                            init_lora_weights=False)


def test_get_delta_weight_is_what_the_merge_adds():
    """For every GPT-2 Conv1D layer, merged weight - original weight == get_delta_weight (fan_in_fan_out layout),
    and it is PEFT's own `layer.get_delta_weight`."""
    model = tiny_lora()
    layers = merging.lora_layers(model)
    before = merging.target_weights(model)
    deltas = {name: merging.get_delta_weight(layer) for name, layer in layers.items()}
    model.merge_adapter()
    after = merging.target_weights(model)
    for name in layers:
        assert deltas[name].shape == before[name].shape
        assert torch.allclose(after[name] - before[name], deltas[name], atol=1e-6)
        assert deltas[name].abs().max() > 0
        assert torch.allclose(deltas[name], layers[name].get_delta_weight("default"))


def test_get_delta_weight_for_a_linear_layer_is_not_transposed():
    """An nn.Linear target (fan_in_fan_out=False) gets B·A in the (out, in) layout, as PEFT's get_delta_weight."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 10))
    model = get_peft_model(net, LoraConfig(r=2, lora_alpha=6, target_modules=["0"], init_lora_weights=False))
    layer = merging.lora_layers(model)["base_model.model.0"]
    assert merging.get_delta_weight(layer).shape == (10, 6)
    assert torch.allclose(merging.get_delta_weight(layer), layer.get_delta_weight("default"))


def test_lora_layers_counts_targets_and_none_after_merge_and_unload():
    """lora_layers finds one layer per targeted module, and none in the model merge_and_unload returns."""
    model = tiny_lora()
    assert len(merging.lora_layers(model)) == 4  # c_attn, attn.c_proj, c_fc, mlp.c_proj
    assert merging.lora_layers(model.merge_and_unload()) == {}


def test_weight_drift_measures_and_rejects_mismatched_snapshots():
    """Identical snapshots drift 0; one changed element is counted; snapshots of different weights are refused."""
    a = {"w": torch.zeros(2, 5)}
    assert merging.weight_drift(a, {"w": torch.zeros(2, 5)}) == {"max_abs": 0.0, "changed": 0.0}
    b = {"w": torch.zeros(2, 5)}
    b["w"][1, 2] = -0.25
    assert merging.weight_drift(a, b) == {"max_abs": 0.25, "changed": 0.1}
    with pytest.raises(ValueError, match="different weights"):
        merging.weight_drift(a, {"v": torch.zeros(2, 5)})


def test_merge_roundtrip_drift_grows_as_precision_drops():
    """merge_adapter + unmerge_adapter is close in float32 and drifts more in bfloat16."""
    drift = {}
    for dtype in (torch.float32, torch.bfloat16):
        model = tiny_lora().to(dtype)
        before = merging.target_weights(model)
        model.merge_adapter()
        model.unmerge_adapter()
        drift[dtype] = merging.weight_drift(before, merging.target_weights(model))["max_abs"]
    assert drift[torch.float32] < 1e-6 < drift[torch.bfloat16]


def test_logits_are_float32_whatever_the_model_dtype():
    """logits() returns float32 logits of shape (B, T, vocab) for a bfloat16 model too."""
    out = merging.logits(tiny_lora().to(torch.bfloat16), IDS)
    assert out.dtype == torch.float32 and out.shape == (1, IDS.shape[1], TINY.vocab_size)

