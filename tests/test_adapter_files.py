"""adapterlab.adapter_files: PEFT's file names, 'is this a complete adapter folder', and reading its config."""

import json

import pytest
from tests.common import save_tiny_adapter

from adapterlab.adapter_files import (
    CONFIG_NAME,
    SAFETENSORS_WEIGHTS_NAME,
    AdapterFileError,
    is_complete_adapter,
    read_adapter_config,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_tiny_adapter(tmp_path_factory.mktemp("adapter") / "good")


def test_the_names_are_what_save_pretrained_writes(saved):
    """The two constants name exactly the adapter files PEFT's save_pretrained writes (beside its README.md)."""
    assert sorted(p.name for p in saved.iterdir()) == sorted([CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME, "README.md"])


def test_a_saved_adapter_is_complete_and_its_config_reads(saved):
    """A folder PEFT saved is complete, and its config is the JSON PEFT wrote (a LoRA, r=4)."""
    assert is_complete_adapter(saved)
    config = read_adapter_config(saved)
    assert config == json.loads((saved / CONFIG_NAME).read_text()) and (config["peft_type"], config["r"]) == ("LORA", 4)


@pytest.mark.parametrize("damage", ["no weights", "empty weights", "no config", "not json", "not peft"])
def test_a_damaged_folder_is_not_complete(saved, tmp_path, damage):
    """Missing or empty weights, a missing config, a config that is not JSON or not PEFT's: not complete."""
    folder = tmp_path / "adapter"
    folder.mkdir()
    for name in (CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME):
        (folder / name).write_bytes((saved / name).read_bytes())
    if damage == "no weights":
        (folder / SAFETENSORS_WEIGHTS_NAME).unlink()
    elif damage == "empty weights":
        (folder / SAFETENSORS_WEIGHTS_NAME).write_bytes(b"")
    elif damage == "no config":
        (folder / CONFIG_NAME).unlink()
    elif damage == "not json":
        (folder / CONFIG_NAME).write_text("{r: 4")
    else:
        (folder / CONFIG_NAME).write_text('{"r": 4}')
    assert not is_complete_adapter(folder)


@pytest.mark.parametrize(("content", "words"), [(None, "no such file"), ("{r: 4", "is not valid JSON"),
                                                ('{"r": 4}', "has no 'peft_type'")])
def test_an_unreadable_config_is_one_sentence_naming_the_file(tmp_path, content, words):
    """read_adapter_config raises AdapterFileError: the file's path, then what is wrong with it."""
    if content is not None:
        (tmp_path / CONFIG_NAME).write_text(content)
    with pytest.raises(AdapterFileError, match=words) as caught:
        read_adapter_config(tmp_path)
    assert str(caught.value).startswith(str(tmp_path / CONFIG_NAME))
