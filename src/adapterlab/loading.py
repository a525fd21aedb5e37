"""A checked adapter loader: refuse an adapter that does not fit the base model, in one sentence.

`PeftModel.from_pretrained(base, path)` raises on a width mismatch, but an adapter trained on a
model of another depth loads with a warning at most: onto a shallower base, the weights of the
missing blocks are dropped without a word; onto a deeper one, the extra blocks keep LoRA layers
at their initial values. `check_adapter_fits` compares every tensor name and shape in the file's
header (read by `adapterlab.inspection`, nothing unpickled) with the modules of the base model first.
"""

from __future__ import annotations

import re
from pathlib import Path

from peft import LoraConfig, PeftModel
from peft.tuners.tuners_utils import check_target_module_exists
from torch import nn
from transformers.pytorch_utils import Conv1D

from adapterlab.inspection import inspect_adapter

PREFIX = "base_model.model."  # PEFT's key prefix: PeftModel.base_model (LoraModel) .model (the base)
_LORA_KEY = re.compile(r"^(?P<module>.+)\.(?P<part>lora_A|lora_B)\.weight$")


class AdapterMismatchError(ValueError):
    """The adapter's tensors do not fit the base model it was given; the message says how."""


def _features(module: nn.Module) -> tuple[int, int] | None:
    """(d_in, d_out) of a layer LoRA can wrap, or None for other modules."""
    if isinstance(module, Conv1D):  # GPT-2 stores (in, out): the reason for fan_in_fan_out=True
        return module.weight.shape[0], module.weight.shape[1]
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    return None


def _targeted(base: nn.Module, targets: list[str] | str | None) -> set[str]:
    """Names of the base's modules that `target_modules` selects, by PEFT's own rule."""
    if targets is None:
        return set()
    config = LoraConfig(target_modules=targets)
    return {name for name, module in base.named_modules()
            if _features(module) and check_target_module_exists(config, name)}


def check_adapter_fits(base: nn.Module, path: str | Path) -> None:
    """Raises AdapterMismatchError unless every LoRA tensor at `path` fits a layer of `base`, and every layer
    the adapter's config targets in `base` has its weights in the file.

    Args:
        base: the plain transformers model the adapter will be loaded onto.
        path: the adapter folder written by `save_pretrained`.

    Raises:
        AdapterMismatchError: a tensor names a missing layer, has the wrong shape, or targeted layers lack weights.
        adapterlab.adapter_files.AdapterFileError: the folder or its files are missing or corrupt.
    """
    report = inspect_adapter(path)
    where = Path(path).name
    covered = set()
    for tensor in report.tensors:
        match = _LORA_KEY.match(tensor.name.removeprefix(PREFIX))
        if not tensor.name.startswith(PREFIX) or match is None:
            continue  # modules_to_save, embeddings, other methods: outside what this check understands
        name, part = match["module"], match["part"]
        try:
            features = _features(base.get_submodule(name))
        except AttributeError:
            features = None
        if features is None:
            raise AdapterMismatchError(
                f"{where}: has weights for layer '{name}', which this base model does not have "
                f"(it was trained on another architecture or depth); load it onto the model it was trained for.")
        d_in, d_out = features
        r = tensor.shape[0] if part == "lora_A" else tensor.shape[-1]
        expected = (r, d_in) if part == "lora_A" else (d_out, r)
        if tensor.shape != expected:
            raise AdapterMismatchError(
                f"{where}: {part} of '{name}' has shape {list(tensor.shape)} but this base model's layer maps "
                f"{d_in} -> {d_out}, so it needs {list(expected)} (the adapter was trained for another width).")
        covered.add(name)
    missing = sorted(_targeted(base, report.target_modules) - covered)
    if missing and report.n_tensors:
        raise AdapterMismatchError(
            f"{where}: has no weights for {len(missing)} layer(s) of this base model that its config targets, "
            f"first '{missing[0]}' (the adapter was trained on a shallower model); load it onto the model it was "
            "trained for.")


def load_adapter_checked(base: nn.Module, path: str | Path, adapter_name: str = "default",
                         is_trainable: bool = False):
    """Returns `PeftModel.from_pretrained(base, path, ...)` after `check_adapter_fits(base, path)` passed.

    Args:
        base: the plain transformers model (not yet wrapped).
        path: the adapter folder.
        adapter_name: the name to load it under.
        is_trainable: False (PEFT's default) loads it frozen.
    """
    check_adapter_fits(base, path)
    return PeftModel.from_pretrained(base, path, adapter_name=adapter_name, is_trainable=is_trainable)
