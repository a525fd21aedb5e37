"""Claims notebook 03 (saving adapters) states about how PEFT writes and reads adapter_config.json and README.md."""

import inspect
import json

import pytest
from peft import LoraConfig, PeftModel
from tests.common import tiny_gpt2, tiny_lora


def test_peft_model_save_writes_inference_mode_true_and_restores_the_live_value():
    """`PeftModel.save_pretrained` sets `inference_mode = True` for the write, then puts the live value back
    (peft 0.21.2); the file says true, the model stays trainable."""
    source = inspect.getsource(PeftModel.save_pretrained)
    assert "peft_config.inference_mode = True" in source
    assert "peft_config.inference_mode = inference_mode" in source


def test_from_pretrained_replaces_inference_mode_with_not_is_trainable():
    """`PeftModel.from_pretrained` overwrites the file's `inference_mode` with `not is_trainable` (peft 0.21.2):
    the argument, not the field, decides whether a reload is frozen."""
    assert "config.inference_mode = not is_trainable" in inspect.getsource(PeftModel.from_pretrained)


def test_peft_version_names_the_peft_that_created_the_config():
    """`peft_version` is filled when the config object is created, only if it is empty: a value read from a file
    is kept through reload and re-save."""
    assert LoraConfig(r=2, peft_version="0.0.1").peft_version == "0.0.1"
    assert LoraConfig(r=2).peft_version is not None


# Saving checks the base's config.json for a resized vocabulary; "elsewhere" has none, and PEFT says so.
@pytest.mark.filterwarnings("ignore:Could not find a config file")
def test_model_card_names_the_base_by_the_base_models_own_path(tmp_path):
    """PEFT's README.md takes `base_model` from the base model's config (`_name_or_path`), not from the adapter's
    `base_model_name_or_path`: renaming the adapter's base leaves the card's path as it was."""
    model = tiny_lora(tiny_gpt2())
    model.get_base_model().config.name_or_path = "/somewhere/on/this/machine"
    model.peft_config["default"].base_model_name_or_path = "elsewhere"
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["base_model_name_or_path"] == "elsewhere"
    assert "base_model: /somewhere/on/this/machine" in (tmp_path / "README.md").read_text()
