"""The LoRA settings the workbook's own adapters use, in one place.

Notebooks write their `LoraConfig(...)` out in full, because writing it is the lesson; the package's
shipped adapters (`adapterlab.recipes`) and the benchmarks take theirs from here. GPT-2's layers are
`Conv1D`, which store the weight as (in, out), hence `fan_in_fan_out=True` everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peft import LoraConfig

# c_proj names both the attention output and the MLP output projection, so these are all four Conv1Ds.
GPT2_BLOCK_LAYERS = ("c_attn", "c_proj", "c_fc")

# Notebook 05's two task adapters: no dropout, so an adapter depends on its seed only.
TASK_LORA: dict[str, Any] = dict(r=8, lora_alpha=16, target_modules=list(GPT2_BLOCK_LAYERS), lora_dropout=0.0,
                                 fan_in_fan_out=True, task_type="CAUSAL_LM")
# Notebook 06's two demo adapters: PEFT's usual dropout, trained in train mode.
DEMO_LORA: dict[str, Any] = dict(r=8, lora_alpha=16, target_modules=list(GPT2_BLOCK_LAYERS), lora_dropout=0.1,
                                 fan_in_fan_out=True)


def lora_config(settings: Mapping[str, Any], **changes: Any) -> LoraConfig:
    """Returns a new `LoraConfig` of `settings` with `changes` applied.

    A new object every call: `get_peft_model` keeps the config it is given (`peft_config[name] is config`),
    so two adapters built from one object would share, and change, the same config.
    """
    return LoraConfig(**{**settings, **changes})
