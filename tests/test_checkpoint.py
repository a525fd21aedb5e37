"""Tests of adapterlab.checkpoint: an interrupted save never destroys the last good adapter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from tests.common import tiny_gpt2, tiny_lora

import adapterlab  # noqa: F401 - before transformers/peft
from adapterlab.checkpoint import checkpoints, latest_checkpoint, save_checkpoint
from adapterlab.inspection import inspect_adapter

IDS = torch.tensor([[1, 2, 3, 4]])


def _model(seed: int = 0):
    """A LoRA model on the tiny GPT-2 (base seeded 0); `seed` picks its (non-zero) adapter weights."""
    return tiny_lora(seed=seed, init_lora_weights=False)


def _outputs_of(folder: Path) -> torch.Tensor:
    from peft import PeftModel

    with torch.no_grad():
        return PeftModel.from_pretrained(tiny_gpt2(), folder)(input_ids=IDS).logits


def _logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


def test_save_names_checkpoint_and_latest(tmp_path):
    """save_checkpoint writes checkpoint-<step>, points `latest` at it, and the adapter reloads exactly."""
    model = _model()
    folder = save_checkpoint(model, tmp_path / "run", step=5)
    assert folder.name == "checkpoint-5" and (tmp_path / "run" / "latest").read_text() == "checkpoint-5\n"
    assert latest_checkpoint(tmp_path / "run") == folder
    assert torch.equal(_outputs_of(folder), _logits(model))


def test_keep_prunes_oldest(tmp_path):
    """With keep=2 only the two newest checkpoints remain, and no temporary folders are left behind."""
    model = _model()
    for step in (10, 20, 30):
        save_checkpoint(model, tmp_path, step, keep=2)
    assert list(checkpoints(tmp_path)) == [20, 30]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-20", "checkpoint-30", "latest"]


def test_latest_falls_back_to_highest_complete_step(tmp_path):
    """If `latest` names a folder that is gone, the highest complete checkpoint is returned instead."""
    model = _model()
    save_checkpoint(model, tmp_path, step=1, keep=0)
    save_checkpoint(model, tmp_path, step=2, keep=0)
    (tmp_path / "latest").write_text("checkpoint-9\n")
    assert latest_checkpoint(tmp_path).name == "checkpoint-2"
    assert list(checkpoints(tmp_path)) == [1, 2]  # keep=0 kept both


def test_no_checkpoint_yet(tmp_path):
    """An empty or missing folder has no latest checkpoint."""
    assert latest_checkpoint(tmp_path) is None and latest_checkpoint(tmp_path / "missing") is None


class _Interrupted:
    """Writes half of a real adapter save, then is interrupted, like Ctrl-C in the middle of save_pretrained."""

    def __init__(self, model):
        self.model = model

    def save_pretrained(self, folder):
        self.model.save_pretrained(folder)
        weights = Path(folder) / "adapter_model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        raise KeyboardInterrupt


@pytest.mark.parametrize("step", [2, 1], ids=["new step", "same step again"])
def test_interrupted_save_leaves_previous_adapter_intact(step, tmp_path):
    """Interrupted midway, a save leaves the previous checkpoint intact, loadable and still `latest`."""
    good = _model(seed=1)
    save_checkpoint(good, tmp_path, step=1)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(_Interrupted(_model(seed=2)), tmp_path, step=step)
    latest = latest_checkpoint(tmp_path)
    assert latest.name == "checkpoint-1" and list(checkpoints(tmp_path)) == [1]
    assert inspect_adapter(latest).predicted_size == inspect_adapter(latest).file_size
    assert torch.equal(_outputs_of(latest), _logits(good))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-1", "latest"]


def test_resaving_a_step_replaces_it(tmp_path):
    """Saving the same step twice leaves the second adapter there."""
    save_checkpoint(_model(seed=1), tmp_path, step=1)
    second = _model(seed=2)
    save_checkpoint(second, tmp_path, step=1)
    assert torch.equal(_outputs_of(latest_checkpoint(tmp_path)), _logits(second))


KILLED_SAVE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tests.common import tiny_lora
    from adapterlab.checkpoint import save_checkpoint

    run = Path(sys.argv[1])
    model = tiny_lora(seed=2, init_lora_weights=False)
    real_save = model.save_pretrained

    def slow_save(folder, **kwargs):
        real_save(folder, **kwargs)
        weights = Path(folder) / "adapter_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])  # half-written...
        (run.parent / "midway").touch()
        time.sleep(600)  # ...when the process is killed

    model.save_pretrained = slow_save
    save_checkpoint(model, run, step=2)
""")


def test_killed_save_leaves_previous_adapter_intact(tmp_path):
    """A save killed with SIGKILL mid-write (no cleanup runs) leaves checkpoint-1 as latest and loadable;
    the next save removes the half-written temporary folder."""
    run = tmp_path / "run"
    good = _model(seed=1)
    save_checkpoint(good, run, step=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # `python -c` puts the working folder, the repository root, on sys.path: the child imports tests.common
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(run)], env=env, cwd=Path(__file__).parents[1])
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "midway").exists():
            assert child.poll() is None, "the saving process ended before it was killed"
            assert time.monotonic() < deadline, "the saving process never reached the middle of its save"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert any(p.name.startswith(".tmp-") for p in run.iterdir())  # the half-written save, left behind
    latest = latest_checkpoint(run)
    assert latest.name == "checkpoint-1" and torch.equal(_outputs_of(latest), _logits(good))
    save_checkpoint(good, run, step=3)
    assert not any(p.name.startswith(".tmp-") for p in run.iterdir())
