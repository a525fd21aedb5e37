"""Merging a LoRA adapter into its base model: the delta by hand, and what a merge changes.

A merge writes W' = W + (lora_alpha / r) · B·A into the base layer (LoRA paper, Hu et al. 2021, section
4.1; PEFT `LoraLayer.get_delta_weight` and `merge`). This module computes that delta by hand, under
PEFT's name, and
measures the difference between two models: weights that drifted, logits that moved. Notebook 06
uses it beside `adapterlab.timing` (latency).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn


def get_delta_weight(layer: BaseTunerLayer, adapter_name: str = "default") -> torch.Tensor:
    """Returns (lora_alpha / r) · B·A for `layer`, laid out like its base weight, in float32: by hand what
    PEFT's `layer.get_delta_weight(adapter_name)` returns.

    GPT-2's Conv1D stores its weight as (in, out), so with `fan_in_fan_out=True` the product is
    transposed, as PEFT's `transpose(..., fan_in_fan_out)` does.
    """
    A = layer.lora_A[adapter_name].weight.float()  # (r, in)
    B = layer.lora_B[adapter_name].weight.float()  # (out, r)
    delta = layer.scaling[adapter_name] * (B @ A)  # (out, in)
    return delta.T if layer.fan_in_fan_out else delta




def lora_layers(model: nn.Module) -> dict[str, BaseTunerLayer]:
    """Returns {module name: layer} for every PEFT tuner layer (LoRA module) in `model`."""
    return {name: module for name, module in model.named_modules() if isinstance(module, BaseTunerLayer)}


def target_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Returns a copy of the base weight of every LoRA layer, keyed by the layer's name."""
    return {name: layer.get_base_layer().weight.detach().clone() for name, layer in lora_layers(model).items()}


def weight_drift(before: Mapping[str, torch.Tensor], after: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Compares two {name: weight} snapshots element by element.

    Returns:
        max_abs: the largest absolute difference; changed: the share of elements that are not bit-identical.
    """
    if before.keys() != after.keys():
        raise ValueError("The two snapshots name different weights; take both with the same function on one model.")
    max_abs = max((after[k].float() - before[k].float()).abs().max().item() for k in before)
    changed = sum((after[k] != before[k]).sum().item() for k in before)
    return {"max_abs": max_abs, "changed": changed / sum(before[k].numel() for k in before)}


@torch.no_grad()
def logits(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """Returns the model's logits for `input_ids` as float32 (whatever dtype the model computes in)."""
    return model(input_ids=input_ids).logits.float()
