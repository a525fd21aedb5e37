"""The offline base models: `gpt2-mini`, shipped inside the package, GPT-2 small and `llama-mini`, built locally.

Nothing is downloaded. `gpt2-mini` is GPT-2's code with four narrow layers (about 0.9M parameters,
3.7 MB), pretrained on `adapterlab.corpus` with a byte-level BPE tokenizer of its own; its files ship
in `adapterlab/data/gpt2-mini/`, made by `adapterlab.recipes.make_gpt2_mini`. `gpt2` is transformers'
`GPT2Config()` (12 layers, 768 wide, 50,257 tokens, about 124M parameters) with seeded random weights,
so parameter counts and file sizes are the real GPT-2's but its text is noise; at 500 MB it is built
once into the model cache (`adapterlab.cache`) instead of shipped. `llama-mini` (`adapterlab.llama_mini`) is a
Llama-style model of gpt2-mini's size with seeded random weights, built into the cache in a fraction of a second.

All three are always loaded with `AutoModelForCausalLM.from_pretrained(folder)`: learners use the real
loading path. The real hub GPT-2 stays one argument away (`source="hub"` or `ADAPTERLAB_SOURCE=hub`).
"""

from __future__ import annotations

import os
import shutil
from functools import cache
from pathlib import Path

import torch
from huggingface_hub import is_offline_mode
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from adapterlab.cache import cache_root, cached_build
from adapterlab.llama_mini import build_llama_mini

BASE_MODELS = ("gpt2", "gpt2-mini", "llama-mini")
SHIPPED = Path(__file__).with_name("data")  # gpt2-mini and the small adapters trained on it
MINI_DIR = SHIPPED / "gpt2-mini"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# Bump when the gpt2 recipe below (or what its build folder holds) changes, so older caches are rebuilt.
# 3: the stamp is written by adapterlab.cache (notebook 00 lists the folder, stamp included, byte for byte).
# 4: gpt2-mini's tokenizer, which the folder copies, was retrained (the corpus's Spanish agrees in gender).
GPT2_RECIPE = {"name": "gpt2", "recipe": 4}


class BaseModelError(RuntimeError):
    """A base model cannot be built or loaded; the message says why and what to do."""


def _write_gpt2(folder: Path) -> None:
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(folder)  # GPT-2 small's shapes; weights are random
    for name in TOKENIZER_FILES:  # gpt2-mini's tokenizer: only its first ~800 of 50,257 ids are words
        shutil.copy(MINI_DIR / name, folder / name)


def build_gpt2(force: bool = False) -> Path:
    """Builds `gpt2` into the model cache unless a current build is there; returns its folder."""
    return cached_build(cache_root() / "gpt2", GPT2_RECIPE, _write_gpt2, force)


def _check_name(name: str) -> None:
    if name not in BASE_MODELS:
        raise BaseModelError(
            f"Unknown base model {name!r}: the workbook has {' and '.join(map(repr, BASE_MODELS))}; "
            "for a Hugging Face model id pass source='hub'."
        )


@cache
def model_dir(name: str = "gpt2") -> Path:
    """Returns the local folder of base model `name`, building `gpt2` or `llama-mini` the first time (cached per
    kernel)."""
    _check_name(name)
    if name == "llama-mini":
        return build_llama_mini(MINI_DIR)  # gpt2-mini's tokenizer sets its vocabulary
    return MINI_DIR if name == "gpt2-mini" else build_gpt2()


def _source(source: str | None) -> str:
    source = source or os.environ.get("ADAPTERLAB_SOURCE", "local")
    if source not in ("local", "hub"):
        raise BaseModelError(f"Unknown source {source!r}: use 'local' (built here) or 'hub' (Hugging Face).")
    return source


def _from_hub(loader, name: str, **kwargs):
    # The hub's own flag (HF_HUB_OFFLINE as it was when huggingface_hub was imported), not a second reading
    try:
        return loader.from_pretrained(name, local_files_only=is_offline_mode(), **kwargs)
    except OSError:
        raise BaseModelError(
            f"{name!r} is not in your local Hugging Face cache and the hub is switched off "
            "(HF_HUB_OFFLINE=1); with network, set HF_HUB_OFFLINE=0 before importing adapterlab, "
            "or use the workbook's own source='local'."
        ) from None


def load_model(name: str = "gpt2", *, source: str | None = None,
               dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """Returns a fresh copy of base model `name` in eval mode, loaded with `from_pretrained`.

    Every call returns a new object, because PEFT's `get_peft_model` changes the model it wraps.

    Args:
        name: 'gpt2', 'gpt2-mini' or 'llama-mini' (local), or any hub id with source='hub'.
        source: 'local' (default, or env ADAPTERLAB_SOURCE) or 'hub'.
        dtype: the parameters' dtype.
    """
    if _source(source) == "hub":
        model = _from_hub(AutoModelForCausalLM, name, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir(name), dtype=dtype)
    if model.loss_type is None:
        # transformers 5.23 picks the loss from the class name, finds none in 'GPT2LMHeadModel', and warns
        # "`loss_type=None` was set in the config but it is unrecognized" at the first loss, then uses the
        # causal-LM loss anyway. Naming that loss keeps the same numbers without the warning.
        model.loss_type = "ForCausalLM"
    return model.eval()


def load_tokenizer(name: str = "gpt2", *, source: str | None = None) -> PreTrainedTokenizerFast:
    """Returns the tokenizer saved beside base model `name` (the workbook's BPE for local models)."""
    if _source(source) == "hub":
        return _from_hub(AutoTokenizer, name)
    _check_name(name)
    return AutoTokenizer.from_pretrained(MINI_DIR)  # the local models share gpt2-mini's tokenizer


def generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, prompt: str,
             max_new_tokens: int = 20) -> str:
    """Returns `prompt` continued greedily by `model`.

    Token ids the tokenizer does not have (random `gpt2` has 50,257 outputs, our BPE about 800) are
    suppressed, so every generated token can be decoded.
    """
    inputs = tokenizer(prompt, return_tensors="pt")
    vocab = model.config.vocab_size
    unknown = list(range(len(tokenizer), vocab)) if vocab > len(tokenizer) else None
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id, suppress_tokens=unknown)
    return tokenizer.decode(out[0], skip_special_tokens=True)
