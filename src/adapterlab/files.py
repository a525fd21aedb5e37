"""Files on disk: listed as a learner should see them (names and sizes, never the machine's paths), and
written atomically (beside the target, flushed to disk, then renamed over it with `os.replace`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from adapterlab.tables import format_table


def file_sizes(folder: str | Path) -> dict[str, int]:
    """Returns {relative file name: size in bytes} for every file under `folder`, sorted by name."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def human_size(n_bytes: float) -> str:
    """Returns a size as people say it, in powers of 1000 as disks are sold: '1.18 MB', '498 MB'."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n_bytes) < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def show_files(folder: str | Path) -> None:
    """Prints each file under `folder` with its size."""
    print(format_table([(name, human_size(size)) for name, size in file_sizes(folder).items()],
                       align="<>", style="plain"))


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Writes `data` to `path` so that a reader sees the old file or the new one, never half of either.

    The data goes to a temporary file beside `path`, is flushed to disk (`os.fsync`, so a power cut cannot
    expose a torn file after the rename), and then `os.replace` puts it in place atomically.

    Raises:
        OSError: the folder cannot be written; no temporary file is left behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
