"""Claims notebooks 07 and 07b state about how PEFT 0.21.2 is written; the notebooks say them in a sentence."""

import inspect

from peft import get_peft_model


def test_get_peft_model_upcasts_adapters_for_stable_training_by_default():
    """`get_peft_model` has `autocast_adapter_dtype=True` by default, and its docstring gives the reason the
    notebooks quote: float32 adapter weights "as this is typically required for stable training"."""
    assert inspect.signature(get_peft_model).parameters["autocast_adapter_dtype"].default is True
    assert "stable training" in get_peft_model.__doc__
