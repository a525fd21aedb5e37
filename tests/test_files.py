"""File listings show relative names and sizes as disks are sold."""

import pytest

from adapterlab.files import file_sizes, human_size, write_atomic


def test_file_sizes_are_relative_and_exact(tmp_path):
    """Names are relative to the folder, including subfolders; sizes are exact bytes."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.json").write_bytes(b"12345")
    (tmp_path / "sub" / "b.bin").write_bytes(b"")
    assert file_sizes(tmp_path) == {"a.json": 5, "sub/b.bin": 0}


def test_human_size_uses_powers_of_1000():
    """1,182,680 bytes reads 1.18 MB; small sizes stay in bytes."""
    assert human_size(1_182_680) == "1.18 MB"
    assert human_size(497_774_208) == "498 MB"
    assert human_size(999) == "999 B"


def test_write_atomic_replaces_whole_and_leaves_nothing_beside(tmp_path):
    """write_atomic replaces a file's content whole, text or bytes, and leaves no temporary file behind."""
    target = tmp_path / "latest"
    write_atomic(target, "checkpoint-1\n")
    write_atomic(target, b"checkpoint-2\n")
    assert target.read_text() == "checkpoint-2\n" and [p.name for p in tmp_path.iterdir()] == ["latest"]


def test_write_atomic_that_fails_keeps_the_old_file(tmp_path, monkeypatch):
    """If the rename fails, the old content stays and the temporary file is removed."""
    import os

    target = tmp_path / "progress.json"
    target.write_text("old")

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["progress.json"]
