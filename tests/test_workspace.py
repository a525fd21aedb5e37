"""The learner's work folder: where it is, that it is created on demand, and which adapter a lesson uses."""

import json

import pytest

from adapterlab import workspace
from adapterlab.adapter_files import is_complete_adapter
from adapterlab.adapters import trained_adapter
from adapterlab.workspace import WorkspaceError, lesson_adapter, my_adapter_dir, work_dir


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A work folder that does not exist yet, and a model cache elsewhere."""
    monkeypatch.setenv("ADAPTERLAB_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "work"


def _save_adapter(folder, config=None, weights=b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps(config or {"peft_type": "LORA", "r": 8}))
    (folder / "adapter_model.safetensors").write_bytes(weights)


def test_work_dir_is_created_on_demand(work):
    """work_dir() is ADAPTERLAB_WORK, created by the call; my_adapter_dir() sits inside it and is not created."""
    assert not work.exists()
    assert work_dir() == work and work.is_dir()
    assert my_adapter_dir().parent == work and not my_adapter_dir().exists()


def test_default_is_in_home(monkeypatch, tmp_path):
    """Without ADAPTERLAB_WORK the folder is ~/adapterlab-work (HOME pointed at a temporary folder)."""
    monkeypatch.delenv("ADAPTERLAB_WORK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / ".cache" / "adapterlab"))
    assert work_dir() == tmp_path / "adapterlab-work"


@pytest.mark.parametrize("inside", [".", "sub/folder"])
def test_never_inside_the_model_cache(tmp_path, monkeypatch, inside):
    """A work folder in (or equal to) the model cache is refused with a sentence that says what to set."""
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ADAPTERLAB_WORK", str(tmp_path / "cache" / inside))
    with pytest.raises(WorkspaceError, match="inside the model cache.*set it to a folder of your own"):
        work_dir()
    with pytest.raises(WorkspaceError):
        lesson_adapter()
    assert not (tmp_path / "cache").exists()


def test_unwritable_place_says_what_to_do(tmp_path, monkeypatch):
    """A work folder that cannot be created (a file is in the way) names the variable to set."""
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ADAPTERLAB_WORK", str(tmp_path / "file" / "work"))
    with pytest.raises(WorkspaceError, match="cannot be created.*ADAPTERLAB_WORK"):
        work_dir()


def test_lesson_adapter_falls_back_to_the_reference(work):
    """With no adapter of yours, the lesson uses the workbook's adapter for the same task, and creates nothing."""
    folder, whose = lesson_adapter()
    assert (folder, whose) == (trained_adapter(workspace.MY_ADAPTER_TASK), "reference")
    assert not work.exists()


def test_lesson_adapter_uses_yours_when_complete(work):
    """A complete adapter in my_adapter_dir() is the one the lesson uses; the answer has named fields and unpacks."""
    _save_adapter(my_adapter_dir())
    lesson = lesson_adapter()
    assert lesson == (my_adapter_dir(), "yours")
    assert (lesson.folder, lesson.whose) == tuple(lesson)


@pytest.mark.parametrize("damage", ["no weights", "empty weights", "no config", "config not JSON", "not PEFT's"])
def test_incomplete_adapter_is_not_used(work, damage):
    """Half an adapter (a save interrupted, a file missing or empty, a foreign config) means the reference."""
    folder = my_adapter_dir()
    _save_adapter(folder)
    if damage == "no weights":
        (folder / "adapter_model.safetensors").unlink()
    elif damage == "empty weights":
        (folder / "adapter_model.safetensors").write_bytes(b"")
    elif damage == "no config":
        (folder / "adapter_config.json").unlink()
    elif damage == "config not JSON":
        (folder / "adapter_config.json").write_text("{not json")
    else:
        (folder / "adapter_config.json").write_text(json.dumps({"model_type": "gpt2"}))
    assert not is_complete_adapter(folder)
    assert lesson_adapter()[1] == "reference"
