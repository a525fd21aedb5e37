"""The learner's own folder: what the notebooks make for you and keep (the adapter you train).

`work_dir()` is `ADAPTERLAB_WORK`, or ~/adapterlab-work, created on demand. Notebook 02 saves the
adapter you train into `my_adapter_dir()`; later notebooks call `lesson_adapter()`, which returns your
adapter when a complete one is there and the workbook's reference adapter for the same task otherwise,
and says which. Never inside the model cache (`adapterlab.cache`): a workshop room may share one cache
that learners can only read, and rebuilding it must not take your work with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from adapterlab.adapter_files import is_complete_adapter
from adapterlab.adapters import trained_adapter
from adapterlab.cache import cache_root

WORK_ENV = "ADAPTERLAB_WORK"
# The task notebook 02 trains your adapter on; the reference adapter is the workbook's for the same task,
# so a notebook that uses `lesson_adapter()` can evaluate either one the same way.
MY_ADAPTER_TASK = "english_ner"
MY_ADAPTER_NAME = "my_adapter"


class LessonAdapter(NamedTuple):
    """The adapter a lesson uses: its folder, and whose it is ('yours' or 'reference'). Unpacks as a pair."""

    folder: Path
    whose: str


class WorkspaceError(RuntimeError):
    """The work folder cannot be used; the message says why and what to set instead."""


def _work_root() -> Path:
    """The work folder's path, refused if it lies inside the model cache; nothing is created."""
    root = Path(os.environ.get(WORK_ENV) or Path.home() / "adapterlab-work").expanduser().absolute()
    cache = cache_root().expanduser().absolute()
    if root == cache or cache in root.parents:
        raise WorkspaceError(f"{WORK_ENV} points inside the model cache ({root}), which may be shared and is "
                             "rebuilt as a whole; set it to a folder of your own, such as ~/adapterlab-work.")
    return root


def work_dir() -> Path:
    """Returns your work folder (`ADAPTERLAB_WORK`, default ~/adapterlab-work), creating it if needed.

    Raises `WorkspaceError` if it lies inside the model cache or cannot be created.
    """
    root = _work_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"Your work folder '{root}' cannot be created ({exc.strerror}); "
                             f"set {WORK_ENV} to a folder you can write to.") from None
    return root


def my_adapter_dir() -> Path:
    """Returns the folder notebook 02 saves your trained adapter into (it may not exist yet)."""
    return work_dir() / MY_ADAPTER_NAME


def lesson_adapter() -> LessonAdapter:
    """Returns (folder, 'yours') for the adapter you trained in notebook 02, else (folder, 'reference').

    The reference is the workbook's adapter for the same task (`MY_ADAPTER_TASK`). Nothing is created:
    a work folder that does not exist, or an incomplete adapter in it, means the reference. Raises
    `WorkspaceError` if `ADAPTERLAB_WORK` points inside the model cache.
    """
    mine = _work_root() / MY_ADAPTER_NAME
    if is_complete_adapter(mine):
        return LessonAdapter(mine, "yours")
    return LessonAdapter(trained_adapter(MY_ADAPTER_TASK), "reference")
