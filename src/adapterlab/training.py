"""The workbook's training loops, side by side: pretraining `gpt2-mini`, and training its small adapters.

All three are one loop, `fit`: AdamW (torch's default weight decay, 0.01), a fixed number of steps,
batches drawn from a seeded generator, the loss of every step returned. They differ where the job
differs, and only there:

| loop | trains | batches | mode | extras |
|---|---|---|---|---|
| `pretrain` | every weight | corpus windows | train (dropout) | 10% one-cycle warm-up; clip at 1.0 |
| `train_on_examples` | LoRA weights | prompt + answer, prompt masked | eval (no dropout) | clip at 1.0 |
| `train_on_windows` | LoRA weights | windows of some sentences | train (LoRA dropout) | none |

Why: a model trained from scratch at a high learning rate diverges without the warm-up and the
clipping; the task adapters must depend on their seed only (so no dropout), and learn a short answer
from a few hundred examples; the demo adapters of the merge notebook only need to move the model's
text a little towards one language. Every loop runs on one thread (`single_thread`).

Notebook 02 trains with transformers' `Trainer` instead, which is what learners use at work; these
loops make the files the package ships (`adapterlab.recipes`), where a few lines beat a framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

Batch = dict[str, torch.Tensor]


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Runs the `with` block on one torch thread, then restores the thread count.

    One thread does the same sums in the same order on every machine (so a seed gives the same weights
    everywhere), and models this narrow gain little from a second thread, while on a busy machine two
    threads can be ten times slower than one.
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


def fit(model: nn.Module, parameters: Iterable[nn.Parameter], next_batch: Callable[[], Batch], *, steps: int,
        lr: float, clip: float | None = None, warmup: float | None = None) -> list[float]:
    """Runs `steps` AdamW steps of `model(**next_batch()).loss`; returns every step's loss.

    Args:
        model: any model whose forward takes the batch's keys and returns `.loss`.
        parameters: what the optimizer updates (all weights, or only the adapter's).
        next_batch: returns the next batch; it owns the seeded generator, so the order is reproducible.
        steps: optimizer steps.
        lr: the learning rate (the peak of the schedule when `warmup` is given).
        clip: clip the gradients' global norm to this, or None.
        warmup: share of the steps spent warming up a one-cycle schedule, or None for a constant rate.
    """
    optimizer = torch.optim.AdamW(list(parameters), lr=lr, weight_decay=0.01)
    schedule = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=warmup)
                if warmup else None)
    losses = []
    for _ in range(steps):
        loss = model(**next_batch()).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if schedule is not None:
            schedule.step()
        losses.append(loss.item())
    return losses


def _windows(ids: torch.Tensor, batch_size: int, block_size: int, seed: int) -> Callable[[], Batch]:
    generator = torch.Generator().manual_seed(seed)

    def next_batch() -> Batch:
        batch = random_windows(ids, batch_size, block_size, generator)
        return {"input_ids": batch, "labels": batch}  # the model shifts the labels by one itself

    return next_batch


def pretrain(model: nn.Module, ids: torch.Tensor, *, steps: int, batch_size: int, block_size: int, lr: float,
             seed: int) -> list[float]:
    """Trains every weight of `model` on next-token prediction over random windows of `ids`; leaves it in eval."""
    model.train()
    with single_thread():
        losses = fit(model, model.parameters(), _windows(ids, batch_size, block_size, seed), steps=steps, lr=lr,
                     clip=1.0, warmup=0.1)
    model.eval()
    return losses


def train_on_windows(model: nn.Module, ids: torch.Tensor, *, steps: int, batch_size: int, block_size: int,
                     lr: float, seed: int) -> list[float]:
    """Trains the trainable (adapter) weights of `model` on random windows of `ids`; leaves it in eval."""
    model.train()
    with single_thread():
        losses = fit(model, [p for p in model.parameters() if p.requires_grad],
                     _windows(ids, batch_size, block_size, seed), steps=steps, lr=lr)
    model.eval()
    return losses


def train_on_examples(model: nn.Module, n_examples: int, batch_of: Callable[[list[int]], Batch], *, steps: int,
                      batch_size: int, lr: float, seed: int) -> list[float]:
    """Trains the trainable (adapter) weights of `model` on batches of examples drawn at random.

    Args:
        model: a PEFT model, kept in eval mode: no dropout, so a step depends on the seed only.
        n_examples: how many training examples there are.
        batch_of: returns the encoded batch (`input_ids`, `attention_mask`, `labels`) of the examples
            at the given indices.
    """
    generator = torch.Generator().manual_seed(seed)

    def next_batch() -> Batch:
        return batch_of(torch.randint(0, n_examples, (batch_size,), generator=generator).tolist())

    model.eval()
    with single_thread():
        return fit(model, [p for p in model.parameters() if p.requires_grad], next_batch, steps=steps, lr=lr,
                   clip=1.0)
