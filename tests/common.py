"""The tiny models and saved adapters the tests share (PEFT keeps one `testing_common.py`; this is ours).

Import from test modules as `from tests.common import tiny_gpt2, save_tiny_adapter` (pytest's
`pythonpath = ["."]` puts the repository root on the path; `tools` is imported the same way).
Everything here is seeded, so two calls with the same arguments give the same weights.
"""

from __future__ import annotations

from pathlib import Path

import adapterlab  # noqa: F401 - before transformers/peft

# The tiny GPT-2 most tests need: 2 blocks, 16 wide, 2 heads, a 50-token vocabulary, 16 positions.
TINY_GPT2 = dict(n_layer=2, n_embd=16, n_head=2, vocab_size=50, n_positions=16)


def tiny_gpt2_config(**overrides):
    """Returns a `GPT2Config` of the tiny GPT-2 (`TINY_GPT2`), with any field overridden."""
    from transformers import GPT2Config

    return GPT2Config(**{**TINY_GPT2, **overrides})


def tiny_gpt2(seed: int = 0, **overrides):
    """Returns a tiny `GPT2LMHeadModel` in eval mode, its weights drawn after `torch.manual_seed(seed)`."""
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(tiny_gpt2_config(**overrides)).eval()


def tiny_lora(base=None, *, r: int = 4, lora_alpha: int = 8, target_modules=("c_attn",), seed: int = 0,
              init_lora_weights: bool = True, **config):
    """Returns `get_peft_model` of `base` (default: `tiny_gpt2()`) with a GPT-2 LoRA (`fan_in_fan_out=True`).

    With `init_lora_weights=False` both A and B are random, so the adapter changes the outputs.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    base = tiny_gpt2() if base is None else base
    torch.manual_seed(seed)
    lora = LoraConfig(r=r, lora_alpha=lora_alpha, target_modules=list(target_modules), fan_in_fan_out=True,
                      init_lora_weights=init_lora_weights, **config)
    return get_peft_model(base, lora).eval()


def save_tiny_adapter(folder: str | Path, base=None, **lora) -> Path:
    """Saves `tiny_lora(base, **lora)` with PEFT's `save_pretrained` into `folder`; returns the folder."""
    folder = Path(folder)
    tiny_lora(base, **lora).save_pretrained(folder)
    return folder
