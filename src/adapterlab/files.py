"""Files on disk as a learner should see them: names and sizes, never the machine's paths."""

from __future__ import annotations

from pathlib import Path


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
    sizes = file_sizes(folder)
    width = max(map(len, sizes), default=0)
    for name, size in sizes.items():
        print(f"{name:<{width}}  {human_size(size):>9}")
