"""The shapes of a model's layers, read from the model or its config: what the storage formula needs.

A transformers config is instantiated on the `meta` device (no memory, no download) and its Linear,
Conv1D and Embedding modules are read, grouped by name with the layer numbers replaced by '*'.
Well-known models are kept below as their config fields, each with its source, so nothing needs a hub.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import torch
from peft import LoraConfig
from peft.tuners.tuners_utils import check_target_module_exists

_HF = "https://huggingface.co/{}/blob/main/config.json"
_GPT3 = "Brown et al. 2020, arXiv:2005.14165"
# Config fields of well-known models, as their config.json (or paper) states them; every number in an
# entry comes from its `source`, except the fields named in `notes`.
KNOWN_MODELS: dict[str, dict] = {
    "gpt2": dict(model_type="gpt2", n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024,
                 source=_HF.format("openai-community/gpt2")),
    "gpt2-medium": dict(model_type="gpt2", n_layer=24, n_embd=1024, n_head=16, vocab_size=50257, n_positions=1024,
                        source=_HF.format("openai-community/gpt2-medium")),
    "gpt2-large": dict(model_type="gpt2", n_layer=36, n_embd=1280, n_head=20, vocab_size=50257, n_positions=1024,
                       source=_HF.format("openai-community/gpt2-large")),
    "gpt2-xl": dict(model_type="gpt2", n_layer=48, n_embd=1600, n_head=25, vocab_size=50257, n_positions=1024,
                    source=_HF.format("openai-community/gpt2-xl")),
    "llama-2-7b": dict(model_type="llama", num_hidden_layers=32, hidden_size=4096, intermediate_size=11008,
                       num_attention_heads=32, num_key_value_heads=32, vocab_size=32000, tie_word_embeddings=False,
                       source=_HF.format("meta-llama/Llama-2-7b-hf")),
    "llama-3-8b": dict(model_type="llama", num_hidden_layers=32, hidden_size=4096, intermediate_size=14336,
                       num_attention_heads=32, num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False,
                       source=_HF.format("meta-llama/Meta-Llama-3-8B")),
    "mistral-7b": dict(model_type="mistral", num_hidden_layers=32, hidden_size=4096, intermediate_size=14336,
                       num_attention_heads=32, num_key_value_heads=8, vocab_size=32000, tie_word_embeddings=False,
                       source=_HF.format("mistralai/Mistral-7B-v0.1")),
    # GPT-3 "uses the same model and architecture as GPT-2" (section 2.1), so GPT2Config describes it;
    # its alternating sparse attention changes no weight shape.
    "gpt3-175b": dict(model_type="gpt2", n_layer=96, n_embd=12288, n_head=96, n_positions=2048, vocab_size=50257,
                      source=f"{_GPT3}, Table 2.1 (n_layers, d_model, n_heads) and section 2.1 (n_ctx = 2048)",
                      notes="vocab_size: GPT-2's BPE (Radford et al. 2019, section 2.2), which GPT-3 reuses; "
                            "d_ff = 4 · d_model (section 2.1) is GPT2Config's default n_inner"),
}


class ShapeError(ValueError):
    """A model's shapes cannot be read, or a module selected, as asked; the message says what to ask instead."""


@dataclass(frozen=True)
class ModuleShape:
    """One kind of module, with its layer numbers replaced by '*': 'transformer.h.*.attn.c_attn'."""

    name: str
    kind: str  # 'Linear', 'Conv1D', 'Embedding' (LoRA can wrap these), or the class name ('LayerNorm')
    d_in: int  # 0 for a module LoRA cannot wrap
    d_out: int
    names: tuple[str, ...]  # each module's own name: 'transformer.h.0.attn.c_attn', ...
    state: tuple[tuple[str, tuple[int, ...]], ...] = ()  # its own state_dict: (('weight', (768, 2304)), ...)

    @property
    def count(self) -> int:
        """How many of them the model has (L for a per-layer module)."""
        return len(self.names)


@dataclass(frozen=True)
class ModelShapes:
    """What the formula needs from a model: its targetable modules and its total parameter count."""

    name: str
    model_type: str
    modules: tuple[ModuleShape, ...]  # those LoRA can wrap
    n_params: int  # tied weights counted once, as the checkpoint stores them
    source: str = ""
    others: tuple[ModuleShape, ...] = ()  # modules with weights LoRA cannot wrap (norms): for modules_to_save
    embeddings: tuple[str, ...] = ()  # the input and output embeddings' names, as get_input_embeddings() gives

    def select(self, targets: Sequence[str] | str) -> list[ModuleShape]:
        """Returns the modules PEFT's `target_modules=targets` would wrap (by PEFT's own matching rule).

        A list holds names or name suffixes; a string is a regular expression that PEFT matches whole against each
        module's full name, so it can pick some layers of a kind (a `ModuleShape` then keeps only those names).

        Raises:
            ShapeError: a target matches no module of this model.
        """
        if targets == "all-linear" or (not isinstance(targets, str) and list(targets) == ["all-linear"]):
            # PEFT's shorthand: every Linear/Conv1D but the output layer
            return [m for m in self.modules if m.kind != "Embedding" and not m.name.endswith("lm_head")]
        if isinstance(targets, str):
            config = LoraConfig(target_modules=targets)
            chosen = []
            for m in self.modules:
                names = tuple(n for n in m.names if check_target_module_exists(config, n))
                if names:
                    chosen.append(m if names == m.names else replace(m, names=names))
            if not chosen:
                raise ShapeError(f"No module of {self.name} matches the regular expression {targets!r}: PEFT matches a "
                                 f"string target whole against full names such as {self.modules[0].names[0]!r}.")
            return chosen
        chosen = []
        for target in targets:
            found = [m for m in self.modules if check_target_module_exists(LoraConfig(target_modules=[target]), m.name)]
            if not found:
                names = ", ".join(sorted({m.name.rsplit(".", 1)[-1] for m in self.modules}))
                raise ShapeError(f"{self.name} has no module named {target!r}; its modules are: {names}.")
            chosen += [m for m in found if m not in chosen]
        return chosen

    def select_to_save(self, modules_to_save: Sequence[str]) -> list[ModuleShape]:
        """Returns the modules PEFT's `modules_to_save` would copy (its `_set_trainable`: names ending so).

        Raises:
            ShapeError: a name matches no module with weights.
        """
        found = []
        for target in modules_to_save:
            hits = [m for m in self.modules + self.others if any(n.endswith(target) for n in m.names)]
            if not hits:
                raise ShapeError(f"{self.name} has no module with weights named {target!r} for modules_to_save; "
                                   "name a layer such as lm_head or a final norm.")
            found += [m for m in hits if m not in found]
        return found


def _kind_and_shape(module: torch.nn.Module) -> tuple[str, int, int] | None:
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, torch.nn.Linear):
        return "Linear", module.in_features, module.out_features
    if isinstance(module, Conv1D):  # GPT-2 stores weight as (d_in, d_out), the transpose of Linear
        return "Conv1D", module.weight.shape[0], module.weight.shape[1]
    if isinstance(module, torch.nn.Embedding):  # PEFT's lora_embedding_A (r, vocab), _B (dim, r)
        return "Embedding", module.num_embeddings, module.embedding_dim
    return None


def _own_state(module: torch.nn.Module) -> tuple[tuple[str, tuple[int, ...]], ...]:
    buffers = [(k, b) for k, b in module.named_buffers(recurse=False) if k not in module._non_persistent_buffers_set]
    return tuple((k, tuple(t.shape)) for k, t in [*module.named_parameters(recurse=False), *buffers])


def shapes_from_model(model: torch.nn.Module, name: str = "", source: str = "") -> ModelShapes:
    """Reads the modules of a model (on any device, `meta` included) and counts its parameters.

    Raises:
        ShapeError: the model already holds LoRA layers.
    """
    groups: dict[tuple, list[str]] = {}
    for key, module in model.named_modules():
        if key.endswith("base_layer"):
            raise ShapeError("This model already holds LoRA layers (get_peft_model changes a model in place); "
                               "pass the base model before wrapping it, or its config.")
        state = _own_state(module)
        found = _kind_and_shape(module) or ((type(module).__name__, 0, 0) if state else None)
        if found:
            groups.setdefault((re.sub(r"\.\d+(?=\.|$)", ".*", key), *found, state), []).append(key)
    shapes = [ModuleShape(p, k, i, o, tuple(names), s) for (p, k, i, o, s), names in groups.items()]
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", "") or ""
    n_params = sum(p.numel() for p in model.parameters())  # .parameters() yields a tied weight once
    return ModelShapes(name or model_type or type(model).__name__, model_type, tuple(m for m in shapes if m.d_in),
                       n_params, source, tuple(m for m in shapes if not m.d_in), _embedding_names(model))


def _embedding_names(model: torch.nn.Module) -> tuple[str, ...]:
    names, found = {id(m): k for k, m in model.named_modules()}, []
    for side in ("input", "output"):
        try:
            found.append(names.get(id(getattr(model, f"get_{side}_embeddings")())))
        except (AttributeError, NotImplementedError):  # not a transformers model, or it has no such layer
            pass
    return tuple(n for n in found if n is not None)


def shapes_from_config(config, name: str = "", source: str = "") -> ModelShapes:
    """Builds the model of a transformers config on the `meta` device (no memory) and reads its shapes."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return shapes_from_model(model, name or getattr(config, "name_or_path", "") or config.model_type, source)


def known_config(name: str):
    """Returns the transformers config of a well-known model from `KNOWN_MODELS` (no download)."""
    from transformers import AutoConfig

    fields = {k: v for k, v in KNOWN_MODELS[name].items() if k not in ("model_type", "source", "notes")}
    return AutoConfig.for_model(KNOWN_MODELS[name]["model_type"], **fields)


@cache
def _known_shapes(name: str) -> ModelShapes:  # frozen, so one read per model and kernel is safe to share
    return shapes_from_config(known_config(name), name, KNOWN_MODELS[name]["source"])


def model_shapes(model) -> ModelShapes:
    """Returns the shapes of `model`: a name in `KNOWN_MODELS`, a folder with a config.json, a hub id
    whose config is in the local Hugging Face cache, a transformers config, or a model object.

    Raises:
        ShapeError: the name is none of these.
    """
    if isinstance(model, ModelShapes):
        return model
    if isinstance(model, torch.nn.Module):
        return shapes_from_model(model)
    if not isinstance(model, (str, Path)):
        return shapes_from_config(model)
    if str(model) in KNOWN_MODELS:
        return _known_shapes(str(model))
    from transformers import AutoConfig

    if (Path(model) / "config.json").is_file():
        return shapes_from_config(AutoConfig.from_pretrained(model), Path(model).name, "its config.json")
    if str(model).count("/") == 1:  # a hub id: read its config from the local Hugging Face cache, never the network
        try:
            config = AutoConfig.from_pretrained(str(model), local_files_only=True)
        except (OSError, ValueError):
            pass
        else:
            return shapes_from_config(config, str(model), "its config.json in the local Hugging Face cache")
    raise ShapeError(f"Unknown model {str(model)!r}: use one of {', '.join(KNOWN_MODELS)}, a local folder that "
                       "holds a config.json, or a hub id already in your local Hugging Face cache.")
