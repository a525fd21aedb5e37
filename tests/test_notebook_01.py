"""Claims notebook 01 states about how peft 0.21.2 is written; the notebook names the version, these check it."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import LoraLayer, LoraModel
from peft.utils.error import NoMatchingPeftModuleError
from tests.common import tiny_gpt2, tiny_lora


def _wrapped(targets) -> list[str]:
    model = get_peft_model(tiny_gpt2(), LoraConfig(target_modules=targets, fan_in_fan_out=True))
    return [name.removeprefix("base_model.model.") for name, module in model.named_modules()
            if isinstance(module, LoraLayer)]


def test_a_target_name_matches_the_full_name_or_a_dotted_suffix():
    """A name in the list matches a module whose full name equals it or ends with '.' + it: 'c_proj' wraps both
    projections of each block, 'attn.c_proj' only the attention's, a full name only that module, and 'proj'
    (a suffix without the dot) nothing: get_peft_model raises."""
    assert _wrapped(["c_proj"]) == [f"transformer.h.{i}.{kind}.c_proj" for i in range(2) for kind in ("attn", "mlp")]
    assert _wrapped(["attn.c_proj"]) == ["transformer.h.0.attn.c_proj", "transformer.h.1.attn.c_proj"]
    assert _wrapped(["transformer.h.1.mlp.c_proj"]) == ["transformer.h.1.mlp.c_proj"]
    with pytest.raises(NoMatchingPeftModuleError, match=r"Target modules \{'proj'\} not found"):
        _wrapped(["proj"])


def test_a_string_target_is_a_regex_over_the_whole_name():
    """A single string is a regular expression that must match the full name: 'c_attn' alone matches nothing."""
    assert _wrapped(r".*\.attn\.c_proj") == ["transformer.h.0.attn.c_proj", "transformer.h.1.attn.c_proj"]
    with pytest.raises(NoMatchingPeftModuleError):
        _wrapped("c_attn")


def test_peft_freezes_the_base_right_after_injecting_the_lora_layers(monkeypatch):
    """While PEFT puts the LoRA layers in (`_create_and_replace`), the base still trains; once `get_peft_model`
    returns, only lora_A and lora_B do: the freezing comes after the injection, not before."""
    seen = []
    original = LoraModel._create_and_replace

    def recording(self, *args, **kwargs):
        seen.append(all(p.requires_grad for p in self.model.parameters()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LoraModel, "_create_and_replace", recording)
    model = tiny_lora()
    assert seen and all(seen)  # every injection happened while the whole base still required grad
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)


def test_lora_layers_of_a_conv1d_equal_its_delta_weight():
    """For GPT-2's Conv1D (`fan_in_fan_out=True`), the adapter's path B(A(x)) times the scaling equals
    x @ get_delta_weight(): the delta comes out in Conv1D's (in, out) layout (notebook 01, section 3)."""
    layer = tiny_lora(init_lora_weights=False).base_model.model.transformer.h[0].attn.c_attn
    x = torch.randn(3, 16)
    with torch.no_grad():
        via_layers = layer.lora_B["default"](layer.lora_A["default"](x)) * layer.scaling["default"]
        delta = layer.get_delta_weight("default")
    assert delta.shape == layer.base_layer.weight.shape == (16, 48)
    assert torch.allclose(via_layers, x @ delta, atol=1e-5)


def test_peft_keeps_the_config_object_it_is_given():
    """`get_peft_model` stores the LoraConfig passed in, not a copy, so the fan_in_fan_out fix it makes for a Conv1D
    (with a warning) shows in the learner's own `config` (notebook 01, section 2)."""
    config = LoraConfig(target_modules=["c_attn"])
    with pytest.warns(UserWarning, match="fan_in_fan_out is set to False but the target module is `Conv1D`"):
        model = get_peft_model(tiny_gpt2(), config)
    assert model.peft_config["default"] is config and config.fan_in_fan_out is True
