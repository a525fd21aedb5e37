"""Claims notebook 00 states and does not compute in the learner's kernel (it would cost them 500 MB)."""

import math

import pytest
import torch

from adapterlab.models import load_model, load_tokenizer


def test_random_gpt2_scores_uniform_guessing_over_gpt2s_vocabulary():
    """The workbook's random gpt2 scores ln(50,257) ≈ 10.8 nats on a corpus sentence, as notebook 00 says."""
    gpt2, tokenizer = load_model("gpt2"), load_tokenizer("gpt2")
    ids = tokenizer("Anna walked to Lisbon in the morning.", return_tensors="pt").input_ids
    with torch.no_grad():
        loss = gpt2(ids, labels=ids).loss.item()
    assert gpt2.config.vocab_size == 50_257 and round(math.log(50_257), 1) == 10.8
    assert abs(loss - math.log(50_257)) < 0.2, loss


# Deep dive 00a: which of transformers' adapter methods check the PEFT floor (transformers 5.23.0).
CHECKING = ["add_adapter", "set_adapter", "enable_adapters", "disable_adapters", "active_adapters",
            "get_adapter_state_dict", "delete_adapter"]


@pytest.mark.filterwarnings("ignore:Already found a `peft_config` attribute")  # two adapters on purpose
def test_plain_model_adapter_methods_check_the_peft_floor_and_load_adapter_does_not(tmp_path, monkeypatch):
    """With transformers' floor raised above the installed PEFT, each of add_adapter, set_adapter, enable_adapters,
    disable_adapters, active_adapters, get_adapter_state_dict and delete_adapter raises 'not compatible' first
    thing, while `load_adapter` loads without checking (notebook 00a)."""
    from peft import LoraConfig
    from tests.common import save_tiny_adapter, tiny_gpt2
    from transformers.integrations import peft as transformers_peft

    folder = save_tiny_adapter(tmp_path / "adapter")
    model = tiny_gpt2()
    model.load_adapter(str(folder), adapter_name="one")  # at the real floor: loads
    monkeypatch.setattr(transformers_peft, "MIN_PEFT_VERSION", "99.0")
    model.load_adapter(str(folder), adapter_name="two")  # above the installed PEFT: still loads, no check
    assert set(model.peft_config) == {"one", "two"}
    calls = {"add_adapter": lambda: model.add_adapter(LoraConfig(target_modules=["c_attn"]), adapter_name="three"),
             "set_adapter": lambda: model.set_adapter("one"), "enable_adapters": model.enable_adapters,
             "disable_adapters": model.disable_adapters, "active_adapters": model.active_adapters,
             "get_adapter_state_dict": model.get_adapter_state_dict,
             "delete_adapter": lambda: model.delete_adapter("two")}
    assert sorted(calls) == sorted(CHECKING)
    for call in calls.values():
        with pytest.raises(ValueError, match="not compatible, please use a version >= 99.0"):
            call()
    assert set(model.peft_config) == {"one", "two"}  # nothing was added or deleted


def test_transformers_checks_the_peft_floor_in_these_adapter_methods_and_not_in_load_adapter():
    """In transformers 5.23.0 the PEFT floor is checked by seven adapter methods; `load_adapter` is not one."""
    import ast
    import inspect

    from transformers.integrations import peft as integration

    tree = ast.parse(inspect.getsource(integration.PeftAdapterMixin))
    checking = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                and any(isinstance(call, ast.Call) and getattr(call.func, "id", None) == "check_peft_version"
                        for call in ast.walk(node))}
    assert checking == {"add_adapter", "set_adapter", "disable_adapters", "enable_adapters", "active_adapters",
                        "get_adapter_state_dict", "delete_adapter"}
