"""Tests of adapterlab.loading: the checked loader refuses adapters that do not fit their base, in one line."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import adapterlab  # noqa: F401 - before transformers/peft
from adapterlab.inspection import AdapterFileError
from adapterlab.loading import AdapterMismatchError, check_adapter_fits, load_adapter_checked


def _base(n_layer: int = 2, n_embd: int = 16):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=2, vocab_size=50, n_positions=16)).eval()


def _save(folder: Path, targets: list[str], n_layer: int = 2) -> Path:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=targets, fan_in_fan_out=True, init_lora_weights=False)
    get_peft_model(_base(n_layer), config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """A LoRA adapter on c_attn of a 2-block, 16-wide GPT-2, with B not zero."""
    return _save(tmp_path_factory.mktemp("loading") / "adapter", ["c_attn"])


def test_fitting_adapter_loads_like_peft(adapter):
    """On its own base the checked loader returns what PeftModel.from_pretrained returns: same outputs, frozen."""
    from peft import PeftModel

    ids = torch.tensor([[1, 2, 3]])
    checked = load_adapter_checked(_base(), adapter)
    plain = PeftModel.from_pretrained(_base(), adapter)
    with torch.no_grad():
        assert torch.equal(checked(input_ids=ids).logits, plain(input_ids=ids).logits)
    assert checked.get_nb_trainable_parameters()[0] == 0
    assert load_adapter_checked(_base(), adapter, is_trainable=True).get_nb_trainable_parameters()[0] > 0


def test_adapter_on_all_gpt2_linear_layers_fits(tmp_path):
    """Adapters on c_attn, c_proj (both kinds) and c_fc pass the check on their own base."""
    check_adapter_fits(_base(), _save(tmp_path / "all", ["c_attn", "c_proj", "c_fc"]))


def test_peft_loads_a_shallower_base_silently(adapter):
    """The gap this module fills: PEFT loads a 2-block adapter onto a 1-block base with no error and no warning."""
    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=adapterlab.GRADIENT_CHECKPOINTING_WARNING)  # the package's one
        PeftModel.from_pretrained(_base(n_layer=1), adapter)


@pytest.mark.parametrize(("base", "words"), [
    (lambda: _base(n_layer=1), "'transformer.h.1.attn.c_attn', which this base model does not have"),
    (lambda: _base(n_layer=3), "no weights for 1 layer(s) of this base model that its config targets, first "
                                "'transformer.h.2.attn.c_attn'"),
    (lambda: _base(n_embd=32), "has shape [4, 16] but this base model's layer maps 32 -> 96"),
])
def test_mismatched_base_is_refused_in_one_line(base, words, adapter):
    """Shallower, deeper and wider bases are refused before loading, with one line that says which layer and why."""
    with pytest.raises(AdapterMismatchError) as caught:
        load_adapter_checked(base(), adapter)
    message = str(caught.value)
    assert words in message and "\n" not in message and message.startswith("adapter: ")


def test_a_mismatch_is_caught_as_bad_input(adapter):
    """A caller that catches ValueError for bad input (as notebook code does) catches a refused adapter."""
    with pytest.raises(ValueError, match="which this base model does not have"):
        load_adapter_checked(_base(n_layer=1), adapter)


def test_corrupt_adapter_is_reported_by_the_inspector(adapter, tmp_path):
    """A truncated weights file is refused as a file problem before PEFT touches it."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(adapter, broken)
    weights = broken / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(AdapterFileError, match="truncated"):
        load_adapter_checked(_base(), broken)
