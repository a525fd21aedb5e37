"""Beside `adapterlab.judging`: what a model serves now, and what a saved adapter file wraps, read from its header.

`judging` says which adapters a model's LoRA layers run, merged or switched off, and which tensors an adapter
holds. A check also needs the names the layers hold (`held_adapters`), what the model computes as it would
serve a request (`served_logits`: eval mode, the learner's train/eval flags left as they were), and, for a
saved folder, which modules its tensors wrap at which rank and dtype (`read_saved`): the same answer however
`target_modules` was written (a list, a longer suffix, a regex, "all-linear").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from adapterlab.adapter_files import SAFETENSORS_WEIGHTS_NAME
from adapterlab.judging import PREFIX, lora_layers
from adapterlab.safetensors_format import read_tensors

# The low-rank pair of each wrapped module as PEFT saves it: (key ending of A, key ending of B).
PAIRS = ((".lora_A.weight", ".lora_B.weight"), (".lora_embedding_A", ".lora_embedding_B"))


def held_adapters(model: nn.Module) -> set[str]:
    """Returns the names of the adapters `model`'s LoRA layers hold (none once unloaded or merged away)."""
    return {name for layer in lora_layers(model).values() for name in (*layer.lora_A, *layer.lora_embedding_A)}


@torch.no_grad()
def served_logits(model: nn.Module, inputs: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Returns what `model` serves for `inputs` (input ids, or a tokenizer's whole output): its float32 logits in eval
    mode (no dropout), leaving every module's train/eval mode as it was."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        return model(**inputs if isinstance(inputs, Mapping) else {"input_ids": inputs}).logits.float()
    finally:
        for module, training in modes:
            module.training = training


@dataclass(frozen=True)
class SavedAdapter:
    """What the tensors of a saved adapter file wrap: {module: rank}, their dtypes, and any other tensor."""

    ranks: dict[str, int]  # module name (no PEFT prefix) -> rank of its pair
    dtypes: frozenset[str]  # safetensors dtype codes of every tensor: 'F32', 'BF16', ...
    others: tuple[str, ...]  # tensors that are not a low-rank pair (a whole module saved, a DoRA magnitude)
    file_bytes: int


def read_saved(folder: str | Path) -> SavedAdapter:
    """Reads the header of `folder`'s adapter_model.safetensors (never the tensors) and says what it wraps.

    Raises:
        AdapterFileError: the file is missing or its header is damaged (`safetensors_format.read_tensors`).
    """
    path = Path(folder) / SAFETENSORS_WEIGHTS_NAME
    _, tensors, _ = read_tensors(path)
    shapes = {t.name.removeprefix(PREFIX): t.shape for t in tensors}
    ranks, paired = {}, set()
    for key, shape in shapes.items():
        for a_end, b_end in PAIRS:
            if key.endswith(a_end) and key.removesuffix(a_end) + b_end in shapes:
                module = key.removesuffix(a_end)
                ranks[module] = shape[0]
                paired |= {key, module + b_end}
    return SavedAdapter(ranks, frozenset(t.dtype for t in tensors), tuple(sorted(set(shapes) - paired)),
                        path.stat().st_size)
