"""Simulated quantization: round a weight to a few bits and back, as bitsandbytes would store it.

bitsandbytes does not run on this workbook's CPU stack, so notebook 06 simulates its rounding to show
what merging into a quantized base costs. `fake_quantize` is absmax scaling with evenly spaced levels;
`map_weights_` applies such a function to chosen layers of a model in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn
from transformers.pytorch_utils import Conv1D


def fake_quantize(weight: torch.Tensor, bits: int, block_size: int | None = None) -> torch.Tensor:
    """Returns `weight` rounded to a signed `bits`-bit grid and scaled back: a simulation, not bitsandbytes.

    Each block of `block_size` consecutive elements of a row (the whole row if None) gets its own
    scale absmax / (2**(bits-1) - 1), the scheme of LLM.int8's vector-wise quantization (rows) and of
    bitsandbytes' blockwise 4-bit (blocks of 64), with evenly spaced levels (NF4's are not even).

    Args:
        weight: a 2-D weight in nn.Linear's (out, in) layout, so rows are output channels.
        bits: 8 or 4 (any width from 2 to 16).
        block_size: elements sharing one scale; must divide the row length.
    """
    if weight.dim() != 2 or not 2 <= bits <= 16:
        raise ValueError(f"fake_quantize takes a 2-D weight and 2 to 16 bits, got shape {tuple(weight.shape)} "
                         f"and {bits} bits.")
    block = block_size or weight.shape[1]
    if weight.shape[1] % block:
        raise ValueError(f"block_size {block} does not divide the row length {weight.shape[1]}; pick a divisor.")
    levels = 2 ** (bits - 1) - 1  # 127 for int8, 7 for 4-bit
    blocks = weight.float().reshape(-1, block)  # (n_blocks, block)
    scale = blocks.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny) / levels
    return (torch.round(blocks / scale) * scale).reshape(weight.shape).to(weight.dtype)


def map_weights_(model: nn.Module, names: Sequence[str], fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Replaces the weight of each named layer (its base layer, for a LoRA layer) by `fn(weight)`, in place.

    `fn` sees the weight in nn.Linear's (out, in) layout: GPT-2's Conv1D weights are transposed for it.
    """
    for name in names:
        module = model.get_submodule(name)
        module = module.get_base_layer() if isinstance(module, BaseTunerLayer) else module
        transposed = isinstance(module, Conv1D)
        weight = module.weight.data.T if transposed else module.weight.data
        new = fn(weight)
        module.weight.data = (new.T if transposed else new).contiguous().to(module.weight.dtype)
