"""adapterlab.cache: a current build is used as it is (read-only too); anything else is built whole or not at all."""

import json
import os
import pwd
import stat
import tempfile
import threading
import traceback
from pathlib import Path

import pytest

from adapterlab import cache

RECIPE = {"name": "thing", "recipe": 3}


def write_v1(staging):
    (staging / "weights").write_text("v1")


def test_a_build_is_published_whole_with_its_stamp(tmp_path):
    """cached_build leaves the folder with what `write` made plus the stamp, and no staging folder beside it."""
    folder = cache.cached_build(tmp_path / "thing", RECIPE, write_v1)
    assert sorted(p.name for p in folder.iterdir()) == [cache.STAMP, "weights"]
    assert cache.read_stamp(folder) == RECIPE and cache.is_current(folder, RECIPE)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".thing.lock", "thing"]


def test_a_current_build_is_reused_and_a_stale_one_rebuilt(tmp_path):
    """The same recipe is not built twice; another recipe version is."""
    calls = []

    def write(staging):
        calls.append(1)
        write_v1(staging)

    cache.cached_build(tmp_path / "thing", RECIPE, write)
    cache.cached_build(tmp_path / "thing", RECIPE, write)
    assert len(calls) == 1
    cache.cached_build(tmp_path / "thing", {**RECIPE, "recipe": 4}, write)
    assert len(calls) == 2 and cache.read_stamp(tmp_path / "thing")["recipe"] == 4


def test_a_failed_rebuild_keeps_the_old_build(tmp_path):
    """A build interrupted half-way (Ctrl-C) leaves the previous build in place and no staging folder."""
    cache.cached_build(tmp_path / "thing", RECIPE, write_v1)

    def broken(staging):
        (staging / "weights").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached_build(tmp_path / "thing", RECIPE, broken, force=True)
    assert (tmp_path / "thing" / "weights").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".thing.lock", "thing"]


def _read_as_learner(shared: Path) -> int:
    """Reads the current build in `shared` in a forked child that cannot write there; returns its exit status.

    As root a read-only mode stops no write, so the child first becomes the account `nobody`. It forks
    rather than starts a new Python, so it works where `nobody` may not run this venv's interpreter (a
    Python under /root): everything it needs is already imported.
    """
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 3
        try:
            if os.geteuid() == 0:
                nobody = pwd.getpwnam("nobody")
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)

            def refuse(staging):
                raise AssertionError("rebuilt a current build")

            status = 0 if cache.cached_build(shared / "thing", RECIPE, refuse) == shared / "thing" else 1
        except BaseException:
            traceback.print_exc()
            status = 2
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_read_only_current_build_needs_no_write():
    """A shared folder the learner may not write, holding a current build, is used as it is (TLJH's set-up);
    as root it is read as the account nobody."""
    with tempfile.TemporaryDirectory() as shared:  # in /tmp, which every account can enter (tmp_path is 0700)
        cache.cached_build(Path(shared) / "thing", RECIPE, write_v1)
        Path(shared).chmod(0o555)
        try:
            status = _read_as_learner(Path(shared))
        finally:
            Path(shared).chmod(0o755)
    assert status == 0, "reading a current build from a read-only folder failed (traceback above)"


def test_a_current_build_takes_no_lock(tmp_path, monkeypatch):
    """Reading a current build neither locks nor checks that the folder is writable (so read-only works)."""
    cache.cached_build(tmp_path / "thing", RECIPE, write_v1)

    def refuse(*args, **kwargs):
        raise AssertionError("a current build must not need a lock or a writable folder")

    monkeypatch.setattr(cache, "FileLock", refuse)
    monkeypatch.setattr(cache, "_writable_root", refuse)
    assert cache.cached_build(tmp_path / "thing", RECIPE, write_v1) == tmp_path / "thing"


def test_a_missing_build_in_an_unwritable_folder_says_what_to_run(tmp_path):
    """One sentence names the build, the folder, the command for whoever set up the machine, and the way out."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(cache.CacheError) as caught:
        cache.cached_build(blocker / "cache" / "gpt2", RECIPE, write_v1)
    message = str(caught.value)
    assert "'gpt2' is not built yet" in message and "python -m adapterlab build" in message
    assert "ADAPTERLAB_CACHE" in message and message.count(". ") == 0


def test_built_files_are_readable_by_others_as_the_umask_allows(tmp_path):
    """Staging folders are made 0700 and some writers make 0600 files; the published build follows the umask."""
    def private(staging):
        (staging / "weights").write_text("v1")
        (staging / "weights").chmod(0o600)

    old = os.umask(0o022)
    try:
        folder = cache.cached_build(tmp_path / "thing", RECIPE, private)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "weights").stat().st_mode) == 0o644


def test_two_builders_at_once_build_once(tmp_path):
    """Two threads asking for the same build at once: one builds, the other waits and reuses it."""
    calls, started = [], threading.Event()

    def slow(staging):
        calls.append(1)
        started.set()
        threading.Event().wait(0.3)
        write_v1(staging)

    threads = [threading.Thread(target=cache.cached_build, args=(tmp_path / "thing", RECIPE, slow)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and cache.is_current(tmp_path / "thing", RECIPE)


def test_an_unreadable_stamp_means_not_built(tmp_path):
    """A stamp that is not JSON (a torn write) reads as no build, so it is rebuilt rather than trusted."""
    (tmp_path / "thing").mkdir()
    (tmp_path / "thing" / cache.STAMP).write_text("{half")
    assert cache.read_stamp(tmp_path / "thing") == {} and not cache.is_current(tmp_path / "thing", RECIPE)
    (tmp_path / "thing" / cache.STAMP).write_text(json.dumps(["not", "a", "dict"]))
    assert cache.read_stamp(tmp_path / "thing") == {}


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    """ADAPTERLAB_CACHE names the folder; without it, ~/.cache/adapterlab."""
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "c"))
    assert cache.cache_root() == tmp_path / "c"
    monkeypatch.delenv("ADAPTERLAB_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_root() == tmp_path / ".cache" / "adapterlab"
