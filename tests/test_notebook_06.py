"""Claims notebooks 06 and 06a state about how PEFT 0.21.2 is written; the notebooks say them in a sentence."""

import importlib.util
import inspect
from pathlib import Path

import torch
from peft import PeftModel
from peft.tuners.lora import Linear
from peft.tuners.tuners_utils import BaseTuner
from tests.common import tiny_gpt2, tiny_lora

from adapterlab.adapters import demo_adapters
from adapterlab.merging import logits, lora_layers
from adapterlab.models import load_model


def test_merge_and_unload_docstring_says_not_in_place_yet_the_base_is_changed():
    """The docstring of `merge_and_unload` says "this is not an in-place operation!", yet it returns the very
    base model the PeftModel wrapped, its weights changed: the claim holds of the wrapper only (notebook 06)."""
    assert "not an in-place operation" in BaseTuner.merge_and_unload.__doc__
    base = tiny_gpt2()
    model = tiny_lora(base, init_lora_weights=False)
    before = base.transformer.h[0].attn.c_attn.base_layer.weight.detach().clone()
    merged = model.merge_and_unload()
    assert merged is base and type(merged).__name__ == "GPT2LMHeadModel"
    assert not torch.equal(merged.transformer.h[0].attn.c_attn.weight, before)


def test_safe_merge_merges_into_a_copy_and_checks_isfinite():
    """`lora.Linear.merge(safe_merge=True)` adds the delta to a clone of the weight and checks `torch.isfinite`
    before writing it back (notebook 06a, section 2)."""
    source = inspect.getsource(Linear.merge)
    assert "safe_merge" in source and "torch.isfinite" in source and "clone()" in source


def test_bitsandbytes_layers_warn_about_rounding_when_merging():
    """PEFT's bitsandbytes LoRA layers warn that merging into 8-bit and 4-bit weights may change generations
    (notebook 06b merges into a real 4-bit base and asserts the 4-bit text; the 8-bit one is read here)."""
    source = Path(importlib.util.find_spec("peft.tuners.lora.bnb").origin).read_text()
    for bits in (8, 4):
        assert f"Merge lora module to {bits}-bit linear may get different generations due to rounding errors." in source


def test_merge_and_unload_adapter_names_merges_an_inactive_adapter():
    """With 'english' and 'spanish' loaded and 'spanish' active, `merge_and_unload(adapter_names=["english"])`
    gives a plain model that computes the English adapter (notebook 06's exercise 6, shown before at 7d73e00)."""
    adapters = demo_adapters()
    both = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters["english"], adapter_name="english")
    both.load_adapter(adapters["spanish"], adapter_name="spanish")
    both.set_adapter("spanish")
    ids = torch.arange(2, 30).reshape(2, 14)
    english = logits(PeftModel.from_pretrained(load_model("gpt2-mini"), adapters["english"]), ids)
    merged = both.merge_and_unload(adapter_names=["english"])
    assert not lora_layers(merged)
    assert (logits(merged, ids) - english).abs().max().item() < 1e-4
