"""Progress is kept safely: never lost, never stopping a notebook."""

import multiprocessing
import os

from adapterlab import progress

ROUNDS = 40


def test_unreadable_file_is_moved_aside_not_overwritten():
    """A corrupt progress file is kept beside the new one, byte for byte."""
    path = progress.progress_file()
    path.write_text("{not json")
    assert progress.record("00.a", True)
    kept = [p for p in path.parent.iterdir() if p.name.startswith("progress.json.unreadable-")]
    assert len(kept) == 1 and kept[0].read_text() == "{not json"
    assert progress.load() == {"00.a": {"attempts": 1, "correct": True, "peeked": False}}


def test_unwritable_location_returns_false(monkeypatch, tmp_path):
    """If the file cannot be written, record() says so by returning False instead of raising."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ADAPTERLAB_PROGRESS", str(blocker / "progress.json"))
    assert progress.record("00.a", True) is False


def test_summary_groups_by_notebook(capsys):
    """The summary counts solved, tried and peeked questions per notebook prefix."""
    progress.record("01.a", True)
    progress.record("01.b", False)
    progress.record("02.a", False, peeked=True)
    assert progress.summary() == {"01": {"solved": 1, "tried": 2, "peeked": 0},
                                  "02": {"solved": 0, "tried": 0, "peeked": 1}}
    progress.show_progress()
    assert "01" in capsys.readouterr().out


def test_no_temporary_files_left_behind():
    """The atomic write leaves only the progress file itself (and the lock file beside it)."""
    progress.record("01.a", True)
    assert sorted(os.listdir(progress.progress_file().parent)) == [".progress.json.lock", "progress.json"]


def _answer_many(path: str, kernel: str, start) -> None:
    os.environ["ADAPTERLAB_PROGRESS"] = path
    start.wait()
    for i in range(ROUNDS):
        assert progress.record(f"{kernel}.q{i}", i % 2 == 0)
        assert progress.record("shared.q", False)


def test_two_kernels_answering_at_once_lose_no_answer():
    """Two processes recording different answers at the same moment, many times: every answer is kept, and the
    question both answer counts every attempt (read-change-write under the lock, not last writer wins)."""
    path = str(progress.progress_file())
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a second kernel is
    start = context.Event()
    kernels = [context.Process(target=_answer_many, args=(path, name, start)) for name in ("k1", "k2")]
    for kernel in kernels:
        kernel.start()
    start.set()
    for kernel in kernels:
        kernel.join(timeout=300)
    assert [k.exitcode for k in kernels] == [0, 0]
    data = progress.load()
    for name in ("k1", "k2"):
        assert {q for q in data if q.startswith(f"{name}.")} == {f"{name}.q{i}" for i in range(ROUNDS)}
    assert data["shared.q"]["attempts"] == 2 * ROUNDS
