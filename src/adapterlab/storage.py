"""The storage formula: how big a LoRA adapter is, before you train it.

LoRA (Hu et al. 2021, arXiv:2106.09685, section 4.1) replaces the update of a weight W (d_out, d_in)
by B @ A with A (r, d_in) and B (d_out, r). PEFT stores exactly A and B for every targeted module
(`lora_A.weight`, `lora_B.weight` in `adapter_model.safetensors`), so one module costs
r · (d_in + d_out) parameters, and a target present in L layers costs L · r · (d_in + d_out).
The modules of one layer differ (GPT-2's `c_attn` is 768 → 2304, `c_fc` 768 → 3072), so the sum
runs over targets, each with its own shapes.

Shapes come from the model itself (`adapterlab.shapes`: a config instantiated on the `meta` device,
or well-known models' config fields kept with their sources), so nothing needs a hub.

DoRA (Liu et al. 2024, arXiv:2402.09353; `LoraConfig(use_dora=True)`) splits each adapted weight into a
direction and a magnitude and trains one magnitude per output: PEFT adds `lora_magnitude_vector` (d_out,)
to every wrapped module, so a module costs r · (d_in + d_out) + d_out parameters, saved beside A and B.

The file is predicted to the byte: `Estimate.tensors` names every tensor PEFT's `save_pretrained`
writes (`get_peft_model_state_dict`: keys without the adapter name, `modules_to_save` and targeted
embeddings' base layers whole), and `safetensors_format.layout` turns names, dtypes and shapes into bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import torch

from adapterlab.adapter_files import SAFETENSORS_WEIGHTS_NAME
from adapterlab.files import human_size
from adapterlab.safetensors_format import DTYPE_BITS, TORCH_CODES, LayoutError, dtype_code, layout, tensor_bytes
from adapterlab.shapes import KNOWN_MODELS, ModelShapes, ModuleShape, ShapeError, model_shapes
from adapterlab.tables import format_table

__all__ = ["ATTENTION_TARGETS", "DTYPE_BYTES", "KNOWN_MODELS", "METADATA", "Estimate", "StorageError", "estimate",
           "format_estimate", "lora_parameters", "model_shapes", "show_estimate"]

# The dtypes LoRA weights are trained and saved in (the calculator's choices); the sizes come from the
# package's one dtype table, and `estimate` takes any dtype safetensors stores.
DTYPE_BYTES = {name: DTYPE_BITS[TORCH_CODES[name]] // 8 for name in ("float32", "float16", "bfloat16")}

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
    use_dora: bool = False  # each wrapped module also stores lora_magnitude_vector (d_out,)

    @property
    def params(self) -> int:
        """The LoRA parameters (A, B and DoRA's magnitudes): PEFT's trainable count without modules_to_save."""
        return sum(n for _, n in self.rows)

    @property
    def saved_params(self) -> int:
        """Parameters of the modules saved whole (modules_to_save, targeted embeddings' base layers)."""
        return sum(n for _, n in self.saved)

    @property
    def bytes(self) -> int:
        """Bytes of tensor data in the adapter file (the safetensors header comes on top)."""
        return tensor_bytes(self.dtype, [self.params]) + tensor_bytes(self.full_dtype, [self.saved_params])

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
                if self.use_dora:  # peft.tuners.lora.dora: one magnitude per output feature
                    tensors[f"{PREFIX}{name}.lora_magnitude_vector"] = (self.dtype, (m.d_out,))
        for m, _ in self.saved:
            tensors |= {f"{PREFIX}{name}.{k}": (self.full_dtype, shape) for name in m.names for k, shape in m.state}
        return tensors

    @cached_property
    def header_bytes(self) -> int:
        """The safetensors header: 8 bytes that give its length, then the JSON, padded to 8 bytes."""
        return layout(self.tensors(), METADATA).header_bytes

    @property
    def file_bytes(self) -> int:
        """The size of the weights file (`adapter_model.safetensors`), to the byte: header plus tensor data."""
        return self.header_bytes + self.bytes

    @property
    def full_bytes(self) -> int:
        return tensor_bytes(self.full_dtype, [self.full_params])

    @property
    def fraction(self) -> float:
        """The LoRA pairs' parameters as a fraction of the full model's."""
        return self.params / self.full_params

    @property
    def ratio(self) -> float:
        """How many times larger the full checkpoint is than the adapter's tensors."""
        return self.full_bytes / self.bytes


def lora_parameters(d_in: int, d_out: int, r: int, use_dora: bool = False) -> int:
    """Returns the parameters of one LoRA pair: A (r, d_in) plus B (d_out, r), plus DoRA's magnitude (d_out)."""
    return r * (d_in + d_out) + (d_out if use_dora else 0)


def dtype_name(dtype: str | torch.dtype) -> str:
    """Returns the torch name ('float16') of a dtype given as a name, an alias ('fp16'), a torch dtype or a
    safetensors code; a code without a torch dtype ('F4') stays a code.

    Raises:
        StorageError: safetensors stores no such dtype.
    """
    try:
        code = dtype_code(dtype)
    except LayoutError:
        raise StorageError(f"Unknown dtype {str(dtype)!r}: use one of {', '.join(DTYPE_BYTES)} (or fp32, fp16, "
                           "bf16), or another dtype safetensors stores.") from None
    return next((name for name, c in TORCH_CODES.items() if c == code), code)


def _saved_whole(shapes: ModelShapes, targets: list[str] | str, modules_to_save: Sequence[str]) -> list[ModuleShape]:
    """The modules PEFT saves whole: `modules_to_save`, and targeted embeddings' base layers."""
    saved = shapes.select_to_save(modules_to_save)
    # get_peft_model_state_dict, save_embedding_layers="auto": `k in target_modules`, so for a regex string PEFT
    # asks whether the name occurs in it
    if any(k in targets for k in EMBEDDING_LAYER_NAMES):
        saved += [replace(m, name=f"{m.name}.base_layer", names=tuple(f"{n}.base_layer" for n in m.names))
                  for m in shapes.select(targets) if set(m.names) & set(shapes.embeddings)]
    return saved


def estimate(model, targets: Sequence[str], r: int, dtype: str | torch.dtype = "float32",
             full_dtype: str | torch.dtype | None = None, modules_to_save: Sequence[str] = (),
             use_dora: bool = False) -> Estimate:
    """Predicts the adapter of LoRA rank `r` on `targets` of `model`, stored in `dtype`, to the byte.

    Args:
        model: anything `model_shapes` accepts.
        targets: as in `LoraConfig(target_modules=...)`: module names or suffixes, "all-linear", or a string
            PEFT reads as a regular expression matched whole against each module's full name.
        r: LoRA's rank, at least 1.
        dtype: the LoRA weights' dtype on disk (on a float16/bfloat16 base PEFT keeps them in float32
            unless `get_peft_model(..., autocast_adapter_dtype=False)`).
        full_dtype: the base model's dtype, for the full checkpoint and modules saved whole (default: `dtype`).
        modules_to_save: as in `LoraConfig(modules_to_save=...)`: modules saved whole.
        use_dora: as in `LoraConfig(use_dora=True)`: a magnitude vector (d_out,) per wrapped module.

    Raises:
        StorageError: the model, a target, r or a dtype is not one the formula can size.
    """
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise StorageError(f"The LoRA rank r must be a whole number of at least 1, not {r!r}.")
    targets = targets if isinstance(targets, str) else list(targets)  # a string is a regex, as in PEFT
    dtype = dtype_name(dtype)
    full_dtype = dtype if full_dtype is None else dtype_name(full_dtype)
    try:
        shapes = model_shapes(model)
        rows = tuple((m, m.count * lora_parameters(m.d_in, m.d_out, r, use_dora)) for m in shapes.select(targets))
        saved = tuple((m, m.count * sum(math.prod(s) for _, s in m.state))
                      for m in _saved_whole(shapes, targets, modules_to_save))
    except ShapeError as exc:
        raise StorageError(str(exc)) from None
    shown = (targets,) if isinstance(targets, str) else tuple(targets)
    return Estimate(shapes.name, r, dtype, rows, shapes.n_params, full_dtype, shown, saved, bool(use_dora))


def format_estimate(est: Estimate) -> str:
    """Returns the estimate as the lines `python -m adapterlab size` prints: exact bytes beside rounded ones."""
    def size(n: int) -> str:
        return f"{human_size(n):>9} ({n:,} bytes)"

    sums = [f"{m.count:>3} × ({est.r} × ({m.d_in} + {m.d_out}) + {m.d_out})" if est.use_dora
            else f"{m.count:>3} × {est.r} × ({m.d_in} + {m.d_out})" for m, _ in est.rows]
    sums += [f"{m.count:>3} × {' + '.join(' × '.join(map(str, s)) for _, s in m.state)}, whole"
             for m, _ in est.saved]
    table = format_table([("", m.name, text, "=", f"{n:,}") for (m, n), text in zip(est.rows + est.saved, sums,
                                                                                     strict=True)],
                         style="plain", align="<<<<>")
    kind = "DoRA" if est.use_dora else "LoRA"
    lines = [f"{est.model}: {kind} r={est.r} on {', '.join(est.targets)}, in {est.dtype}", table]
    lines += [
        f"  adapter:    {est.params + est.saved_params:>15,} parameters {size(est.bytes)} of tensors"
        + (f", {est.saved_params:,} of them saved whole in {est.full_dtype}" if est.saved else ""),
        f"  file:       {SAFETENSORS_WEIGHTS_NAME} {size(est.file_bytes)} = tensors + a header of "
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
                    bytes=tensor_bytes(dtype, [n]))

    return dict(model=est.model, r=est.r, targets=list(est.targets), use_dora=est.use_dora, dtype=est.dtype,
                params=est.params,
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
