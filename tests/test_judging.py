"""What the hands-on checks observe: the same answers for every right way of building a model or a folder."""

import json
import shutil

import torch
from peft import PeftModel
from tests.common import save_tiny_adapter, tiny_gpt2, tiny_lora

from adapterlab import judging


def _wrap(targets, **config):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(tiny_gpt2(), LoraConfig(target_modules=targets, fan_in_fan_out=True, **config))


def test_wrapped_modules_are_the_same_whatever_the_spelling_of_target_modules():
    """Names, a longer ending and a regex wrap the same modules; each layer reports the r and alpha it was built
    with, and a rank_pattern shows as a second pair."""
    wanted = ["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"]
    for targets in (["c_attn"], ["attn.c_attn"], r".*\.c_attn"):
        model = _wrap(targets, r=2, lora_alpha=4)
        assert judging.wrapped_modules(model) == wanted
        assert judging.layer_settings(model, "default") == {(2, 4)}
        assert judging.adapter_host(model) == "peft" and judging.active_adapters(model) == {"default"}
    assert judging.layer_settings(_wrap(["c_attn"], r=2, lora_alpha=4, rank_pattern={"h.1.attn.c_attn": 8}),
                                  "default") == {(2, 4), (8, 4)}


def test_transformers_load_adapter_is_read_like_a_peft_model(tmp_path):
    """A plain model given an adapter by transformers' own `load_adapter` shows the same modules, active adapter and
    tensors as `PeftModel.from_pretrained`; a plain model without adapters has no host."""
    save_tiny_adapter(tmp_path / "a", init_lora_weights=False)
    plain = tiny_gpt2()
    plain.load_adapter(str(tmp_path / "a"), adapter_name="x")
    peft = PeftModel.from_pretrained(tiny_gpt2(), tmp_path / "a")
    assert judging.adapter_host(plain) == "transformers" and judging.adapter_host(tiny_gpt2()) is None
    assert judging.wrapped_modules(plain) == judging.wrapped_modules(peft)
    assert judging.active_adapters(plain) == {"x"}
    assert judging.adapters_holding(plain, tmp_path / "a") == ["x"]
    assert judging.adapters_holding(peft, tmp_path / "a") == ["default"]


def test_disabled_and_merged_adapters_are_seen():
    """`disable_adapter_layers` and `merge_adapter` leave marks on every layer, and the helpers read them."""
    model = tiny_lora(init_lora_weights=False)
    assert not judging.adapters_disabled(model) and judging.merged_adapters(model) == set()
    model.base_model.disable_adapter_layers()
    assert judging.adapters_disabled(model)
    model.base_model.enable_adapter_layers()
    model.merge_adapter()
    assert judging.merged_adapters(model) == {"default"}


def test_find_adapters_at_the_top_or_one_level_deeper(tmp_path):
    """A complete adapter at the top is found alone; otherwise each complete one in a subfolder; a half-saved folder
    is described by what it holds."""
    save_tiny_adapter(tmp_path / "top")
    assert judging.find_adapters(tmp_path / "top") == [tmp_path / "top"]
    save_tiny_adapter(tmp_path / "deep" / "english")
    assert judging.find_adapters(tmp_path / "deep") == [tmp_path / "deep" / "english"]
    save_tiny_adapter(tmp_path / "deep" / "spanish")
    assert len(judging.find_adapters(tmp_path / "deep")) == 2
    (tmp_path / "half").mkdir()
    shutil.copy(tmp_path / "top" / "adapter_model.safetensors", tmp_path / "half")
    assert judging.find_adapters(tmp_path / "half") == []
    assert "no adapter_config.json" in judging.missing_files(tmp_path / "half")
    (tmp_path / "empty").mkdir()
    assert "empty" in judging.missing_files(tmp_path / "empty")


def test_machine_paths_finds_this_machines_paths_in_every_text_file(tmp_path):
    """A path that exists here, in any text file, is found; a URL, a hub id and the weights file are not."""
    folder = save_tiny_adapter(tmp_path / "a")
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "gpt2-mini"
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / "README.md").write_text("base_model: openai-community/gpt2\nSee https://huggingface.co/docs/peft\n")
    assert judging.machine_paths(folder) == {}
    (folder / "notes.txt").write_text(f"trained from {tmp_path}\n")
    config["base_model_name_or_path"] = str(tmp_path / "a")
    (folder / "adapter_config.json").write_text(json.dumps(config))
    assert judging.machine_paths(folder) == {"adapter_config.json": [str(tmp_path / "a")], "notes.txt": [str(tmp_path)]}


def test_adapter_tensors_match_what_save_pretrained_writes(tmp_path):
    """The tensors read from a live model equal those PEFT saves, and another adapter's differ."""
    model = tiny_lora(init_lora_weights=False)
    model.save_pretrained(tmp_path / "a")
    assert judging.holds_adapter(model, "default", tmp_path / "a")
    torch.manual_seed(1)
    save_tiny_adapter(tmp_path / "b", init_lora_weights=False, seed=1)
    assert not judging.holds_adapter(model, "default", tmp_path / "b")


def test_same_setting_reads_target_modules_as_a_set():
    """PEFT saves target_modules from a set, in an order that varies: two orders of one list agree; values compare
    as they are."""
    assert judging.same_setting(["c_attn", "c_fc"], ["c_fc", "c_attn"])
    assert not judging.same_setting(["c_attn"], ["c_attn", "c_fc"])
    assert judging.same_setting(8, 8) and not judging.same_setting(16, 32)
    assert not judging.same_setting(".*c_attn", ["c_attn"])
