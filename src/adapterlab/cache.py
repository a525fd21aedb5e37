"""The model cache: where built models live, how a build is published, and how a current one is recognised.

The cache folder is `ADAPTERLAB_CACHE`, or ~/.cache/adapterlab. Each build is a folder holding a stamp,
`adapterlab_build.json`, that says which recipe made it; a folder whose stamp matches is used as it is,
without a lock and without writing anything, so one folder built by an administrator serves a whole
room of learners who may only read it (The Littlest JupyterHub's shared-data setup).

Anything else is built under a file lock (the `filelock` package: one kernel builds, the others wait
and then find it built), into a staging folder beside the target that is renamed into place at the
end, so an interrupted build never leaves half a model where a good one was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from filelock import FileLock

from adapterlab.files import write_atomic

CACHE_ENV = "ADAPTERLAB_CACHE"
STAMP = "adapterlab_build.json"


class CacheError(RuntimeError):
    """A build is missing and cannot be made here; the message says what to run, and as whom."""


def cache_root() -> Path:
    """Returns the cache folder (`ADAPTERLAB_CACHE`, default ~/.cache/adapterlab); nothing is created."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "adapterlab")


def read_stamp(folder: Path) -> dict:
    """Returns the stamp of the build in `folder`, or {} when there is none (or it cannot be read)."""
    try:
        stamp = json.loads((Path(folder) / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def is_current(folder: Path, recipe: Mapping[str, object]) -> bool:
    """Returns True if `folder` holds a build whose stamp has every item of `recipe`."""
    stamp = read_stamp(folder)
    return bool(stamp) and all(stamp.get(key) == value for key, value in recipe.items())


def _writable_root(root: Path, what: str) -> Path:
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as exc:
        raise CacheError(
            f"'{what}' is not built yet and the model cache folder '{root}' is not writable for you "
            f"({exc.strerror}): ask whoever set up this machine to run `{CACHE_ENV}={root} python -m adapterlab "
            f"build` once, or set {CACHE_ENV} to a folder you can write to."
        ) from None
    return root


def _share_as_umask_allows(folder: Path) -> None:
    # mkdtemp makes 0700 folders (and some writers 0600 files); give the built tree the modes a plain
    # `mkdir`/`open` would have had under this umask, so other accounts can read a shared cache.
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def cached_build(folder: Path, recipe: Mapping[str, object], write: Callable[[Path], None],
                 force: bool = False) -> Path:
    """Returns `folder`, first filling it with `write(staging)` unless it holds a current build of `recipe`.

    Args:
        folder: where the build lives, inside the cache folder.
        recipe: what the stamp must say (a recipe version, say); written into the stamp after `write`.
        write: fills the staging folder it is given; it must not write anywhere else.
        force: rebuild even if a current build is there.

    Raises:
        CacheError: the build is missing and its parent folder cannot be written.
    """
    folder = Path(folder)
    if not force and is_current(folder, recipe):
        return folder  # no lock, no write: a read-only shared cache works
    root = _writable_root(folder.parent, folder.name)
    with FileLock(root / f".{folder.name}.lock"):
        if not force and is_current(folder, recipe):
            return folder  # another kernel built it while this one waited for the lock
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-staging-", dir=root))
        try:
            write(staging)
            write_atomic(staging / STAMP, json.dumps(dict(recipe), indent=1))  # on disk before the rename below
            _share_as_umask_allows(staging)
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder
