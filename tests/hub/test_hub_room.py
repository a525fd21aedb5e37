"""A workshop room on one machine: a real JupyterHub, learners who are not root, one read-only model folder.

The administrator (root) builds the models once into a shared folder and makes it read-only; JupyterHub
(shared-password login, LocalProcessSpawner, the workbook's deploy/tljh/adapterlab.py) starts each
learner's server under their own Unix account; every learner's kernel opens notebook 00 at the same time,
runs its environment check, loads the shared gpt2 and saves an adapter into their own home.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import psutil
import pytest
from tools import hub_room, room_setup

NOTEBOOK = "00_start_here.ipynb"  # the one every room opens first
# Its first code cells (the environment check a learner runs first), then the probe, which loads the shared
# gpt2 and writes progress and an adapter. The notebooks themselves are run by nbval and the browser test;
# a whole room running notebook 00 is `python -m tools.bench_hub_room`.
FIRST_CELLS = 2

pytestmark = pytest.mark.hub


def _can_write_as(account: str, folder) -> bool:
    return subprocess.run(["runuser", "-u", account, "--", "test", "-w", str(folder)]).returncode == 0


def test_every_learner_runs_the_notebook_at_once_on_the_shared_read_only_models(shared_models, learner_python,
                                                                                learners):
    """Each learner's kernel runs as that learner, reads the shared models, and writes only into their home."""
    models, _ = shared_models
    before = room_setup.snapshot(models)
    names = [account.pw_name for account in learners]
    assert not any(_can_write_as(name, models) for name in names), "learners can write the shared model folder"
    with hub_room.Room(names, models, learner_python) as room:
        runs = hub_room.run_room(room, NOTEBOOK, first=FIRST_CELLS)
        log = room.log_tail()
    cells = min(FIRST_CELLS, sum(1 for cell in json.loads((hub_room.ROOT / "notebooks" / NOTEBOOK).read_text())["cells"]
                                 if cell["cell_type"] == "code"))
    failures = [error for run in runs for error in run.errors]
    assert not failures, "\n".join(failures) + f"\n--- the hub's log:\n{log}"
    for account, run in zip(learners, runs, strict=True):
        assert run.cells == cells
        home = Path(account.pw_dir)
        assert run.probe == {"user": account.pw_name, "home": str(home), "cwd": str(home / "workbook"),
                             "cache": str(models), "progress": str(home / ".local/share/adapterlab/progress.json")}
        for written in (home / ".local/share/adapterlab/progress.json",
                        home / "workbook/room-adapter/adapter_model.safetensors"):
            assert written.stat().st_uid == account.pw_uid, f"{written} is not {account.pw_name}'s"
    assert room_setup.snapshot(models) == before, "something was written into the shared model folder"
    left = [p.info for p in psutil.process_iter(["pid", "username", "cmdline"]) if p.info["username"] in names]
    assert not left, f"learners' processes outlived the hub: {left}"
    assert len(runs) == int(os.environ.get("ADAPTERLAB_ROOM_LEARNERS", "4"))


def test_a_shared_build_is_readable_by_every_account(shared_models):
    """What `python -m adapterlab build` leaves, before any chmod, other accounts can read (no 0700, no 0600)."""
    _, modes = shared_models
    if not modes:
        pytest.skip("ADAPTERLAB_ROOM_MODELS names a folder built elsewhere: its build's own modes are unknown")
    closed = {path: stat.filemode(mode) for path, mode in modes.items()
              if mode & _for_others(mode) != _for_others(mode)}
    assert not closed, f"the build left these closed to other accounts (a learner gets 'Permission denied'): {closed}"


def _for_others(mode: int) -> int:
    """The bits another account needs: read a file; read and enter a folder."""
    return stat.S_IROTH | stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH
