"""How transformers 5.23.0, peft 0.21.2, accelerate 1.15.0 and torch 2.13 behave under disk offloading, where notebook
04c states it in a sentence instead of reading their source; and the hands-on check's reader of LoRA data."""

import inspect
import os
import warnings
from pathlib import Path

import pytest
import torch
from accelerate import big_modeling, dispatch_model, infer_auto_device_map
from accelerate.hooks import AlignDevicesHook
from accelerate.utils import has_offloaded_params
from peft import LoraConfig, PeftModel, get_peft_model
from peft.peft_model import PeftModel as PeftModelClass
from safetensors.torch import load_file
from tests.common import save_tiny_adapter, tiny_gpt2
from transformers import AutoModelForCausalLM

from adapterlab.questions.nb04c import lora_data

# The tiny GPT-2 (2 blocks) split as the notebook splits gpt2-mini: the last block on disk, the rest in memory.
SPLIT = {"transformer.wte": "cpu", "transformer.wpe": "cpu", "transformer.drop": "cpu", "transformer.h.0": "cpu",
         "transformer.h.1": "disk", "transformer.ln_f": "cpu", "lm_head": "cpu"}
PEFT_SPLIT = {f"base_model.model.{name}": device for name, device in SPLIT.items()}
IDS = torch.arange(8).reshape(1, 8)


def _config() -> LoraConfig:
    return LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True)


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    tiny_gpt2().save_pretrained(tmp_path / "base")  # model.safetensors
    return tmp_path / "base"


def _offloaded(checkpoint: Path, folder: Path):
    return AutoModelForCausalLM.from_pretrained(checkpoint, device_map=SPLIT, offload_folder=folder).eval()


def test_disk_offload_of_safetensors_reads_the_checkpoint_and_writes_nothing(checkpoint, tmp_path):
    """A block mapped to "disk" has its weights on meta, before and after a forward; its hook reads them from the
    checkpoint's own model.safetensors, so the offload folder stays empty; the outputs are the in-memory model's
    (04c section 1)."""
    model = _offloaded(checkpoint, tmp_path / "offload")
    hook = model.transformer.h[1].attn.c_attn._hf_hook
    assert isinstance(hook, AlignDevicesHook) and hook.offload
    index = hook.weights_map.dataset.index
    assert {Path(entry["safetensors_file"]).name for entry in index.values()} == {"model.safetensors"}
    with torch.no_grad():
        assert torch.equal(model(input_ids=IDS).logits, tiny_gpt2()(input_ids=IDS).logits)
    assert all(p.is_meta for p in model.transformer.h[1].parameters())
    assert not any(p.is_meta for p in model.transformer.h[0].parameters())
    folder = tmp_path / "offload"
    assert not folder.exists() or not any(folder.iterdir())


def test_cpu_offloads_only_when_the_map_names_a_gpu_and_the_log_says_cpu_anyway():
    """dispatch_model's main device is a device of the map other than "cpu" and "disk" if there is one, else the CPU;
    it offloads "disk" alone when the main device is the CPU, "cpu" and "disk" beside a GPU; its warning names every
    "cpu" or "disk" value of the map, offloaded or not (04c sections 1 and 9, question 04c.offloaded_modules)."""
    source = inspect.getsource(dispatch_model)
    assert 'non_offloaded_devices = devices - {"cpu", "disk"}' in source
    assert 'main_device = list(non_offloaded_devices)[0] if non_offloaded_devices else "cpu"' in source
    assert 'offloaded_devices = ["disk"] if main_device == "cpu" or main_device == "mps" else ["cpu", "disk"]' in source
    assert "Some parameters are on the meta device because they were offloaded to the" in source
    assert 'if device in ("cpu", "disk")' in source


def test_a_cpu_input_times_a_meta_weight_runs_without_data():
    """torch 2.13 multiplies a CPU input by a meta weight without an error and returns a CPU tensor that no weight
    computed (04c section 2: the forward of a LoRA with no data runs)."""
    weight = torch.empty(4, 16, device="meta")
    out = torch.nn.functional.linear(torch.randn(2, 16), weight)
    assert out.device.type == "cpu" and out.shape == (2, 4) and weight.is_meta


def test_get_peft_model_builds_the_lora_of_an_offloaded_block_on_meta_with_no_hook(checkpoint, tmp_path):
    """get_peft_model on a disk-offloaded base: the offloaded block's LoRA weights are on meta and no accelerate hook
    can load them (04c section 2); the blocks in memory get CPU tensors."""
    model = get_peft_model(_offloaded(checkpoint, tmp_path / "offload"), _config())
    layer = model.base_model.model.transformer.h[1].attn.c_attn
    assert layer.lora_A["default"].weight.is_meta and not has_offloaded_params(layer.lora_A["default"])
    assert has_offloaded_params(layer.get_base_layer())
    assert not model.base_model.model.transformer.h[0].attn.c_attn.lora_A["default"].weight.is_meta
    assert [key for key, data in lora_data(model).items() if data is None] == [
        "base_model.model.transformer.h.1.attn.c_attn.lora_A.weight",
        "base_model.model.transformer.h.1.attn.c_attn.lora_B.weight"]


def test_load_adapter_copies_first_then_redispatches_and_moves_a_one_device_model(checkpoint, tmp_path):
    """PEFT's load_adapter copies the weights (a no-op for meta parameters, torch warns), then, for a model whose map
    holds "cpu" or "disk", dispatches it again with a map of its own ("auto" unless given); a map with one device
    makes accelerate call model.to(device), which cannot copy out of meta (04c section 3)."""
    source = inspect.getsource(PeftModelClass.load_adapter)
    assert source.index("set_peft_model_state_dict(") < source.index("dispatch_model(")
    assert 'device_map = kwargs.get("device_map", "auto")' in source
    assert "model.to(device)" in inspect.getsource(big_modeling.dispatch_model)
    model = get_peft_model(_offloaded(checkpoint, tmp_path / "offload"), _config())
    if not torch.cuda.is_available():  # PEFT's "auto" map of a small model on a machine without a GPU: one device
        assert set(infer_auto_device_map(model).values()) == {"cpu"}
    folder = save_tiny_adapter(tmp_path / "adapter", init_lora_weights=False)
    with warnings.catch_warnings(record=True) as seen, \
            pytest.raises(NotImplementedError, match="Cannot copy out of meta"):
        warnings.simplefilter("always")
        model.load_adapter(folder, adapter_name="default")
    assert sum("which is a no-op" in str(w.message) for w in seen) == 2  # block 1's lora_A and lora_B
    saved = load_file(folder / "adapter_model.safetensors")
    in_memory = model.base_model.model.transformer.h[0].attn.c_attn.lora_A["default"].weight
    assert torch.equal(in_memory, saved["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"])  # half loaded


def test_from_pretrained_removes_hooks_and_detaching_restores_only_weights_kept_in_memory():
    """PeftModel.from_pretrained removes accelerate's hooks from a base mapped to "cpu" or "disk"; detaching a hook puts
    back the weights whose original device was not meta ("cpu"-offloaded beside a GPU) and leaves disk ones on meta
    (04c sections 4 and 9)."""
    source = inspect.getsource(PeftModelClass.from_pretrained)
    assert "remove_hook_from_submodules(model)" in source
    detach = inspect.getsource(AlignDevicesHook.detach_hook)
    assert 'if device != torch.device("meta"):' in detach and "set_module_tensor_to_device" in detach


def test_from_pretrained_on_a_disk_offloaded_base_fails_and_leaves_a_copy_relative_to_the_current_folder(
        checkpoint, tmp_path, monkeypatch):
    """PeftModel.from_pretrained onto a disk-offloaded base raises the meta error, after `_update_offload` wrote a
    copy of the base checkpoint with every adapter tensor added, at the checkpoint's absolute path joined without
    its leading '/' under the current folder (04c section 4)."""
    folder = save_tiny_adapter(tmp_path / "adapter", init_lora_weights=False)
    base = _offloaded(checkpoint, tmp_path / "offload")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    with warnings.catch_warnings(), pytest.raises(NotImplementedError, match="Cannot copy out of meta"):
        warnings.simplefilter("ignore")
        PeftModel.from_pretrained(base, folder)
    original = (checkpoint / "model.safetensors").resolve()
    left = [p.relative_to(tmp_path / "cwd") for p in (tmp_path / "cwd").rglob("*") if p.is_file()]
    assert left == [original.relative_to(original.anchor)]
    written = load_file(tmp_path / "cwd" / left[0])
    assert sum("lora_" in name for name in written) == len(load_file(folder / "adapter_model.safetensors"))
    source = inspect.getsource(PeftModelClass._update_offload)
    assert "os.path.join(*new_fname_list)" in source and 'new_fname_list[i] += "-peft"' in source


def test_load_first_then_dispatch_offloads_lora_with_its_block_and_computes_exactly(tmp_path):
    """dispatch_model on a PeftModel in memory, with the map in the PeftModel's names, writes one file per tensor of
    the disk block, LoRA included, and an index; the outputs are exact; lora_data reads the offloaded LoRA through
    its hook (04c section 6 and the hands-on check)."""
    folder = save_tiny_adapter(tmp_path / "adapter", init_lora_weights=False)
    in_memory = PeftModel.from_pretrained(tiny_gpt2(), folder)
    with torch.no_grad():
        expected = in_memory(input_ids=IDS).logits
    model = dispatch_model(PeftModel.from_pretrained(tiny_gpt2(), folder), device_map=PEFT_SPLIT,
                           offload_dir=tmp_path / "dispatched")
    names = os.listdir(tmp_path / "dispatched")
    assert "index.json" in names and sum("lora_" in name for name in names) == 2
    with torch.no_grad():
        assert torch.equal(model(input_ids=IDS).logits, expected)
    saved = load_file(folder / "adapter_model.safetensors")
    held = lora_data(model)
    assert held.keys() == saved.keys() and all(torch.equal(held[k], saved[k]) for k in saved)
    assert model.base_model.model.transformer.h[1].attn.c_attn.lora_A["default"].weight.is_meta  # put back after


def test_dispatch_model_reuses_an_offload_folder_that_has_an_index(tmp_path):
    """dispatch_model writes the offloaded weights only when the folder has no index.json; otherwise it reads the files
    there, another model's included (the hands-on check's stale_offload)."""
    source = inspect.getsource(dispatch_model)
    assert 'os.path.isfile(os.path.join(offload_dir, "index.json"))' in source
    folder = save_tiny_adapter(tmp_path / "adapter", init_lora_weights=False)
    dispatch_model(get_peft_model(tiny_gpt2(), _config()), device_map=PEFT_SPLIT, offload_dir=tmp_path / "shared")
    model = dispatch_model(PeftModel.from_pretrained(tiny_gpt2(), folder), device_map=PEFT_SPLIT,
                           offload_dir=tmp_path / "shared")
    key = "base_model.model.transformer.h.1.attn.c_attn.lora_B.weight"
    assert not torch.equal(lora_data(model)[key], load_file(folder / "adapter_model.safetensors")[key])


def test_an_offloaded_lora_gets_no_gradient_because_the_hook_swaps_tensors(tmp_path):
    """AlignDevicesHook puts the offloaded weights in place before each forward and meta tensors back after it, so a
    backward pass leaves the offloaded block's LoRA without a gradient (04c section 7)."""
    assert "set_module_tensor_to_device(" in inspect.getsource(AlignDevicesHook.pre_forward)
    assert 'set_module_tensor_to_device(module, name, "meta")' in inspect.getsource(AlignDevicesHook.post_forward)
    folder = save_tiny_adapter(tmp_path / "adapter", init_lora_weights=False)
    model = dispatch_model(PeftModel.from_pretrained(tiny_gpt2(), folder, is_trainable=True), device_map=PEFT_SPLIT,
                           offload_dir=tmp_path / "trainable")
    model(input_ids=IDS, labels=IDS).loss.backward()
    grads = {name: p.grad is not None for name, p in model.named_parameters() if p.requires_grad}
    assert grads and all(got == (".h.0." in name) for name, got in grads.items())


def test_an_offloaded_model_refuses_to_move(checkpoint, tmp_path):
    """accelerate wraps `to` of a dispatched model: with a weight on meta, it raises instead of moving (04c
    section 8)."""
    with pytest.raises(RuntimeError, match="You can't move a model that has some modules offloaded"):
        _offloaded(checkpoint, tmp_path / "offload").to("cpu")


def test_the_only_stderr_a_notebook_may_show_is_accelerates_offload_notice():
    """One cell in the whole workbook declares a stderr text (the browser test allows it there and nowhere else):
    04c's loading cell, and the text is the start of the notice accelerate 1.15.0 writes when it offloads."""
    import importlib.util
    from pathlib import Path

    import nbformat

    declared = {(path.name, i): cell.metadata["adapterlab"]["stderr"]
                for path in sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
                for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
                if "stderr" in cell.metadata.get("adapterlab", {})}
    assert list(declared) == [("04c_device_map_offload.ipynb", 5)]
    source = Path(importlib.util.find_spec("accelerate.big_modeling").origin).read_text()
    assert 'f"Some parameters are on the meta device because they were offloaded to the {offloaded_devices_str}."' \
        in source
    assert declared["04c_device_map_offload.ipynb", 5] == "Some parameters are on the meta device because they " \
                                                          "were offloaded to the"
