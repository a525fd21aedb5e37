"""A learner's progress through the exercises, kept in a small JSON file outside the repository.

The file is `ADAPTERLAB_PROGRESS` or ~/.local/share/adapterlab/progress.json. Recording never
stops a notebook: if the file cannot be written the attempt is simply not kept, and a file that
cannot be read is moved aside (never overwritten) before a new one is started. Each record reads,
changes and writes the file under a file lock (`filelock`), so two kernels answering at once lose no
answer, and writes it atomically (`files.write_atomic`), so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from filelock import FileLock, Timeout

from adapterlab.files import write_atomic
from adapterlab.tables import format_table

LOCK_TIMEOUT_S = 10  # a kernel that holds the lock longer has hung; the attempt is then not kept


def progress_file() -> Path:
    """Returns where progress is kept."""
    default = Path.home() / ".local" / "share" / "adapterlab" / "progress.json"
    return Path(os.environ.get("ADAPTERLAB_PROGRESS") or default)


def load() -> dict[str, dict]:
    """Returns {question id: {'attempts', 'correct', 'peeked'}}; empty when nothing is recorded yet."""
    path = progress_file()
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        # Keep the unreadable file for the learner to look at; start a new record beside it.
        try:
            path.rename(path.with_name(f"{path.name}.unreadable-{int(time.time())}"))
        except OSError:
            pass
        return {}


def record(question_id: str, correct: bool, peeked: bool = False) -> bool:
    """Adds one attempt at `question_id`; returns False if the file could not be written."""
    path = progress_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(path.with_name(f".{path.name}.lock"), timeout=LOCK_TIMEOUT_S):
            data = load()  # read inside the lock: another kernel's answer, written a moment ago, is kept
            entry = data.setdefault(question_id, {"attempts": 0, "correct": False, "peeked": False})
            if not peeked:
                entry["attempts"] += 1
            entry["correct"] = entry["correct"] or correct
            entry["peeked"] = entry["peeked"] or peeked
            write_atomic(path, json.dumps(data, indent=1, sort_keys=True))
        return True
    except (OSError, Timeout):
        return False


def summary() -> dict[str, dict[str, int]]:
    """Returns, per notebook prefix of the question ids, how many were solved, tried and peeked at."""
    table: dict[str, dict[str, int]] = {}
    for qid, entry in sorted(load().items()):
        row = table.setdefault(qid.split(".")[0], {"solved": 0, "tried": 0, "peeked": 0})
        row["solved"] += entry["correct"]
        row["tried"] += entry["attempts"] > 0
        row["peeked"] += entry["peeked"]
    return table


def show_progress() -> None:
    """Prints the summary as a small table."""
    table = summary()
    if not table:
        print("No exercises answered yet: every notebook ends with a few.")
        return
    print(format_table([{"notebook": notebook, **row} for notebook, row in table.items()], style="plain",
                       align="<>>>"))
