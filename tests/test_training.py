"""adapterlab.training: one loop, three uses; each deterministic for a seed, each training what it should."""

import pytest
import torch
from tests.common import tiny_gpt2, tiny_lora

from adapterlab import training

VOCAB = 50
IDS = torch.arange(200) % VOCAB


def tiny(seed=1):
    """A 1-block tiny GPT-2 in train mode (the loops must leave it in eval)."""
    return tiny_gpt2(seed, n_layer=1, vocab_size=VOCAB).train()


def lora(seed=1):
    """An r=2 LoRA on c_attn of `tiny(seed)`, B at zero as PEFT initialises it, in train mode."""
    return tiny_lora(tiny(seed), r=2, lora_alpha=4, seed=seed).train()


def state(model, only_lora=False):
    return {k: v.clone() for k, v in model.state_dict().items() if not only_lora or "lora_" in k}


def test_pretrain_is_deterministic_lowers_the_loss_and_ends_in_eval():
    """Two runs with one seed give the same weights; the loss falls on a repeating sequence; the model ends in eval."""
    runs = []
    for _ in range(2):
        model = tiny()
        losses = training.pretrain(model, IDS, steps=30, batch_size=4, block_size=8, lr=1e-2, seed=0)
        runs.append(state(model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert sum(losses[-5:]) < sum(losses[:5]) and not model.training


def test_adapter_loops_train_only_the_adapter():
    """train_on_windows and train_on_examples change lora_B (it starts at zero) and no base weight."""
    for run in ("windows", "examples"):
        model = lora()
        before = state(model)
        if run == "windows":
            training.train_on_windows(model, IDS, steps=3, batch_size=2, block_size=8, lr=1e-2, seed=0)
        else:
            def batch_of(picks):
                ids = torch.stack([IDS[i : i + 8] for i in picks])
                return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}

            training.train_on_examples(model, 50, batch_of, steps=3, batch_size=2, lr=1e-2, seed=0)
        after = state(model)
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        assert changed and all("lora_" in k for k in changed), run
        assert any("lora_B" in k for k in changed) and not model.training


def test_train_on_examples_draws_a_seeded_order():
    """The batch indices depend on the seed only: the same seed, the same draws."""
    draws = {0: [], 1: []}
    for seed in (0, 0, 1):
        seen = []

        def batch_of(picks, seen=seen):
            seen.append(picks)
            ids = torch.stack([IDS[i : i + 8] for i in picks])
            return {"input_ids": ids, "labels": ids}

        training.train_on_examples(lora(), 50, batch_of, steps=2, batch_size=3, lr=1e-3, seed=seed)
        draws[seed].append(seen)
    assert draws[0][0] == draws[0][1] != draws[1][0]


def test_fit_clips_only_when_asked(monkeypatch):
    """fit clips the gradient norm only when given `clip` (once per step), with or without a schedule."""
    clipped = []
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda params, norm: clipped.append(norm))
    model = tiny()
    batch = {"input_ids": IDS[:8][None], "labels": IDS[:8][None]}
    training.fit(model, model.parameters(), lambda: batch, steps=2, lr=1e-3)
    assert clipped == []
    training.fit(model, model.parameters(), lambda: batch, steps=4, lr=1e-3, clip=1.0, warmup=0.5)
    assert clipped == [1.0] * 4


def test_single_thread_restores_the_thread_count():
    """single_thread runs its block on one thread and gives the old count back, even after an error."""
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), training.single_thread():
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == before
