"""The offline base models: GPT-2 small built locally, and a small GPT-2 pretrained on our corpus.

Nothing is downloaded. `gpt2` is transformers' `GPT2Config()` (12 layers, 768 wide, 50,257 tokens,
about 124M parameters) with seeded random weights, so parameter counts and file sizes are the real
GPT-2's but its text is noise. `gpt2-mini` has the same code, four narrow layers, and a minute of
training on `adapterlab.corpus`, so it writes recognisable sentences and adapters on it visibly learn.

Both are written once with `save_pretrained` into a cache folder and always loaded back with
`AutoModelForCausalLM.from_pretrained(folder)`: learners use the real loading path. The real hub
GPT-2 stays one argument away (`source="hub"` or `ADAPTERLAB_SOURCE=hub`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from adapterlab.corpus import generate_corpus

# Bump when a recipe below changes, so caches built by an older recipe are rebuilt.
RECIPE_VERSION = 2
BASE_MODELS = ("gpt2", "gpt2-mini")
EOS = "<|endoftext|>"
MINI_CONFIG = dict(n_layer=4, n_embd=128, n_head=4, n_positions=128)
MINI_TRAINING = dict(steps=250, batch_size=32, block_size=64, lr=3e-3, seed=0)


class BaseModelError(RuntimeError):
    """A base model cannot be built or loaded; the message says why and what to do."""


def _cache_root() -> Path:
    return Path(os.environ.get("ADAPTERLAB_CACHE") or Path.home() / ".cache" / "adapterlab")


def cache_dir() -> Path:
    """Returns the folder holding the built base models (`ADAPTERLAB_CACHE`, default ~/.cache/adapterlab).

    Raises `BaseModelError` if it cannot be created or written.
    """
    root = _cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as exc:
        raise BaseModelError(
            f"The model cache folder '{root}' is not writable ({exc.strerror}); "
            "set ADAPTERLAB_CACHE to a folder you can write to."
        ) from None
    return root


@contextlib.contextmanager
def file_lock(path: Path):
    """Holds an exclusive lock on the file `path` (created if missing) for the `with` block.

    Two kernels (or pytest workers) may ask for the same cached build at once: one builds, the
    others wait and then find it built.
    """
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_build(folder: Path, lock: Path, is_current: Callable[[Path], bool], write: Callable[[Path], None],
                 force: bool = False) -> Path:
    """Returns `folder`, first filling it with `write(staging)` unless `is_current(folder)`.

    Every cached build of the workbook (base models, trained adapters) goes through here: under the
    file lock `lock`, into a temporary folder beside `folder` that is renamed into place at the end,
    so an interrupted build never leaves half a model where a good one was, or is found.
    """
    with file_lock(lock):
        if not force and is_current(folder):
            return folder
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            write(staging)
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def _stamp(name: str) -> dict:
    return {"name": name, "recipe": RECIPE_VERSION, "torch": torch.__version__}


def _is_built(folder: Path, name: str) -> bool:
    stamp = folder / "adapterlab_build.json"
    return stamp.is_file() and json.loads(stamp.read_text()).get("recipe") == RECIPE_VERSION


def train_tokenizer(text: str, vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Returns a byte-level BPE tokenizer (GPT-2's scheme) trained on `text`."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        text.splitlines(), vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False
    )
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=EOS, eos_token=EOS, unk_token=EOS)


def _build_gpt2(folder: Path, tokenizer: PreTrainedTokenizerFast) -> None:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config())  # GPT-2 small's shapes; weights are random
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@contextlib.contextmanager
def single_thread():
    """Runs the `with` block on one torch thread, then restores the thread count.

    The workbook's training runs use it: one thread does the same sums in the same order on every
    machine (so a seed gives the same weights everywhere), and models this narrow gain little from
    a second thread, while on a busy machine two threads can be ten times slower than one.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def random_windows(ids: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator) -> torch.Tensor:
    """Returns a batch of `batch_size` windows of `block_size` consecutive tokens from `ids`, at random starts."""
    starts = torch.randint(0, len(ids) - block_size, (batch_size,), generator=generator)
    return torch.stack([ids[s : s + block_size] for s in starts])  # (B, T)


def _pretrain(model: GPT2LMHeadModel, ids: torch.Tensor, steps: int, batch_size: int, block_size: int,
              lr: float, seed: int) -> list[float]:
    """Next-token training on random windows of `ids`; returns the loss of every step."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    losses = []
    for _ in range(steps):
        batch = random_windows(ids, batch_size, block_size, generator)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


def _build_mini(folder: Path, tokenizer: PreTrainedTokenizerFast) -> None:
    ids = torch.tensor(tokenizer(generate_corpus())["input_ids"])
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, **MINI_CONFIG)
    model = GPT2LMHeadModel(config)
    with single_thread():
        losses = _pretrain(model, ids, **MINI_TRAINING)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "training_losses.json").write_text(json.dumps([round(x, 4) for x in losses]))


def build(name: str, force: bool = False) -> Path:
    """Builds base model `name` into the cache unless a current build is there; returns its folder."""
    _check_name(name)
    if not force and _is_built(_cache_root() / name, name):
        return _cache_root() / name  # a built cache may be read-only (a shared folder on a JupyterHub)
    root = cache_dir()

    def write(staging: Path) -> None:
        tokenizer = train_tokenizer(generate_corpus())
        (_build_gpt2 if name == "gpt2" else _build_mini)(staging, tokenizer)
        (staging / "adapterlab_build.json").write_text(json.dumps(_stamp(name)))

    return cached_build(root / name, root / ".build.lock", lambda folder: _is_built(folder, name), write, force)


def _check_name(name: str) -> None:
    if name not in BASE_MODELS:
        raise BaseModelError(
            f"Unknown base model {name!r}: the workbook builds {' and '.join(map(repr, BASE_MODELS))}; "
            "for a Hugging Face model id pass source='hub'."
        )


@cache
def model_dir(name: str = "gpt2") -> Path:
    """Returns the local folder of base model `name`, building it the first time (cached per kernel)."""
    return build(name)


def _source(source: str | None) -> str:
    source = source or os.environ.get("ADAPTERLAB_SOURCE", "local")
    if source not in ("local", "hub"):
        raise BaseModelError(f"Unknown source {source!r}: use 'local' (built here) or 'hub' (Hugging Face).")
    return source


def _from_hub(loader, name: str, **kwargs):
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    try:
        return loader.from_pretrained(name, local_files_only=offline, **kwargs)
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
        name: 'gpt2' or 'gpt2-mini' (local), or any hub id with source='hub'.
        source: 'local' (default, or env ADAPTERLAB_SOURCE) or 'hub'.
        dtype: the parameters' dtype.
    """
    if _source(source) == "hub":
        model = _from_hub(AutoModelForCausalLM, name, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir(name), dtype=dtype)
    return model.eval()


def load_tokenizer(name: str = "gpt2", *, source: str | None = None) -> PreTrainedTokenizerFast:
    """Returns the tokenizer saved beside base model `name` (the workbook's BPE for local models)."""
    if _source(source) == "hub":
        return _from_hub(AutoTokenizer, name)
    return AutoTokenizer.from_pretrained(model_dir(name))


def generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, prompt: str,
             max_new_tokens: int = 20) -> str:
    """Returns `prompt` continued greedily by `model`.

    Token ids the tokenizer does not have (random `gpt2` has 50,257 outputs, our BPE about a
    thousand) are suppressed, so every generated token can be decoded.
    """
    inputs = tokenizer(prompt, return_tensors="pt")
    vocab = model.config.vocab_size
    unknown = list(range(len(tokenizer), vocab)) if vocab > len(tokenizer) else None
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id, suppress_tokens=unknown)
    return tokenizer.decode(out[0], skip_special_tokens=True)


def main(argv: list[str]) -> int:
    """`python -m adapterlab build [--force]`: builds the base models, then the adapters notebooks 05-06 train."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m adapterlab build", description=main.__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if a current build is cached")
    args = parser.parse_args(argv)
    for name in BASE_MODELS:
        start = time.perf_counter()
        try:
            folder = build(name, force=args.force)
        except BaseModelError as exc:
            print(exc)
            return 2
        print(f"{name}: ready in {folder.name}/ under the cache ({time.perf_counter() - start:.1f} s)")
    # Trained once here so that a workshop room (or CI) does not wait for them in a notebook cell.
    from adapterlab import adapters, merging, tasks

    for task in tasks.TASKS:
        start = time.perf_counter()
        adapters.build(task, force=args.force)
        print(f"adapter {task}: ready ({time.perf_counter() - start:.1f} s)")
    start = time.perf_counter()
    merging.demo_adapters(force=args.force)
    print(f"demo adapters for notebook 06: ready ({time.perf_counter() - start:.1f} s)")
    return 0
