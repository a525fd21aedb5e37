"""Check your understanding: notebook 04c (device_map, disk offloading, and what happens to LoRA adapters there)."""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
from accelerate.utils import align_module_device, has_offloaded_params
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file

from adapterlab.adapter_files import SAFETENSORS_WEIGHTS_NAME
from adapterlab.adapters import demo_adapters
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.merging import logits
from adapterlab.models import load_model

# The English demo adapter on gpt2-mini: r=8 on c_attn (128 -> 384), attn.c_proj (128 -> 128), mlp.c_fc
# (128 -> 512) and mlp.c_proj (512 -> 128), so one block holds 8 x (512 + 256 + 640 + 640) LoRA parameters.
PER_BLOCK = 8 * ((128 + 384) + (128 + 128) + (128 + 512) + (512 + 128))

q1 = ValueQuestion(
    id="04c.meta_on_gpu",
    prompt="On a machine with a GPU, gpt2-mini is loaded with blocks 0-1 on GPU 0 and blocks 2-3 on \"cpu\" (nothing "
           "on \"disk\"). `get_peft_model` adds the English demo adapter's settings (16,384 LoRA parameters a block). "
           "How many LoRA parameters sit on the meta device, with no data?",
    answer=2 * PER_BLOCK,
    wrong={
        PER_BLOCK: "That is one block. With GPU 0 in the map, the main device is the GPU, and accelerate offloads "
                   "the blocks mapped to \"cpu\" as well as those on \"disk\": blocks 2 and 3 both sit on meta.",
        0: "In a map without a GPU that would be right (\"cpu\" is then where everything runs). This map names "
           "GPU 0, so \"cpu\" means offloaded: the weights wait in CPU memory, the module's own tensors on meta.",
        4 * PER_BLOCK: "Blocks 0 and 1 are on the GPU with their data; only the offloaded blocks are on meta.",
    },
    alternatives=["32,768", "32_768"],
    other_wrong=[2 * 4096, 3 * PER_BLOCK, 2],
    hints=["Section 1: which device-map values mean \"offloaded\" depends on whether the map names a GPU.",
           "Two offloaded blocks, and PEFT builds each LoRA layer on its base layer's device (section 2)."],
    solution_text="32,768: with GPU 0 in the map, \"cpu\" offloads too, so blocks 2 and 3 are on meta and "
                  "get_peft_model builds their LoRA there (the reviewer's GPU row in section 9 shows it).",
)


def _offloaded_modules(device_map: dict) -> list:
    gpu = any(device not in ("cpu", "disk") for device in device_map.values())
    offloaded = ("cpu", "disk") if gpu else ("disk",)
    return [name for name, device in device_map.items() if device in offloaded]


q2 = CodeQuestion(
    id="04c.offloaded_modules",
    prompt="Write `offloaded_modules(device_map)`: the names in `device_map` whose weights accelerate keeps on the "
           "meta device (offloaded), in the map's order. A GPU appears in a map as a number (0) or 'cuda:0'.",
    cases=[
        (({"transformer.h.0": "cpu", "transformer.h.1": "disk"},), ["transformer.h.1"]),
        (({"transformer.h.0": 0, "transformer.h.1": "cpu", "transformer.h.2": "disk"},),
         ["transformer.h.1", "transformer.h.2"]),
        (({"transformer.h.0": 0, "lm_head": 0},), []),
        (({"lm_head": "cpu", "transformer.h.0": "cpu", "transformer.h.1": "cuda:0"},), ["lm_head", "transformer.h.0"]),
        (({"transformer.wte": "cpu", "transformer.h.0": "cpu"},), []),
        (({"": "disk"},), [""]),
    ],
    reference_function=_offloaded_modules,
    wrong_functions=[
        lambda device_map: [name for name, device in device_map.items() if device == "disk"],
        lambda device_map: [name for name, device in device_map.items() if device in ("cpu", "disk")],
        lambda device_map: [device for device in device_map.values() if device in ("cpu", "disk")],
    ],
    alternatives=[
        "def offloaded_modules(device_map):\n"
        "    gpu = bool(set(device_map.values()) - {'cpu', 'disk'})\n"
        "    return [name for name, device in device_map.items() if device == 'disk' or (gpu and device == 'cpu')]",
        "def offloaded_modules(device_map):\n"
        "    main = 'cpu'\n"
        "    for device in device_map.values():\n"
        "        if device not in ('cpu', 'disk'):\n"
        "            main = device\n"
        "    names = []\n"
        "    for name, device in device_map.items():\n"
        "        if device in ('cpu', 'disk') and device != main:\n"
        "            names.append(name)\n"
        "    return names",
    ],
    other_wrong=[
        "def offloaded_modules(device_map):\n"
        "    return sorted({name for name, device in device_map.items() if device in ('cpu', 'disk')})",
        "def offloaded_modules(device_map):\n"
        "    return [name for name, device in device_map.items() if device != 0]",
        "def offloaded_modules(device_map):\n"
        "    gpu = 0 in device_map.values()\n"
        "    return [name for name, device in device_map.items() if device == 'disk' or (gpu and device == 'cpu')]",
    ],
    hints=["Section 1: this notebook's map names no GPU. What happened to the blocks mapped to \"cpu\"?",
           "accelerate's main device is a GPU of the map if there is one, else the CPU; \"disk\" always offloads, "
           "\"cpu\" only when it is not the main device."],
    solution_text="def offloaded_modules(device_map):\n"
                  "    gpu = any(device not in (\"cpu\", \"disk\") for device in device_map.values())\n"
                  "    offloaded = (\"cpu\", \"disk\") if gpu else (\"disk\",)\n"
                  "    return [name for name, device in device_map.items() if device in offloaded]",
)

q3 = ChoiceQuestion(
    id="04c.train_offloaded",
    prompt="A PeftModel was dispatched with accelerate so that block 3, its LoRA layers included, is offloaded to "
           "disk; it was loaded with `is_trainable=True`. You run one training step (forward, `loss.backward()`, "
           "`optimizer.step()`). What happens to block 3's LoRA weights?",
    choices={
        "a": ("They are updated like every other LoRA weight.",
              "No: the gradient lands on the copy accelerate loads for the forward, and that copy is dropped right "
              "after; the parameter the optimizer holds stays on meta with no gradient (section 7)."),
        "b": ("`backward()` raises an error about the meta device.",
              "No: that is the LoRA that `get_peft_model` created on meta with no data (section 5). Dispatched "
              "weights have their data on disk, and the step runs without a word."),
        "c": ("Nothing: they get no gradient and never change, and no error says so.",
              "Right: only the LoRA weights in memory learn. Train with the adapter's blocks in memory."),
    },
    answer="c",
    alternatives=["C", " c "],
    hints=["Section 7 looks at `.grad` of every LoRA weight after one backward pass."],
    solution_text="(c). accelerate's hook puts a fresh copy of the offloaded weights in place for each forward; the "
                  "gradient goes to that copy, which is thrown away.",
)


# Hands-on: the English demo adapter on a gpt2-mini whose block 3 stays offloaded to disk.
OFFLOADED_BLOCK = "transformer.h.3."
PEFT_PREFIX = "base_model.model."  # PEFT's names in the file: the PeftModel's module names, adapter name removed
IDS = torch.arange(1, 17).reshape(2, 8)  # (2, 8): any ids gpt2-mini's vocabulary has


def lora_data(model: torch.nn.Module) -> dict[str, torch.Tensor | None]:
    """Returns {name as in the adapter file: the data of that LoRA weight} for each active adapter's lora_A and
    lora_B, None for a weight on meta that no accelerate hook can load (it has no data anywhere)."""
    found = {}
    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        for adapter in module.active_adapters:
            for part in ("lora_A", "lora_B"):
                layer = getattr(module, part)[adapter]
                key = f"{PEFT_PREFIX}{name.removeprefix(PEFT_PREFIX)}.{part}.weight"
                if not layer.weight.is_meta:
                    found[key] = layer.weight.detach()
                elif has_offloaded_params(layer):
                    with align_module_device(layer):  # loads what the hook would load for a forward, then drops it
                        found[key] = layer.weight.detach().clone()
                else:
                    found[key] = None
    return found


@cache
def _english_logits() -> torch.Tensor:
    """What the English demo adapter computes on gpt2-mini, all in memory."""
    with torch.no_grad():
        return logits(PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["english"]), IDS)


def _short(key: str) -> str:
    return key.removeprefix(PEFT_PREFIX)


def diagnose_offloaded(model: Any) -> tuple[str, str] | None:
    """q4: the English adapter, whole and frozen, on a gpt2-mini whose block 3 is offloaded, computing what it
    computes in memory."""
    if not isinstance(model, torch.nn.Module):
        return "not_model", f"Expected the model itself, not {type(model).__name__}."
    held = lora_data(model)
    if not held:
        return ("no_adapter", "This model has no LoRA layers. If you merged (`merge_and_unload`), the adapter is "
                              "folded into the base weights: fine to serve (section 6), but the task keeps the "
                              "adapter itself, to switch off or save alone.")
    block = [p for name, p in model.named_parameters() if OFFLOADED_BLOCK in name and "lora_" not in name]
    if not block or not all(p.is_meta for p in block):
        return ("not_offloaded", "It computes the right thing, but block 3's own weights are in memory: nothing is "
                                 "offloaded. In a map that names no GPU only \"disk\" offloads; \"cpu\" is where "
                                 "everything runs (section 1).")
    empty = [key for key, data in held.items() if data is None]
    if empty:
        return ("no_data", f"{len(empty)} LoRA weights sit on the meta device with nothing behind them (e.g. "
                           f"{_short(empty[0])}), so a forward computes garbage and a load raises. `get_peft_model` on "
                           "an offloaded base builds them there (section 2). Load the adapter onto a base in memory, "
                           "then offload the whole PeftModel (section 6).")
    saved = load_file(demo_adapters()["english"] / SAFETENSORS_WEIGHTS_NAME)
    wrong = [key for key, data in held.items() if key not in saved or not torch.equal(data, saved[key])]
    if wrong and all(OFFLOADED_BLOCK in key for key in wrong):
        return ("stale_offload", f"Blocks 0-2 hold the English adapter, but block 3 does not ({_short(wrong[0])} "
                                 "differs from the file): its offload folder already held an `index.json` from "
                                 "another model, and `dispatch_model` read those old files instead of writing new "
                                 "ones. One fresh folder per dispatch.")
    if wrong or saved.keys() - held.keys():
        return ("not_loaded", "Block 3 is offloaded and every LoRA weight has data, but they are not the English "
                              "adapter's: a new adapter starts from random A and zero B. Load the saved one with "
                              "`PeftModel.from_pretrained` before you offload.")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    if trainable:
        return ("trainable", f"The adapter and the offload are right, but {len(trainable)} tensors are trainable: a "
                             "training step would update blocks 0-2 only, since block 3's LoRA never gets a gradient "
                             "(section 7). For inference, load frozen: `from_pretrained`'s default.")
    with torch.no_grad():
        outputs = logits(model, IDS)
    if not torch.allclose(outputs, _english_logits(), atol=1e-5):
        return ("outputs", "The weights are the English adapter's, but the outputs differ from what it computes in "
                           "memory: is the model in train mode (its dropout is 0.1), or the adapter disabled?")
    return None


_ENGLISH = 'demo_adapters()["english"]'
_LOADED = f'PeftModel.from_pretrained(load_model("gpt2-mini"), {_ENGLISH})'
_FRESH = f'get_peft_model(load_model("gpt2-mini"), LoraConfig.from_pretrained({_ENGLISH}))'
_DISPATCH = "dispatch_model({model}, device_map={split}, offload_dir={folder})"
_NEW = "tempfile.mkdtemp(dir=work)"

q4 = TaskQuestion(
    id="04c.offloaded_adapter",
    prompt="Put the English demo adapter (`demo_adapters()['english']`) on a gpt2-mini whose block 3 stays offloaded "
           "to disk, frozen and ready for inference, and keep the model in `my_offloaded`.",
    diagnose=diagnose_offloaded,
    success="Block 3 is on disk, its LoRA weights with it, every LoRA weight has data and holds the file's numbers, "
            "and the outputs are exactly what the adapter computes in memory.",
    hints=["Sections 3 and 4: loading into an offloaded base fails. What order of steps works (section 6)?",
           "Load onto a base in memory, then `dispatch_model(peft_model, device_map=peft_split, offload_dir=...)`, "
           "with a new folder."],
    solution_text="Load first, offload after: PeftModel.from_pretrained on a base in memory, then accelerate's "
                  "dispatch_model with the map in the PeftModel's names and a fresh offload folder.",
    solution_code=f"my_offloaded = {_DISPATCH.format(model=_LOADED, split='peft_split', folder=_NEW)}",
    slips=[
        Slip(f"my_offloaded = get_peft_model(offloaded_base(), LoraConfig.from_pretrained({_ENGLISH}))", "no_data"),
        Slip(f"my_offloaded = {_LOADED}", "not_offloaded"),
        Slip("my_offloaded = " + _DISPATCH.format(model=_LOADED, folder=_NEW,
                                                  split='{**peft_split, "base_model.model.transformer.h.3": "cpu"}'),
             "not_offloaded"),
        Slip(f"my_offloaded = {_DISPATCH.format(model=_FRESH, split='peft_split', folder=_NEW)}", "not_loaded"),
        Slip("slip_folder = work / 'shared_offload'\n"
             f"{_DISPATCH.format(model=_FRESH, split='peft_split', folder='slip_folder')}\n"
             f"my_offloaded = {_DISPATCH.format(model=_LOADED, split='peft_split', folder='slip_folder')}",
             "stale_offload"),
        Slip("my_offloaded = " + _DISPATCH.format(
            model=f'PeftModel.from_pretrained(load_model("gpt2-mini"), {_ENGLISH}, is_trainable=True)',
            split="peft_split", folder=_NEW), "trainable"),
        Slip("my_offloaded = " + _DISPATCH.format(model=f"{_LOADED}.merge_and_unload()", split="split", folder=_NEW),
             "no_adapter"),
    ],
    alternatives=[
        # transformers' own adapter API on the plain model: its names need no prefix
        f'my_plain = load_model("gpt2-mini")\nmy_plain.load_adapter(str({_ENGLISH}))\n'
        f"my_offloaded = {_DISPATCH.format(model='my_plain', split='split', folder=_NEW)}",
        # everything offloaded, block 3 included
        f'my_offloaded = accelerate.disk_offload({_LOADED}, offload_dir={_NEW}, execution_device="cpu")',
        # the map built from the offloaded base's own, prefixed
        "my_offloaded = " + _DISPATCH.format(
            model=_LOADED, folder=_NEW,
            split='{"base_model.model." + name: device for name, device in offloaded_base().hf_device_map.items()}'),
    ],
)
