"""The module names a learner can put in `target_modules` for a known model, and its attention preset.

PEFT matches each `target_modules` entry against the end of a module's full name, after a dot
(`peft.tuners.tuners_utils.check_target_module_exists`), so the short endings offered here
('attn.c_attn', 'mlp.c_fc', 'self_attn.q_proj') are exactly what a learner types.
"""

from __future__ import annotations

from adapterlab.storage import ATTENTION_TARGETS, model_shapes


def target_names(model: str) -> list[str]:
    """Returns the names a learner can target in `model`: 'attn.c_attn', 'mlp.c_fc', 'wte', ..."""
    names = []
    for m in model_shapes(model).modules:
        name = m.name.rsplit("*.", 1)[-1] if "*." in m.name else m.name.rsplit(".", 1)[-1]
        names.append(name)
    return names


def default_targets(model: str) -> list[str]:
    """Returns the attention projections of `model` (all Linear/Conv1D modules if its type is not known)."""
    shapes = model_shapes(model)
    preset = ATTENTION_TARGETS.get(shapes.model_type)
    chosen = shapes.select(preset) if preset else [m for m in shapes.modules if m.kind != "Embedding"]
    return [n for n, m in zip(target_names(model), shapes.modules, strict=True) if m in chosen]
