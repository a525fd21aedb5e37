"""Crash-safe adapter checkpoints: write beside, then rename, so a good checkpoint is never overwritten.

`save_pretrained` writes straight into its folder: a crash or Ctrl-C midway leaves a half-written
`adapter_model.safetensors` exactly where the last good adapter was. Here every save goes to a
hidden temporary folder next to the target, is flushed to disk, and only then renamed to
`checkpoint-<step>` (a rename within one file system is atomic: the folder appears whole or not at
all). A one-line `latest` file, itself replaced atomically (`files.write_atomic`), names the newest
complete checkpoint. The same layout (`checkpoint-<step>` folders) as transformers' Trainer.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from adapterlab.adapter_files import is_complete_adapter
from adapterlab.files import write_atomic
from adapterlab.inspection import inspect_adapter

LATEST = "latest"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def _fsync_tree(folder: Path) -> None:
    # Data must be on disk before the rename makes it visible, or a power cut can still expose a torn file.
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def checkpoints(folder: str | Path) -> dict[int, Path]:
    """Returns {step: folder} of the complete checkpoints in `folder`, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    found = {int(m[1]): p for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))}
    return dict(sorted(found.items()))


def save_checkpoint(model, folder: str | Path, step: int, keep: int = 3) -> Path:
    """Saves `model`'s adapter as `folder/checkpoint-<step>` atomically and points `latest` at it.

    Args:
        model: a PEFT model (anything with `save_pretrained(path)`).
        folder: the run's checkpoint folder, created if missing.
        step: the training step; names the checkpoint.
        keep: how many newest checkpoints to keep (0 keeps all); older ones are deleted only after the new
            one is in place.

    Returns:
        The new checkpoint's folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".tmp-*"):  # left by a save that was killed before it could clean up
        shutil.rmtree(stale, ignore_errors=True)
    target = folder / f"checkpoint-{step}"
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-checkpoint-{step}-", dir=folder))
    try:
        model.save_pretrained(staging)
        inspect_adapter(staging)  # refuse to publish a checkpoint that does not read back
        _fsync_tree(staging)
        if target.exists():  # re-saving a step: move the old one aside, never delete before the new one is in
            aside = Path(tempfile.mkdtemp(prefix=".tmp-replaced-", dir=folder))
            target.rename(aside / target.name)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for leftover in folder.glob(".tmp-replaced-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    write_atomic(folder / LATEST, target.name + "\n")
    for old_step in list(checkpoints(folder))[:-keep] if keep > 0 else []:
        shutil.rmtree(folder / f"checkpoint-{old_step}", ignore_errors=True)
    return target


def latest_checkpoint(folder: str | Path) -> Path | None:
    """Returns the newest complete checkpoint in `folder` (the one `latest` names), or None if there is none."""
    folder = Path(folder)
    pointer = folder / LATEST
    if pointer.is_file():
        named = folder / pointer.read_text().strip()
        if is_complete_adapter(named):
            return named
    found = checkpoints(folder)  # no pointer yet (or it names a deleted folder): the highest complete step
    return found[max(found)] if found else None
