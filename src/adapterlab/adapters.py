"""Two trained LoRA adapters on `gpt2-mini`, one per task of `adapterlab.tasks`, cached on disk.

`trained_adapter("spanish_sentiment")` returns the folder of a trained adapter (what PEFT's
`save_pretrained` writes: `adapter_config.json` and `adapter_model.safetensors`), training it the first
time. Notebooks and other helpers load it with `PeftModel.from_pretrained(base, folder)` or
`peft_model.load_adapter(folder, adapter_name=...)` on `load_model("gpt2-mini")`.

Training is plain next-token loss on the answer tokens only (the prompt is masked with -100), AdamW,
a fixed number of steps with a seeded batch order, so the same recipe gives the same adapter.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from adapterlab import models
from adapterlab.models import cache_dir, cached_build, load_model, load_tokenizer, single_thread
from adapterlab.tasks import TASKS, accuracy, encode, split

BASE = "gpt2-mini"
# Bump when the recipe (tasks, config or training) changes, so cached adapters are rebuilt.
RECIPE_VERSION = 2
TRAINING = dict(steps=100, batch_size=16, lr=3e-3, seed=0)


def lora_config() -> LoraConfig:
    """Returns the LoRA config both adapters use: rank 8 on every Conv1D of GPT-2's blocks."""
    # c_proj names both the attention output and the MLP output projection, so this is all four Conv1Ds.
    return LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj", "c_fc"], lora_dropout=0.0,
                      fan_in_fan_out=True, task_type="CAUSAL_LM")


def train(model: PeftModel, tokenizer, task: str, steps: int, batch_size: int, lr: float,
          seed: int) -> list[float]:
    """Trains the active adapter of `model` on `task`'s training examples; returns every step's loss."""
    examples, _ = split(task)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    # eval(): no dropout, so a step depends only on the seed; gradients flow all the same.
    model.eval()
    losses = []
    for _ in range(steps):
        picks = torch.randint(0, len(examples), (batch_size,), generator=generator).tolist()
        loss = model(**encode(tokenizer, [examples[i] for i in picks])).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"No adapter for task {task!r}: the workbook trains {' and '.join(map(repr, TASKS))}.")


def _is_built(folder: Path) -> bool:
    stamp = folder / "adapterlab_build.json"
    if not ((folder / "adapter_model.safetensors").is_file() and stamp.is_file()):
        return False
    built = json.loads(stamp.read_text())
    # Trained on gpt2-mini's weights: a rebuilt base (a new recipe) makes the adapter stale too.
    return built.get("recipe") == RECIPE_VERSION and built.get("base_recipe") == models.RECIPE_VERSION


def build(task: str, force: bool = False) -> Path:
    """Trains the adapter for `task` into the cache unless a current one is there; returns its folder."""
    _check_task(task)
    tokenizer = load_tokenizer(BASE)  # builds gpt2-mini first if needed, outside our lock
    root = cache_dir() / "adapters"
    root.mkdir(exist_ok=True)

    def write(staging: Path) -> None:
        torch.manual_seed(TRAINING["seed"])  # LoRA's A matrices start random
        model = get_peft_model(load_model(BASE), lora_config(), adapter_name=task)
        with single_thread():
            losses = train(model, tokenizer, task, **TRAINING)
        model.save_pretrained(staging / "out")
        _, test = split(task)
        stamp = dict(task=task, base=BASE, recipe=RECIPE_VERSION, base_recipe=models.RECIPE_VERSION,
                     torch=torch.__version__,
                     held_out_accuracy=accuracy(model, tokenizer, test), losses=[round(x, 4) for x in losses])
        # save_pretrained(path) writes into path/ when the adapter is named "default", else into
        # path/<name>/: move the files of the folder that holds them up into `staging`.
        written = next(p.parent for p in (staging / "out").rglob("adapter_config.json"))
        for file in written.iterdir():
            file.rename(staging / file.name)
        shutil.rmtree(staging / "out")
        (staging / "adapterlab_build.json").write_text(json.dumps(stamp))

    # Not the base models' lock file: building an adapter loads gpt2-mini, which may take that one.
    return cached_build(root / task, root / ".adapters.lock", _is_built, write, force)


def trained_adapter(task: str) -> Path:
    """Returns the folder of the trained LoRA adapter for `task` ('spanish_sentiment' or 'english_ner').

    Trained on `gpt2-mini` the first time (a few seconds) and cached under `cache_dir()/adapters/`.
    """
    return build(task)


def build_stamp(task: str) -> dict:
    """Returns what the build of `task`'s adapter recorded: its held-out accuracy and training losses."""
    return json.loads((trained_adapter(task) / "adapterlab_build.json").read_text())
