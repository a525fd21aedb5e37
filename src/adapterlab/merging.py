"""Merging a LoRA adapter into its base model: the delta by hand, what a merge changes, and what it costs.

A merge writes W' = W + (lora_alpha / r) · B·A into the base layer (LoRA paper, Hu et al. 2021, section
4.1; PEFT `LoraLayer.get_delta_weight` and `merge`). This module holds the measurements notebook 06
makes of that: the delta computed by hand, logit gaps and weight drift between two models, a simulated
absmax quantizer (bitsandbytes does not run on this workbook's CPU stack), latency timed in turns,
and two small adapters on `gpt2-mini`, trained once and cached, to merge.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from adapterlab.corpus import generate_corpus
from adapterlab.models import (
    RECIPE_VERSION,
    cache_dir,
    cached_build,
    load_model,
    load_tokenizer,
    random_windows,
    single_thread,
)

# Bump when the recipe below changes, so adapters cached by an older recipe are rebuilt.
DEMO_RECIPE = 2
DEMO_BASE = "gpt2-mini"
DEMO_ADAPTERS = ("english", "spanish")
DEMO_LORA = dict(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj", "c_fc"], lora_dropout=0.1,
                 fan_in_fan_out=True)  # GPT-2's layers are Conv1D, which store the weight as (in, out)
DEMO_TRAINING = dict(steps=24, batch_size=8, block_size=48, lr=3e-3)
# Every sentence of the corpus's Spanish templates has one of these words; no English one does.
_SPANISH_MARKERS = (" es ", " vive ", " come ", " fue ")


def lora_delta(layer: BaseTunerLayer, adapter_name: str = "default") -> torch.Tensor:
    """Returns (lora_alpha / r) · B·A for `layer`, laid out like its base weight, in float32.

    GPT-2's Conv1D stores its weight as (in, out), so with `fan_in_fan_out=True` the product is
    transposed, as in PEFT's `get_delta_weight`.
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
    from transformers.pytorch_utils import Conv1D

    for name in names:
        module = model.get_submodule(name)
        module = module.get_base_layer() if isinstance(module, BaseTunerLayer) else module
        transposed = isinstance(module, Conv1D)
        weight = module.weight.data.T if transposed else module.weight.data
        new = fn(weight)
        module.weight.data = (new.T if transposed else new).contiguous().to(module.weight.dtype)


@torch.inference_mode()
def forward_times(models: Mapping[str, nn.Module], input_ids: torch.Tensor, repeats: int = 60,
                  warmup: int = 3) -> dict[str, list[float]]:
    """Returns the seconds of `repeats` forward passes of each model, the models taking turns.

    Round i of every model runs back to back (a, b, c, a, b, c, ...), so `median_ratio` can compare
    runs that met the same load on a shared machine.
    """
    times: dict[str, list[float]] = {name: [] for name in models}
    for i in range(warmup + repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model(input_ids=input_ids)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def median_ratio(slow: Sequence[float], fast: Sequence[float]) -> float:
    """Returns the median over rounds of slow[i] / fast[i], for times taken in turns by `forward_times`.

    A burst of other work slows both runs of a round alike, so the ratio of a round is steadier than
    the ratio of two medians, and the median ignores the odd round where only one run was hit.
    """
    if len(slow) != len(fast) or not slow:
        raise ValueError(f"median_ratio needs two equally long, non-empty lists of times, got {len(slow)} "
                         f"and {len(fast)}; take both from one forward_times call.")
    return statistics.median(a / b for a, b in zip(slow, fast, strict=True))


def demo_texts(adapter_name: str) -> list[str]:
    """Returns the sentences adapter `adapter_name` ('english' or 'spanish') is trained on, from the corpus."""
    if adapter_name not in DEMO_ADAPTERS:
        raise ValueError(f"There is no demo adapter {adapter_name!r}; pick one of {DEMO_ADAPTERS}.")
    sentences = [s.strip() + "." for line in generate_corpus().splitlines() for s in line.split(".") if s.strip()]
    is_spanish = [any(marker in f" {s} " for marker in _SPANISH_MARKERS) for s in sentences]
    return [s for s, es in zip(sentences, is_spanish, strict=True) if es == (adapter_name == "spanish")]


def train_lora(base: nn.Module, token_ids: torch.Tensor, config: LoraConfig, *, steps: int, batch_size: int,
               block_size: int, lr: float, seed: int = 0) -> PeftModel:
    """Wraps `base` in a fresh LoRA adapter, trains it on random windows of `token_ids`; returns it in eval mode."""
    torch.manual_seed(seed)
    model = get_peft_model(base, config)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        batch = random_windows(token_ids, batch_size, block_size, generator)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def _is_current(folder: Path) -> bool:
    stamp = folder / "adapterlab_build.json"
    if not stamp.is_file():
        return False
    built = json.loads(stamp.read_text())
    # Trained on gpt2-mini's weights: a rebuilt base (a new recipe) makes them stale too.
    return built.get("recipe") == DEMO_RECIPE and built.get("base_recipe") == RECIPE_VERSION


def demo_adapters(force: bool = False) -> dict[str, Path]:
    """Returns {name: folder} of two small LoRA adapters on `gpt2-mini`, trained once and cached.

    'english' is trained on the corpus's English sentences, 'spanish' on its Spanish ones, each for
    a few seconds with a fixed seed. They are saved with `save_pretrained` under the model cache
    (adapter_config.json + adapter_model.safetensors), so notebooks load them the real way.
    """
    root = cache_dir()
    target = root / f"demo-adapters-{DEMO_BASE}"

    def write(staging: Path) -> None:
        tokenizer = load_tokenizer(DEMO_BASE)
        with single_thread():
            for seed, name in enumerate(DEMO_ADAPTERS):
                ids = torch.tensor(tokenizer(" ".join(demo_texts(name)))["input_ids"])
                model = train_lora(load_model(DEMO_BASE), ids, LoraConfig(**DEMO_LORA), seed=seed, **DEMO_TRAINING)
                model.save_pretrained(staging / name)
        stamp = {"recipe": DEMO_RECIPE, "base_recipe": RECIPE_VERSION, **DEMO_TRAINING}
        (staging / "adapterlab_build.json").write_text(json.dumps(stamp))

    # Two kernels may ask for the adapters at once: one trains them, the other waits and reuses them.
    cached_build(target, root / ".demo_adapters.lock", _is_current, write, force)
    return {name: target / name for name in DEMO_ADAPTERS}


def format_table(rows: Sequence[Mapping[str, object]]) -> str:
    """Returns `rows` (dicts with the same keys) as a Markdown table; floats in 3 significant digits."""
    if not rows:
        raise ValueError("format_table needs at least one row.")
    columns = list(rows[0])

    def cell(value: object) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
