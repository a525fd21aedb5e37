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
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

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


class StorageError(ValueError):
    """A size cannot be computed as asked; the message says why and what to ask instead."""


@dataclass(frozen=True)
class ModuleShape:
    """One kind of module, with its layer numbers replaced by '*': 'transformer.h.*.attn.c_attn'."""

    name: str
    kind: str  # 'Linear', 'Conv1D' or 'Embedding'
    d_in: int
    d_out: int
    count: int  # how many of them the model has (L for a per-layer module)


@dataclass(frozen=True)
class ModelShapes:
    """What the formula needs from a model: its targetable modules and its total parameter count."""

    name: str
    model_type: str
    modules: tuple[ModuleShape, ...]
    n_params: int  # tied weights counted once, as the checkpoint stores them
    source: str = ""

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


@dataclass(frozen=True)
class Estimate:
    """An adapter's size as the formula predicts it, next to its full model."""

    model: str
    rank: int
    dtype: str
    rows: tuple[tuple[ModuleShape, int], ...]  # (module, its adapter parameters)
    full_params: int
    full_dtype: str

    @property
    def params(self) -> int:
        return sum(n for _, n in self.rows)

    @property
    def bytes(self) -> int:
        """Bytes of tensor data in the adapter file (the safetensors header comes on top)."""
        return self.params * DTYPE_BYTES[self.dtype]

    @property
    def full_bytes(self) -> int:
        return self.full_params * DTYPE_BYTES[self.full_dtype]

    @property
    def fraction(self) -> float:
        """Adapter parameters as a fraction of the full model's."""
        return self.params / self.full_params

    @property
    def ratio(self) -> float:
        """How many times larger the full checkpoint is than the adapter's tensors."""
        return self.full_bytes / self.bytes


def lora_parameters(d_in: int, d_out: int, rank: int) -> int:
    """Returns the parameters of one LoRA pair: A (rank, d_in) plus B (d_out, rank)."""
    return rank * (d_in + d_out)


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


def shapes_from_model(model: torch.nn.Module, name: str = "", source: str = "") -> ModelShapes:
    """Reads the targetable modules of a model (on any device, `meta` included) and counts its parameters."""
    groups: dict[tuple, int] = {}
    for key, module in model.named_modules():
        found = _kind_and_shape(module)
        if found:
            pattern = re.sub(r"\.\d+(?=\.|$)", ".*", key)
            groups[(pattern, *found)] = groups.get((pattern, *found), 0) + 1
    modules = tuple(ModuleShape(p, k, i, o, n) for (p, k, i, o), n in groups.items())
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", "") or ""
    n_params = sum(p.numel() for p in model.parameters())  # .parameters() yields a tied weight once
    return ModelShapes(name or model_type or type(model).__name__, model_type, modules, n_params, source)


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


def estimate(model, targets: Sequence[str], rank: int, dtype: str | torch.dtype = "float32",
             full_dtype: str | torch.dtype | None = None) -> Estimate:
    """Predicts the adapter of LoRA rank `rank` on `targets` of `model`, stored in `dtype`.

    Args:
        model: anything `model_shapes` accepts.
        targets: module names as in `LoraConfig(target_modules=...)`, or ["all-linear"].
        rank: LoRA's r, at least 1.
        dtype: the adapter's dtype on disk.
        full_dtype: the full checkpoint's dtype for the ratio (default: `dtype`).
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise StorageError(f"The rank must be a whole number of at least 1, not {rank!r}.")
    if isinstance(targets, str):
        targets = [targets]
    dtype = dtype_name(dtype)
    full_dtype = dtype if full_dtype is None else dtype_name(full_dtype)
    shapes = model_shapes(model)
    rows = tuple((m, m.count * lora_parameters(m.d_in, m.d_out, rank)) for m in shapes.select(targets))
    return Estimate(shapes.name, rank, dtype, rows, shapes.n_params, full_dtype)


def safetensors_header_bytes(path: str | Path) -> int:
    """Returns the bytes of a .safetensors file that are not tensor data: 8 (the length) + the JSON header."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))  # little-endian u64, the format's first field
    return 8 + length


def safetensors_tensors(path: str | Path) -> dict[str, dict]:
    """Returns {tensor name: {'dtype', 'shape', 'data_offsets'}} from a .safetensors file's header."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    return header


def format_estimate(est: Estimate) -> str:
    """Returns the estimate as the lines `python -m adapterlab size` prints."""
    from adapterlab.files import human_size

    width = max(len(m.name) for m, _ in est.rows)
    sums = [f"{m.count:>3} × {est.rank} × ({m.d_in} + {m.d_out})" for m, _ in est.rows]
    lines = [f"{est.model}: LoRA rank {est.rank}, adapter in {est.dtype}"]
    for (m, n), text in zip(est.rows, sums, strict=True):
        lines.append(f"  {m.name:<{width}}  {text:<{max(map(len, sums))}} = {n:>13,}")
    lines += [
        f"  adapter:    {est.params:>15,} parameters  {human_size(est.bytes):>9}  (plus a header of a few kB)",
        f"  full model: {est.full_params:>15,} parameters  {human_size(est.full_bytes):>9}  in {est.full_dtype}",
        f"  the adapter is {est.fraction:.3%} of the model's parameters; "
        f"the full checkpoint is {est.ratio:,.0f} times larger",
    ]
    return "\n".join(lines)


def show_estimate(model, targets: Sequence[str], rank: int, dtype: str = "float32") -> Estimate:
    """Prints `format_estimate` of the estimate and returns it."""
    est = estimate(model, targets, rank, dtype)
    print(format_estimate(est))
    return est


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence and status 2, instead of argparse's usage block
        raise StorageError(f"{message[0].upper()}{message[1:]}; see python -m adapterlab size --help.")


def main(argv: list[str] | None = None) -> int:
    """`python -m adapterlab size --model NAME --targets T [T ...] --rank R --dtype D`."""
    parser = _Parser(prog="python -m adapterlab size",
                     description="Predict a LoRA adapter's parameters and bytes before training it.",
                     epilog=f"Known models: {', '.join(KNOWN_MODELS)}; or a folder holding a config.json.")
    parser.add_argument("--model", required=True, help="a known model name, or a local model folder")
    parser.add_argument("--targets", required=True, nargs="+",
                        help="target modules as in LoraConfig(target_modules=...), or all-linear")
    parser.add_argument("--rank", required=True, type=int, help="LoRA rank r (at least 1)")
    parser.add_argument("--dtype", default="float32", help="adapter dtype: float32, float16 or bfloat16")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        targets = [t for item in args.targets for t in item.split(",") if t]
        print(format_estimate(estimate(args.model, targets, args.rank, args.dtype)))
    except StorageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help prints and exits; report its status instead of leaving main()
        return int(exc.code or 0)
    return 0
