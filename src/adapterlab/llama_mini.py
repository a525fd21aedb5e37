"""`llama-mini`: a small Llama-style model, the workbook's second architecture, built in a fraction of a second.

transformers' `LlamaForCausalLM` at gpt2-mini's size (4 layers, 128 wide, 4 heads, about 0.9M parameters),
so the two differ only in how they are built: separate `nn.Linear` projections `q_proj`, `k_proj`, `v_proj`,
`o_proj` in attention and `gate_proj`, `up_proj`, `down_proj` in the MLP (SwiGLU) where GPT-2 has fused
`Conv1D`s; RMSNorm, rotary positions, no biases; and grouped-query attention (GQA, Ainslie et al. 2023,
arXiv:2305.13245): 2 key/value heads for 4 query heads, so `k_proj` and `v_proj` map 128 -> 64 while
`q_proj` maps 128 -> 128, as Llama 3 and Mistral do at scale (8 key/value heads for 32).

Its weights are random (seeded), like the local `gpt2`'s: what a learner does with it (choosing
`target_modules`, predicting an adapter's size) needs its names and shapes, which random weights have
exactly. So nothing ships: it is built into the model cache (`adapterlab.cache`) when first asked for,
deterministically, in about 0.1 s, with gpt2-mini's tokenizer, whose vocabulary sets its embedding size.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from adapterlab.cache import cache_root, cached_build

NAME = "llama-mini"
# Llama's own field names. intermediate_size is 3 x hidden (Llama 3 8B: 14,336 = 3.5 x 4,096); head_dim is
# hidden_size / num_attention_heads = 32, so k_proj and v_proj output num_key_value_heads x 32 = 64.
LLAMA_MINI_CONFIG = dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=True)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# Bump when the recipe below (or what its build folder holds) changes, so older caches are rebuilt.
RECIPE_VERSION = 1


def recipe(tokenizer_dir: Path) -> dict:
    """Returns the stamp a current build carries: the recipe's version and the tokenizer it was built for.

    The tokenizer's hash is in it because its vocabulary sets the embedding's size: a retrained
    gpt2-mini tokenizer makes every cached llama-mini stale.
    """
    digest = hashlib.sha256((Path(tokenizer_dir) / "tokenizer.json").read_bytes()).hexdigest()[:16]
    return {"name": NAME, "recipe": RECIPE_VERSION, "tokenizer": digest}


def llama_mini_config(vocab_size: int, eos_token_id: int) -> LlamaConfig:
    """Returns llama-mini's `LlamaConfig` for a tokenizer of `vocab_size` ids whose end-of-text id is `eos_token_id`."""
    return LlamaConfig(vocab_size=vocab_size, bos_token_id=eos_token_id, eos_token_id=eos_token_id,
                       **LLAMA_MINI_CONFIG)


def write_llama_mini(folder: Path, tokenizer_dir: Path) -> None:
    """Saves a seeded llama-mini and the tokenizer of `tokenizer_dir` into `folder` (an ordinary model folder)."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_mini_config(len(tokenizer), tokenizer.eos_token_id))
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(Path(tokenizer_dir) / name, Path(folder) / name)


def build_llama_mini(tokenizer_dir: Path, force: bool = False) -> Path:
    """Builds llama-mini into the model cache unless a current build is there; returns its folder.

    Args:
        tokenizer_dir: the folder of the tokenizer it is built for (gpt2-mini's).
        force: rebuild even if a current build is cached.
    """
    return cached_build(cache_root() / NAME, recipe(tokenizer_dir),
                        lambda folder: write_llama_mini(folder, tokenizer_dir), force)
