"""File listings show relative names and sizes as disks are sold."""

from adapterlab.files import file_sizes, human_size


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
