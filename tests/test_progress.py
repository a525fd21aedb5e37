"""Progress is kept safely: never lost, never stopping a notebook."""

import os

from adapterlab import progress


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
    """The atomic write leaves only the progress file itself."""
    progress.record("01.a", True)
    assert os.listdir(progress.progress_file().parent) == ["progress.json"]
