"""Check your understanding: deep dive 03a (the safetensors file by hand, the legacy pickle format)."""

import struct
from pathlib import Path
from typing import Any

import torch

from adapterlab import judging
from adapterlab.adapter_files import CONFIG_NAME, WEIGHTS_NAME, read_adapter_config
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion
from adapterlab.files import file_sizes
from adapterlab.safetensors_format import header_length

q1 = CodeQuestion(
    id="03a.header_length",
    prompt="Write `header_length(data)`: given the first bytes of a safetensors file, return the length "
           "of its JSON header.",
    cases=[
        ((struct.pack("<Q", 1016) + b'{"__metadata__":{}}',), 1016),
        ((struct.pack("<Q", 3032) + b"{",), 3032),
        ((struct.pack("<Q", 2**32 + 7),), 2**32 + 7),
    ],
    reference_function=header_length,
    wrong_functions=[
        lambda data: int.from_bytes(data[:8], "big"),
        lambda data: int.from_bytes(data[:4], "little"),
        lambda data: len(data) - 8,
    ],
    hints=["The first 8 bytes are one unsigned 64-bit integer.",
           "Little-endian: struct.unpack('<Q', data[:8])[0], or int.from_bytes(data[:8], 'little')."],
    solution_text="def header_length(data):\n    return int.from_bytes(data[:8], 'little')  # u64, little-endian",
    alternatives=["import struct\n\ndef header_length(data):\n    (n,) = struct.unpack('<Q', data[:8])\n    return n",
                  "def header_length(data):\n    return sum(byte << (8 * i) for i, byte in enumerate(data[:8]))"],
    other_wrong=["def header_length(data):\n    return int.from_bytes(data[:8], 'little') + 8",
                 "import struct\n\ndef header_length(data):\n    return struct.unpack('<I', data[4:8])[0]",
                 "def header_length(data):\n    return data.index(b'{')"],
)

q2 = ChoiceQuestion(
    id="03a.pickle",
    prompt="Which of these runs code hidden in a crafted adapter_model.bin?",
    choices={
        "a": ("torch.load(path) with the pinned torch.",
              "No: since torch 2.6 torch.load defaults to weights_only=True and refuses unknown globals."),
        "b": ("torch.load(path, weights_only=False).",
              "Right: that is a full unpickle, and a pickle can call any function while it loads."),
        "c": ("safetensors.torch.load_file(path).", "No: safetensors never unpickles; it rejects the file."),
        "d": ("python -m adapterlab inspect on its folder.", "No: inspect refuses pickles without opening them."),
    },
    answer="b",
    hints=["Only one of them unpickles without restrictions."],
    solution_text="(b). Only a full unpickle runs code; weights_only=True, safetensors and inspect refuse it.",
    alternatives=["B", " b "],
)


def diagnose_converted(answer: Any) -> tuple[str | None, str] | None:
    """q3: (legacy, folder): `folder` holds the adapter of the `legacy` folder's adapter_model.bin, as safetensors,
    at its top or one level deeper, and no pickle."""
    legacy, folder = answer
    if not isinstance(folder, (str, Path)):
        return "not_folder", f"Put the folder you saved into in `my_folder` (a Path), not {type(folder).__name__}."
    folder = Path(folder)
    if not folder.is_dir():
        return "missing", "There is no folder at that path: save into it first."
    pickles = [name for name in file_sizes(folder) if name.endswith((".bin", ".pt", ".pth", ".pkl"))]
    if pickles:
        return ("pickle", f"The folder still holds {pickles[0]}, a pickle: whoever loads it must trust it. Load "
                          "the adapter (you made it: you may), then save it with `save_pretrained`'s default, "
                          "safetensors.")
    found = judging.find_adapters(folder)
    if not found:
        return "files", judging.missing_files(folder)
    if len(found) > 1:
        return "several", f"The folder holds {len(found)} adapters; save the converted one alone."
    (adapter,) = found
    # The learner's own legacy file, which this notebook made: weights_only=True loads it without running code.
    old = {key.removeprefix(judging.PREFIX): value
           for key, value in torch.load(Path(legacy) / WEIGHTS_NAME, weights_only=True).items()}
    if not judging.same_tensors(judging.saved_tensors(adapter), old):
        return "weights", "The folder holds other weights than the legacy adapter's: save the adapter loaded from it."
    before, after = read_adapter_config(legacy), read_adapter_config(adapter)
    changed = [key for key in ("r", "lora_alpha", "target_modules", "fan_in_fan_out")
               if not judging.same_setting(before.get(key), after.get(key))]
    if changed:
        return ("config", f"The tensors are the legacy adapter's, but its {CONFIG_NAME} says {changed[0]}="
                          f"{after.get(changed[0])!r} where the legacy one says {before.get(changed[0])!r}.")
    if adapter != folder:
        return None, f"(It is in {adapter.relative_to(folder).as_posix()}/, one level down: load that subfolder.)"
    return None


_LOAD = 'loaded = PeftModel.from_pretrained(load_model("gpt2-mini"), legacy)\n'

q3 = TaskQuestion(
    id="03a.convert",
    prompt="Convert the legacy adapter folder `legacy` (yours: you may trust it): save the same adapter into "
           "`my_folder`, with safetensors weights and no pickle.",
    diagnose=diagnose_converted,
    success="The same tensors, now in adapter_model.safetensors: loading the folder can no longer run code.",
    hints=["PEFT loads an adapter_model.bin as readily as safetensors: load it onto gpt2-mini first.",
           "`save_pretrained` writes safetensors unless you ask for the legacy format."],
    solution_text="Load the legacy adapter with PeftModel.from_pretrained, then save_pretrained with its default.",
    solution_code=_LOAD + 'my_folder = work / "converted"\nloaded.save_pretrained(my_folder)',
    alternatives=[
        "import shutil\nfrom safetensors.torch import save_file\n\n"
        'my_folder = work / "by-hand"\nmy_folder.mkdir()\n'
        'save_file(torch.load(legacy / "adapter_model.bin", weights_only=True),\n'
        '          my_folder / "adapter_model.safetensors")\nshutil.copy(legacy / "adapter_config.json", my_folder)',
        "from peft.utils import get_peft_model_state_dict\nfrom safetensors.torch import save_file\n\n"
        + _LOAD + 'my_folder = work / "from-the-model"\nmy_folder.mkdir()\n'
        'save_file(get_peft_model_state_dict(loaded), my_folder / "adapter_model.safetensors")\n'
        'loaded.peft_config["default"].save_pretrained(my_folder)  # writes adapter_config.json',
        'named = PeftModel.from_pretrained(load_model("gpt2-mini"), legacy, adapter_name="converted")\n'
        'my_folder = work / "one-deeper"\nnamed.save_pretrained(my_folder, safe_serialization=True)',
    ],
    slips=[
        Slip('import shutil\nmy_folder = shutil.copytree(legacy, work / "slip-copy")', "pickle"),
        Slip('my_folder = work / "slip-fresh"\n'
             'get_peft_model(load_model("gpt2-mini"), LoraConfig(r=8, target_modules=["c_attn"], '
             'fan_in_fan_out=True)).save_pretrained(my_folder)', "weights"),
        Slip(_LOAD + 'my_folder = work / "slip-legacy-again"\n'
             "loaded.save_pretrained(my_folder, safe_serialization=False)",
             "pickle"),
        Slip("from safetensors.torch import save_file\n\n"
             'my_folder = work / "slip-no-config"\nmy_folder.mkdir()\n'
             'save_file(torch.load(legacy / "adapter_model.bin", weights_only=True),\n'
             '          my_folder / "adapter_model.safetensors")',
             "files"),
        Slip(_LOAD + 'my_folder = loaded.save_pretrained(work / "slip-none")', "not_folder"),
        Slip(_LOAD + 'loaded.peft_config["default"].lora_alpha = 32\nmy_folder = work / "slip-alpha"\n'
             "loaded.save_pretrained(my_folder)", "config"),
    ],
)
