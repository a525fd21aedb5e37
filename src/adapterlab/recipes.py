"""How the files the package ships were made: `gpt2-mini`, its tokenizer, and the small adapters on it.

The shipped files live in `adapterlab/data/` so that a fresh machine opens the first notebook without a
minute of pretraining (and a room of thirty learners does not do it thirty times). The recipes stay
here, runnable and tested: `tools/remake_shipped.py` re-runs them, and the tests check that a re-run
reaches the shipped quality within a stated tolerance (training on another CPU need not give the same
bits, only the same model).

- `make_gpt2_mini`: a byte-level BPE tokenizer trained on the corpus, then GPT-2's code with four
  narrow layers pretrained for 250 steps (`training.pretrain`).
- `make_task_adapter`: notebook 05's adapters, one per task of `adapterlab.tasks`, LoRA r=8 on every
  Conv1D, 100 steps on the task's training examples (`training.train_on_examples`); the stamp records the
  accuracy on those and on the held-out examples (templates and names the training never used).
- `make_demo_adapters`: notebook 06's 'english' and 'spanish' adapters, 24 steps each on the corpus's
  sentences of one language (`training.train_on_windows`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from peft import get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from adapterlab import lora_configs, tasks, training
from adapterlab.adapters import DEMO_ADAPTERS
from adapterlab.cache import STAMP
from adapterlab.corpus import generate_corpus
from adapterlab.files import write_atomic
from adapterlab.models import load_model, load_tokenizer

EOS = "<|endoftext|>"
MINI_CONFIG = dict(n_layer=4, n_embd=128, n_head=4, n_positions=128)
MINI_TRAINING = dict(steps=250, batch_size=32, block_size=64, lr=3e-3, seed=0)
TASK_TRAINING = dict(steps=100, batch_size=16, lr=3e-3, seed=0)
DEMO_TRAINING = dict(steps=24, batch_size=8, block_size=48, lr=3e-3)
MINI_NAME = "gpt2-mini"
# Every sentence of the corpus's Spanish templates has one of these words; no English one does.
_SPANISH_MARKERS = (" es ", " vive ", " come ", " fue ")


def train_tokenizer(text: str, vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Returns a byte-level BPE tokenizer (GPT-2's scheme) trained on `text`."""
    from tokenizers import ByteLevelBPETokenizer  # the tokenizers package's trainer; only recipes need it

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        text.splitlines(), vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False
    )
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=EOS, eos_token=EOS, unk_token=EOS)


def make_gpt2_mini(folder: Path) -> list[float]:
    """Trains the tokenizer and `gpt2-mini` and saves both into `folder`; returns the training losses."""
    tokenizer = train_tokenizer(generate_corpus())
    ids = torch.tensor(tokenizer(generate_corpus())["input_ids"])
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, **MINI_CONFIG)
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"  # the loss transformers falls back to anyway, named to skip its warning (models.py)
    losses = training.pretrain(model, ids, **MINI_TRAINING)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "training_losses.json").write_text(json.dumps([round(x, 4) for x in losses]))
    return losses


def _save_adapter(model, folder: Path, stamp: dict | None = None) -> None:
    """Saves `model`'s one adapter with PEFT's `save_pretrained`, its files straight into `folder`.

    The files are PEFT's, unedited: what would name this machine is set on the model before saving.
    """
    # PEFT records the folder the base was loaded from: this machine's path, meaningless where the files ship.
    # No name at all, not "gpt2-mini": on every save PEFT looks a named base up (a folder, else the hub) and
    # warns when it finds none; the notebooks load these adapters onto load_model("gpt2-mini") themselves.
    for config in model.peft_config.values():
        config.base_model_name_or_path = None
    base = model.get_base_model()
    base.config._name_or_path = MINI_NAME  # what PEFT's model card (README.md) names
    # save_pretrained fills a config's missing base from the model's `name_or_path` (the folder it was loaded
    # from) and tags the card with it; without that attribute the config keeps no base and the card no path.
    base.__dict__.pop("name_or_path", None)
    model.save_pretrained(folder / "out")
    # save_pretrained(path) writes into path/ when the adapter is named "default", else into path/<name>/
    # (the card stays in path/); the shipped layout is one flat folder per adapter.
    (name,) = model.peft_config
    written = folder / "out" if name == "default" else folder / "out" / name
    for file in written.iterdir():
        if file.is_file():
            file.rename(folder / file.name)
    shutil.rmtree(folder / "out")
    if stamp is not None:
        write_atomic(folder / STAMP, json.dumps(stamp, indent=1))


def make_task_adapter(task: str, folder: Path) -> dict:
    """Trains the LoRA adapter for `task` on `gpt2-mini` and saves it into `folder`; returns its stamp."""
    tokenizer = load_tokenizer(MINI_NAME)
    train, test = tasks.split(task)
    torch.manual_seed(TASK_TRAINING["seed"])  # LoRA's A matrices start random
    model = get_peft_model(load_model(MINI_NAME), lora_configs.lora_config(lora_configs.TASK_LORA),
                           adapter_name=task)
    def batch_of(picks: list[int]) -> dict:
        return tasks.encode(tokenizer, [train[i] for i in picks])

    losses = training.train_on_examples(model, len(train), batch_of, **TASK_TRAINING)
    stamp = dict(task=task, base=MINI_NAME, train_accuracy=tasks.accuracy(model, tokenizer, train),
                 held_out_accuracy=tasks.accuracy(model, tokenizer, test), losses=[round(x, 4) for x in losses])
    _save_adapter(model, folder, stamp)
    return stamp


def demo_texts(adapter_name: str) -> list[str]:
    """Returns the sentences demo adapter `adapter_name` ('english' or 'spanish') is trained on, from the corpus."""
    if adapter_name not in DEMO_ADAPTERS:
        raise ValueError(f"There is no demo adapter {adapter_name!r}; pick one of {DEMO_ADAPTERS}.")
    sentences = [s.strip() + "." for line in generate_corpus().splitlines() for s in line.split(".") if s.strip()]
    is_spanish = [any(marker in f" {s} " for marker in _SPANISH_MARKERS) for s in sentences]
    return [s for s, es in zip(sentences, is_spanish, strict=True) if es == (adapter_name == "spanish")]


def make_demo_adapters(folder: Path) -> dict[str, list[float]]:
    """Trains the 'english' and 'spanish' demo adapters into `folder/<name>/`; returns their losses."""
    tokenizer = load_tokenizer(MINI_NAME)
    losses = {}
    for seed, name in enumerate(DEMO_ADAPTERS):
        ids = torch.tensor(tokenizer(" ".join(demo_texts(name)))["input_ids"])
        torch.manual_seed(seed)
        model = get_peft_model(load_model(MINI_NAME), lora_configs.lora_config(lora_configs.DEMO_LORA))
        losses[name] = training.train_on_windows(model, ids, seed=seed, **DEMO_TRAINING)
        (folder / name).mkdir(parents=True)
        _save_adapter(model, folder / name)  # PEFT's files only: notebook 06 lists them
    stamp = dict(base=MINI_NAME, **DEMO_TRAINING, losses={k: [round(x, 4) for x in v] for k, v in losses.items()})
    write_atomic(folder / STAMP, json.dumps(stamp, indent=1))
    return losses
