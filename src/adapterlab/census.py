"""Where a model's parameters live: a census by module type.

Trainable against frozen is PEFT's own `PeftModel.get_nb_trainable_parameters()`.

A tied parameter (GPT-2's `lm_head.weight` is `transformer.wte.weight`) is counted once, at the
first module that holds it, as `model.num_parameters()` and `model.parameters()` do.
"""

from __future__ import annotations

from collections import Counter

from torch import nn


def parameters_by_module_type(model: nn.Module) -> dict[str, int]:
    """Returns {module class name: parameters held directly by modules of that class}, largest first."""
    seen: set[int] = set()
    counts: Counter[str] = Counter()
    for module in model.modules():
        for param in module.parameters(recurse=False):
            if id(param) not in seen:
                seen.add(id(param))
                counts[type(module).__name__] += param.numel()
    return dict(counts.most_common())

