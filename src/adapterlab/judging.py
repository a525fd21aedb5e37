"""What a hands-on check observes: the state a learner's code left behind, whatever code made it.

PEFT and transformers offer several right ways to one result: `target_modules` as names, longer endings, a
regex or "all-linear"; `PeftModel.from_pretrained` or transformers' own `model.load_adapter`; an adapter saved
at the top of a folder or in a subfolder named after it. A check that reads the code's spelling turns right
answers down. These helpers read the result instead: which modules hold LoRA layers and with which r and
alpha (from the layers, `peft.tuners.lora.LoraLayer`), which adapter each layer runs, whether adapters are
disabled or merged, the tensors an adapter holds, the complete adapters a folder holds, and the text files
in a folder that name this machine's paths.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file

from adapterlab.adapter_files import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME, WEIGHTS_NAME, is_complete_adapter

PREFIX = "base_model.model."  # what a PeftModel puts before the base model's module and tensor names


def adapter_host(model: Any) -> str | None:
    """'peft' for a PeftModel, 'transformers' for a model given adapters by transformers' own
    `load_adapter`/`add_adapter`, None for anything else."""
    if isinstance(model, PeftModel):
        return "peft"
    if isinstance(model, torch.nn.Module) and getattr(model, "_hf_peft_config_loaded", False):
        return "transformers"
    return None


def lora_layers(model: torch.nn.Module) -> dict[str, LoraLayer]:
    """Returns {module name relative to the base model ('transformer.h.0.attn.c_attn'): its LoRA layer}."""
    return {name.removeprefix(PREFIX): module for name, module in model.named_modules()
            if isinstance(module, LoraLayer)}


def wrapped_modules(model: torch.nn.Module, adapter: str | None = None) -> list[str]:
    """Returns the names of the modules holding a LoRA layer (of `adapter` only, if given), sorted."""
    return sorted(name for name, layer in lora_layers(model).items()
                  if adapter is None or adapter in layer.lora_A or adapter in layer.lora_embedding_A)


def layer_settings(model: torch.nn.Module, adapter: str) -> set[tuple[int, float]]:
    """Returns the set of (r, lora_alpha) the LoRA layers of `adapter` were built with (one pair when uniform)."""
    return {(layer.r[adapter], layer.lora_alpha[adapter]) for layer in lora_layers(model).values()
            if adapter in layer.r}


def active_adapters(model: torch.nn.Module) -> set[str]:
    """Returns the adapters the LoRA layers run (each layer's own `active_adapters`), as the forward pass does."""
    return {name for layer in lora_layers(model).values() for name in layer.active_adapters}


def adapters_disabled(model: torch.nn.Module) -> bool:
    """True if any LoRA layer is switched off (`disable_adapter_layers`, or inside `disable_adapter()`)."""
    return any(layer.disable_adapters for layer in lora_layers(model).values())


def merged_adapters(model: torch.nn.Module) -> set[str]:
    """Returns the adapters merged into the base weights of any layer (`merge_adapter`, `merge`)."""
    return {name for layer in lora_layers(model).values() for name in layer.merged_adapters}


def adapter_tensors(model: torch.nn.Module, adapter: str) -> dict[str, torch.Tensor]:
    """Returns adapter `adapter`'s tensors as `save_pretrained` would write them, names without PEFT's prefix."""
    held = get_peft_model_state_dict(model, adapter_name=adapter, save_embedding_layers=False)
    return {key.removeprefix(PREFIX): value for key, value in held.items()}


def saved_tensors(folder: str | Path) -> dict[str, torch.Tensor]:
    """Returns the tensors of the adapter saved in `folder` (safetensors), names without PEFT's prefix."""
    saved = load_file(Path(folder) / SAFETENSORS_WEIGHTS_NAME)
    return {key.removeprefix(PREFIX): value for key, value in saved.items()}


def same_tensors(mine: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> bool:
    """True if both hold the same names, each with equal values."""
    return mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in theirs)


def same_setting(mine: Any, theirs: Any) -> bool:
    """True if two values of one adapter_config.json field agree; `target_modules` saved as a list is a set to
    PEFT (its order varies from save to save)."""
    if isinstance(mine, list) and isinstance(theirs, list):
        return sorted(map(str, mine)) == sorted(map(str, theirs))
    return mine == theirs


def holds_adapter(model: torch.nn.Module, adapter: str, folder: str | Path) -> bool:
    """True if adapter `adapter` of `model` holds exactly the tensors saved in `folder`."""
    return same_tensors(adapter_tensors(model, adapter), saved_tensors(folder))


def adapters_holding(model: torch.nn.Module, folder: str | Path) -> list[str]:
    """Returns the names of `model`'s adapters that hold exactly the tensors saved in `folder`."""
    saved = saved_tensors(folder)
    return [name for name in getattr(model, "peft_config", {}) if same_tensors(adapter_tensors(model, name), saved)]


def find_adapters(folder: str | Path) -> list[Path]:
    """Returns the complete adapters in `folder`: the folder itself, else its subfolders that hold one.

    PEFT saves an adapter not named 'default' into a subfolder named after it, so a right answer may sit one
    level deeper; a check accepts it when it is the only one.
    """
    folder = Path(folder)
    if is_complete_adapter(folder):
        return [folder]
    return sorted(sub for sub in folder.iterdir() if sub.is_dir() and is_complete_adapter(sub))


def missing_files(folder: str | Path) -> str:
    """One sentence on why `folder` holds no complete adapter, naming only what is there and what is not."""
    folder = Path(folder)
    present = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    if not present:
        return "The folder is empty: nothing was saved into it."
    weights = [p for p in present if Path(p).name in (SAFETENSORS_WEIGHTS_NAME, WEIGHTS_NAME)]
    configs = [p for p in present if Path(p).name == CONFIG_NAME]
    if weights and not configs:
        return (f"It holds {', '.join(weights)} but no {CONFIG_NAME}: without the config nobody can rebuild the "
                "LoRA layers the tensors belong to. Save through `save_pretrained`, which writes both.")
    if configs and not weights:
        return f"It holds {', '.join(configs)} but no weights file beside it ({sorted(present)})."
    return f"No complete adapter ({CONFIG_NAME} with {SAFETENSORS_WEIGHTS_NAME} beside it) in it: it holds {present}."


# A POSIX absolute path (not the tail of a URL: no ':', '/' or word character just before it), or a Windows one.
_PATH = re.compile(r"(?<![\w.:/@-])/[\w.@+~-]+(?:/[\w.@+~-]+)*|\b[A-Za-z]:\\[^\s\"'`]+")


def _of_this_machine(path: str) -> bool:
    roots = [str(Path.home()), tempfile.gettempdir(), os.getcwd()]
    return Path(path).exists() or any(root != "/" and path.startswith(root) for root in roots)


def machine_paths(folder: str | Path) -> dict[str, list[str]]:
    """Returns {file relative to `folder`: the paths of this machine it names} for every text file in `folder`.

    A text file is one that reads as UTF-8 (weights are skipped); a path is this machine's if it exists here
    or lies in the home, temporary or current folder.
    """
    folder = Path(folder)
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.stat().st_size < 2**20):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        named = sorted({p for p in _PATH.findall(text) if _of_this_machine(p)})
        if named:
            found[str(path.relative_to(folder))] = named
    return found
