"""The storage formula: how big a LoRA adapter is, before you train it.

LoRA (Hu et al. 2021, arXiv:2106.09685, section 4.1) replaces the update of a weight W (d_out, d_in)
by B @ A with A (r, d_in) and B (d_out, r). PEFT stores exactly A and B for every targeted module
(`lora_A.weight`, `lora_B.weight` in `adapter_model.safetensors`), so one module costs
r · (d_in + d_out) parameters, and a target present in L layers costs L · r · (d_in + d_out).
The modules of one layer differ (GPT-2's `c_attn` is 768 → 2304, `c_fc` 768 → 3072), so the sum
runs over targets, each with its own shapes.

Shapes come from the model itself: a transformers config is instantiated on the `meta` device
(no memory, no download) and its Linear, Conv1D and Embedding modules are read. Well-known models
are kept below as their config fields, each with its source, so nothing needs a hub.

The file is predicted to the byte: `Estimate.tensors` names every tensor PEFT's `save_pretrained`
writes (`get_peft_model_state_dict`: keys without the adapter name, `modules_to_save` and targeted
embeddings' base layers whole), and `safetensors_layout` turns names, dtypes and shapes into bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache, cached_property
from pathlib import Path

import torch

from adapterlab.safetensors_layout import layout

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
_DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}

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

# The attention projections PEFT targets, per model_type: what "all attention layers" means for each.
ATTENTION_TARGETS = {
    "gpt2": ("c_attn", "attn.c_proj"),  # bare "c_proj" would also match mlp.c_proj
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mistral": ("q_proj", "k_proj", "v_proj", "o_proj"),
}
PREFIX = "base_model.model."  # a PeftModel's keys for its base model's modules
EMBEDDING_LAYER_NAMES = ("embed_tokens", "lm_head")  # peft.utils.constants: targeting these saves their base weight
METADATA = {"format": "pt"}  # what PeftModel.save_pretrained passes to safetensors' save_file


class StorageError(ValueError):
    """A size cannot be computed as asked; the message says why and what to ask instead."""


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

    def select(self, targets: Sequence[str]) -> list[ModuleShape]:
        """Returns the modules PEFT's `target_modules=targets` would wrap (exact name or '.'-suffix).

        Raises:
            StorageError: a target matches no module of this model.
        """
        if list(targets) == ["all-linear"]:  # PEFT's shorthand: every Linear/Conv1D but the output layer
            return [m for m in self.modules if m.kind != "Embedding" and not m.name.endswith("lm_head")]
        chosen = []
        for target in targets:
            found = [m for m in self.modules if m.name == target or m.name.endswith("." + target)]
            if not found:
                names = ", ".join(sorted({m.name.rsplit(".", 1)[-1] for m in self.modules}))
                raise StorageError(f"{self.name} has no module named {target!r}; its modules are: {names}.")
            chosen += [m for m in found if m not in chosen]
        return chosen

    def select_to_save(self, modules_to_save: Sequence[str]) -> list[ModuleShape]:
        """Returns the modules PEFT's `modules_to_save` would copy (its `_set_trainable`: names ending so).

        Raises:
            StorageError: a name matches no module with weights.
        """
        found = []
        for target in modules_to_save:
            hits = [m for m in self.modules + self.others if any(n.endswith(target) for n in m.names)]
            if not hits:
                raise StorageError(f"{self.name} has no module with weights named {target!r} for modules_to_save; "
                                   "name a layer such as lm_head or a final norm.")
            found += [m for m in hits if m not in found]
        return found


@dataclass(frozen=True)
class Estimate:
    """An adapter's size as the formula predicts it, next to its full model."""

    model: str
    r: int
    dtype: str  # the LoRA weights' dtype on disk
    rows: tuple[tuple[ModuleShape, int], ...]  # (module, its LoRA parameters)
    full_params: int
    full_dtype: str  # the base model's dtype: the full checkpoint's, and that of whole modules saved
    targets: tuple[str, ...] = ()
    saved: tuple[tuple[ModuleShape, int], ...] = ()  # (module, parameters) saved whole, in full_dtype

    @property
    def params(self) -> int:
        """The LoRA pairs' parameters: the formula, and PEFT's trainable count without modules_to_save."""
        return sum(n for _, n in self.rows)

    @property
    def saved_params(self) -> int:
        """Parameters of the modules saved whole (modules_to_save, targeted embeddings' base layers)."""
        return sum(n for _, n in self.saved)

    @property
    def bytes(self) -> int:
        """Bytes of tensor data in the adapter file (the safetensors header comes on top)."""
        return self.params * DTYPE_BYTES[self.dtype] + self.saved_params * DTYPE_BYTES[self.full_dtype]

    def tensors(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """Returns {key: (dtype, shape)} of every tensor `PeftModel.save_pretrained` writes.

        PEFT's keys (`get_peft_model_state_dict`), without the adapter name: `<module>.lora_A.weight`
        (r, d_in) and `.lora_B.weight` (d_out, r), `.lora_embedding_A`/`_B` on an Embedding (Parameters,
        so no `.weight`), and each module saved whole under its own name, all behind `base_model.model.`.
        """
        tensors = {}
        for m, _ in self.rows:
            a, b = ("lora_embedding_A", "lora_embedding_B") if m.kind == "Embedding" else ("lora_A.weight",
                                                                                          "lora_B.weight")
            for name in m.names:
                tensors |= {f"{PREFIX}{name}.{a}": (self.dtype, (self.r, m.d_in)),
                            f"{PREFIX}{name}.{b}": (self.dtype, (m.d_out, self.r))}
        for m, _ in self.saved:
            tensors |= {f"{PREFIX}{name}.{k}": (self.full_dtype, shape) for name in m.names for k, shape in m.state}
        return tensors

    @cached_property
    def header_bytes(self) -> int:
        """The safetensors header: 8 bytes that give its length, then the JSON, padded to 8 bytes."""
        return layout(self.tensors(), METADATA).header_bytes

    @property
    def file_bytes(self) -> int:
        """The size of `adapter_model.safetensors`, to the byte: header plus tensor data."""
        return self.header_bytes + self.bytes

    @property
    def full_bytes(self) -> int:
        return self.full_params * DTYPE_BYTES[self.full_dtype]

    @property
    def fraction(self) -> float:
        """The LoRA pairs' parameters as a fraction of the full model's."""
        return self.params / self.full_params

    @property
    def ratio(self) -> float:
        """How many times larger the full checkpoint is than the adapter's tensors."""
        return self.full_bytes / self.bytes


def lora_parameters(d_in: int, d_out: int, r: int) -> int:
    """Returns the parameters of one LoRA pair: A (r, d_in) plus B (d_out, r)."""
    return r * (d_in + d_out)


def dtype_name(dtype: str | torch.dtype) -> str:
    """Returns the canonical name ('float16') of a dtype given as a name, an alias ('fp16') or a torch dtype."""
    name = str(dtype).removeprefix("torch.").lower()
    name = _DTYPE_ALIASES.get(name, name)
    if name not in DTYPE_BYTES:
        raise StorageError(f"Unknown dtype {str(dtype)!r}: use one of {', '.join(DTYPE_BYTES)} (or fp32, fp16, bf16).")
    return name


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
        StorageError: the model already holds LoRA layers.
    """
    groups: dict[tuple, list[str]] = {}
    for key, module in model.named_modules():
        if key.endswith("base_layer"):
            raise StorageError("This model already holds LoRA layers (get_peft_model changes a model in place); "
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
        StorageError: the name is none of these.
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
    raise StorageError(f"Unknown model {str(model)!r}: use one of {', '.join(KNOWN_MODELS)}, a local folder that "
                       "holds a config.json, or a hub id already in your local Hugging Face cache.")


def _saved_whole(shapes: ModelShapes, targets: list[str], modules_to_save: Sequence[str]) -> list[ModuleShape]:
    """The modules PEFT saves whole: `modules_to_save`, and targeted embeddings' base layers."""
    saved = shapes.select_to_save(modules_to_save)
    if any(t in EMBEDDING_LAYER_NAMES for t in targets):  # get_peft_model_state_dict: save_embedding_layers="auto"
        saved += [replace(m, name=f"{m.name}.base_layer", names=tuple(f"{n}.base_layer" for n in m.names))
                  for m in shapes.select(targets) if set(m.names) & set(shapes.embeddings)]
    return saved


def estimate(model, targets: Sequence[str], r: int, dtype: str | torch.dtype = "float32",
             full_dtype: str | torch.dtype | None = None, modules_to_save: Sequence[str] = ()) -> Estimate:
    """Predicts the adapter of LoRA rank `r` on `targets` of `model`, stored in `dtype`, to the byte.

    Args:
        model: anything `model_shapes` accepts.
        targets: module names as in `LoraConfig(target_modules=...)`, or ["all-linear"].
        r: LoRA's rank, at least 1.
        dtype: the LoRA weights' dtype on disk (on a float16/bfloat16 base PEFT keeps them in float32
            unless `get_peft_model(..., autocast_adapter_dtype=False)`).
        full_dtype: the base model's dtype, for the full checkpoint and modules saved whole (default: `dtype`).
        modules_to_save: as in `LoraConfig(modules_to_save=...)`: modules saved whole.
    """
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise StorageError(f"The LoRA rank r must be a whole number of at least 1, not {r!r}.")
    targets = [targets] if isinstance(targets, str) else list(targets)
    dtype = dtype_name(dtype)
    full_dtype = dtype if full_dtype is None else dtype_name(full_dtype)
    shapes = model_shapes(model)
    rows = tuple((m, m.count * lora_parameters(m.d_in, m.d_out, r)) for m in shapes.select(targets))
    saved = tuple((m, m.count * sum(math.prod(s) for _, s in m.state))
                  for m in _saved_whole(shapes, targets, modules_to_save))
    return Estimate(shapes.name, r, dtype, rows, shapes.n_params, full_dtype, tuple(targets), saved)


def format_estimate(est: Estimate) -> str:
    """Returns the estimate as the lines `python -m adapterlab size` prints: exact bytes beside rounded ones."""
    from adapterlab.files import human_size

    def size(n: int) -> str:
        return f"{human_size(n):>9} ({n:,} bytes)"

    sums = [f"{m.count:>3} × {est.r} × ({m.d_in} + {m.d_out})" for m, _ in est.rows]
    sums += [f"{m.count:>3} × {' + '.join(' × '.join(map(str, s)) for _, s in m.state)}, whole"
             for m, _ in est.saved]
    width, fill = max(len(m.name) for m, _ in est.rows + est.saved), max(map(len, sums))
    lines = [f"{est.model}: LoRA r={est.r} on {', '.join(est.targets)}, in {est.dtype}"]
    lines += [f"  {m.name:<{width}}  {text:<{fill}} = {n:>13,}"
              for (m, n), text in zip(est.rows + est.saved, sums, strict=True)]
    lines += [
        f"  adapter:    {est.params + est.saved_params:>15,} parameters {size(est.bytes)} of tensors"
        + (f", {est.saved_params:,} of them saved whole in {est.full_dtype}" if est.saved else ""),
        f"  file:       adapter_model.safetensors {size(est.file_bytes)} = tensors + a header of "
        f"{est.header_bytes:,} bytes",
        f"  full model: {est.full_params:>15,} parameters {size(est.full_bytes)} in {est.full_dtype}",
        f"  the adapter is {est.fraction:.3%} of the model's parameters; "
        f"the full checkpoint is {est.ratio:,.0f} times larger",
    ]
    return "\n".join(lines)


def estimate_dict(est: Estimate) -> dict:
    """Returns the estimate as plain data, what `python -m adapterlab size --json` prints."""
    def row(m: ModuleShape, n: int, dtype: str) -> dict:
        return dict(module=m.name, kind=m.kind, d_in=m.d_in, d_out=m.d_out, count=m.count, params=n,
                    bytes=n * DTYPE_BYTES[dtype])

    return dict(model=est.model, r=est.r, targets=list(est.targets), dtype=est.dtype, params=est.params,
                saved_params=est.saved_params, tensor_bytes=est.bytes, header_bytes=est.header_bytes,
                file_bytes=est.file_bytes,
                rows=[row(m, n, est.dtype) for m, n in est.rows],
                saved_whole=[row(m, n, est.full_dtype) for m, n in est.saved], full_params=est.full_params,
                full_dtype=est.full_dtype, full_bytes=est.full_bytes)


def show_estimate(model, targets: Sequence[str], r: int, dtype: str = "float32", **options) -> Estimate:
    """Prints `format_estimate` of `estimate(model, targets, r, dtype, **options)` and returns the estimate."""
    est = estimate(model, targets, r, dtype, **options)
    print(format_estimate(est))
    return est


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence and status 2, instead of argparse's usage block
        raise StorageError(f"{message[0].upper()}{message[1:]}; see python -m adapterlab size --help.")


def _parser() -> _Parser:
    parser = _Parser(prog="python -m adapterlab size",
                     description="Predict a LoRA adapter's parameters and file size, to the byte, before training.",
                     epilog=f"Known models: {', '.join(KNOWN_MODELS)}; or a folder holding a config.json.")
    parser.add_argument("--model", required=True, help="a known model name, or a local model folder")
    parser.add_argument("--targets", required=True, nargs="+",
                        help="target modules as in LoraConfig(target_modules=...), or all-linear")
    parser.add_argument("-r", "--r", required=True, type=int, help="LoRA rank r, as in LoraConfig(r=...)")
    parser.add_argument("--dtype", default="float32", help="LoRA weights' dtype: float32, float16 or bfloat16")
    parser.add_argument("--base-dtype", help="the base model's dtype, for modules saved whole (default: --dtype)")
    parser.add_argument("--modules-to-save", nargs="+", default=[], help="as in LoraConfig(modules_to_save=...)")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m adapterlab size --model NAME --targets T [T ...] -r R [--dtype D] [--json]`."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if any(a == "--rank" or a.startswith("--rank=") for a in argv):
            raise StorageError("The rank is now --r (or -r), PEFT's name for it: e.g. --r 8.")
        args = _parser().parse_args(argv)
        split = [[t for item in names for t in item.split(",") if t] for names in (args.targets, args.modules_to_save)]
        est = estimate(args.model, split[0], args.r, args.dtype, args.base_dtype, split[1])
        print(json.dumps(estimate_dict(est), indent=2) if args.json else format_estimate(est))
    except StorageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help prints and exits; report its status instead of leaving main()
        return int(exc.code or 0)
    return 0
