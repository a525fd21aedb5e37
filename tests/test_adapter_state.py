"""adapter_state: the adapters a model's layers hold, what it serves, and what a saved file wraps, whatever API or
spelling made them."""

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tests.common import save_tiny_adapter, tiny_gpt2, tiny_lora

from adapterlab.adapter_state import held_adapters, read_saved, served_logits

IDS = torch.tensor([[1, 2, 3, 4]])


def test_held_adapters_are_what_the_layers_hold(tmp_path):
    """Two loaded adapters are held, by PEFT's loader or transformers'; after unload() or a merge, none."""
    save_tiny_adapter(tmp_path / "a", init_lora_weights=False, seed=1)
    save_tiny_adapter(tmp_path / "b", init_lora_weights=False, seed=2)
    model = PeftModel.from_pretrained(tiny_gpt2(), tmp_path / "a", adapter_name="a")
    model.load_adapter(tmp_path / "b", adapter_name="b")
    assert held_adapters(model) == {"a", "b"}
    plain = tiny_gpt2()
    plain.load_adapter(str(tmp_path / "b"), adapter_name="b")
    assert held_adapters(plain) == {"b"}
    model.merge_and_unload()
    assert held_adapters(model) == set() and held_adapters(tiny_gpt2()) == set()  # the PeftModel is a shell now


def test_served_logits_are_eval_mode_and_leave_the_mode_alone():
    """Dropout off while measuring, ids or a tokenizer's mapping alike; a model in training mode stays in it."""
    model = tiny_lora(lora_dropout=0.5, init_lora_weights=False)
    model.train()
    first, second = served_logits(model, IDS), served_logits(model, {"input_ids": IDS})
    assert torch.equal(first, second) and model.training and model.base_model.model.transformer.drop.training
    model.eval()
    assert torch.equal(served_logits(model, IDS), first) and not model.training


@pytest.mark.parametrize("targets", [["c_attn"], ["attn.c_attn"], r".*\.c_attn", r"transformer\.h\.\d+\.attn\.c_attn"])
def test_read_saved_sees_the_same_modules_however_targets_are_spelled(tmp_path, targets):
    """A list, a longer suffix or a regex for the same modules: the same saved modules, rank and dtype."""
    get_peft_model(tiny_gpt2(), LoraConfig(r=3, target_modules=targets, fan_in_fan_out=True)).save_pretrained(tmp_path)
    saved = read_saved(tmp_path)
    assert saved.ranks == {f"transformer.h.{i}.attn.c_attn": 3 for i in range(2)}
    assert saved.dtypes == {"F32"} and saved.others == ()
    assert saved.file_bytes == (tmp_path / "adapter_model.safetensors").stat().st_size


def test_read_saved_names_whole_modules_and_half_precision(tmp_path):
    """modules_to_save puts a whole module beside the pairs; a bfloat16 adapter reads as BF16."""
    config = LoraConfig(r=2, target_modules=["c_fc"], modules_to_save=["lm_head"], fan_in_fan_out=True)
    get_peft_model(tiny_gpt2(), config).save_pretrained(tmp_path / "whole")
    saved = read_saved(tmp_path / "whole")
    assert set(saved.ranks) == {f"transformer.h.{i}.mlp.c_fc" for i in range(2)}
    assert saved.others and all("lm_head" in name for name in saved.others)
    half = get_peft_model(tiny_gpt2().to(torch.bfloat16), LoraConfig(r=2, target_modules=["c_attn"],
                                                                     fan_in_fan_out=True), autocast_adapter_dtype=False)
    half.save_pretrained(tmp_path / "half")
    assert read_saved(tmp_path / "half").dtypes == {"BF16"}
