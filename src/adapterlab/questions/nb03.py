"""Check your understanding: notebook 03 (saving adapters)."""

import struct
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from adapterlab.adapter_files import (
    SAFETENSORS_WEIGHTS_NAME,
    WEIGHTS_NAME,
    is_complete_adapter,
    read_adapter_config,
)
from adapterlab.adapters import demo_adapters
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.files import file_sizes
from adapterlab.safetensors_format import header_length

q1 = ValueQuestion(
    id="03.tensor_bytes",
    prompt="GPT-2 small, LoRA r=8 on `c_attn`, float32: how many bytes of tensor data (header not counted) "
           "does adapter_model.safetensors hold?",
    answer=12 * 8 * (768 + 2304) * 4,
    wrong={
        12 * 8 * (768 + 2304): "That is the parameter count; each float32 parameter takes 4 bytes.",
        12 * 8 * (768 + 2304) * 2: "That would be float16 (2 bytes); the adapter was saved in float32.",
        1_182_680: "That is the whole file: it includes the 8-byte prefix and the JSON header.",
        9216: "9 kB is a widely copied tutorial's claim; compute it from the shapes instead.",
    },
    hints=["Each of the 12 blocks has lora_A (8 x 768) and lora_B (2304 x 8).",
           "Parameters x 4 bytes per float32."],
    solution_text="12 x 8 x (768 + 2304) = 294,912 parameters x 4 bytes = 1,179,648 bytes.",
)


q2 = CodeQuestion(
    id="03.header_length",
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
)

q3 = ChoiceQuestion(
    id="03.config_fields",
    prompt="You edit one field of a saved adapter's adapter_config.json, then reload it with "
           "`PeftModel.from_pretrained(base, path)`. Which edit makes the load fail with an error?",
    choices={
        "a": ("r from 8 to 4.",
              "Right: PEFT builds lora_A as 4 x d_in, and copying the saved 8 x d_in tensor raises a size mismatch."),
        "b": ("lora_alpha from 16 to 32.",
              "No: it loads without a word, and the outputs change, because the scale alpha/r doubled."),
        "c": ("base_model_name_or_path to a folder that does not exist.",
              "No: you passed the base model yourself, so that field is not even read."),
        "d": ("peft_version to 0.1.0.", "No: it is a record of who wrote the file; loading ignores it."),
    },
    answer="a",
    hints=["Which fields decide the shapes of the tensors PEFT creates before copying the saved ones in?"],
    solution_text="(a). r fixes the shapes; alpha changes outputs silently; the other two are not checked.",
)

q4 = ChoiceQuestion(
    id="03.pickle",
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
)


# Hands-on: the checks read the folder the learner saved, file by file.
def _folder_problem(folder: Any) -> tuple[str, str] | None:
    if folder is None or not isinstance(folder, (str, Path)):
        return ("not_folder", f"Pass the folder you saved into (a Path), not {type(folder).__name__}: "
                              "`save_pretrained` returns None.")
    if not Path(folder).is_dir():
        return "missing", "There is no folder at that path: save into it first."
    return None


def _same_tensors(file: Path, folder: Path) -> bool:
    mine, saved = load_file(file), load_file(folder / SAFETENSORS_WEIGHTS_NAME)
    return mine.keys() == saved.keys() and all(torch.equal(mine[k], saved[k]) for k in saved)


def diagnose_save_one(folder: Any) -> tuple[str, str] | None:
    """q5: a folder holding the 'english' adapter of `pair` only, in its subfolder, as PEFT writes it."""
    problem = _folder_problem(folder)
    if problem:
        return problem
    files = set(file_sizes(folder))
    if any(name.endswith(("model.safetensors", ".bin")) and not name.endswith(SAFETENSORS_WEIGHTS_NAME)
           for name in files):
        return ("full_model", f"This folder holds a whole model ({sorted(files)}): the base model's own "
                              "`save_pretrained` writes every weight. Save through the PeftModel, which writes "
                              "adapters only.")
    if f"spanish/{SAFETENSORS_WEIGHTS_NAME}" in files:
        return ("both", "It ran, but the folder holds both adapters, english/ and spanish/: PeftModel's "
                        "`save_pretrained` saves every adapter it holds, whichever is active. Pick one with "
                        "`selected_adapters=['english']`.")
    if f"english/{SAFETENSORS_WEIGHTS_NAME}" not in files:
        return "no_english", f"No english/adapter_model.safetensors in the folder (it holds {sorted(files)})."
    if not _same_tensors(Path(folder) / "english" / SAFETENSORS_WEIGHTS_NAME, demo_adapters()["english"]):
        return "weights", "english/ holds weights other than the English adapter's."
    return None


q5 = TaskQuestion(
    id="03.save_one",
    prompt="`pair` holds two adapters, 'english' and 'spanish'. Save the English one only into a new folder, "
           "and put that folder in `my_folder`.",
    diagnose=diagnose_save_one,
    success="english/adapter_config.json and english/adapter_model.safetensors (plus PEFT's README.md): one "
            "adapter, in a subfolder named after it because its name is not 'default'.",
    hints=["Does PeftModel's `save_pretrained` save the active adapter, or all of them?",
           "`save_pretrained` has an argument that picks adapters by name."],
    solution_text="PeftModel.save_pretrained writes every adapter unless selected_adapters names some.",
    solution_code='my_folder = work / "english-only"\npair.save_pretrained(my_folder, selected_adapters=["english"])',
    slips=[
        Slip('my_folder = work / "slip-active"\npair.set_adapter("english")\npair.save_pretrained(my_folder)', "both"),
        Slip('my_folder = work / "slip-base"\npair.get_base_model().save_pretrained(my_folder)', "full_model"),
    ],
)


def diagnose_shareable(folder: Any) -> tuple[str, str] | None:
    """q6: an adapter folder with safetensors weights and base_model_name_or_path 'gpt2-mini'."""
    problem = _folder_problem(folder)
    if problem:
        return problem
    files = set(file_sizes(folder))
    if WEIGHTS_NAME in files:
        return ("legacy", "The weights are `adapter_model.bin`, a pickle: whoever loads it from you must trust "
                          "it (section 4). Leave `safe_serialization` at its default.")
    if not is_complete_adapter(folder):
        return "files", f"Expected adapter_config.json and adapter_model.safetensors at the top, found {sorted(files)}."
    base = read_adapter_config(folder)["base_model_name_or_path"]
    if base != "gpt2-mini":
        shown = "an absolute path on this machine" if base and Path(base).is_absolute() else repr(base)
        return ("absolute_path", f"It saved, but `base_model_name_or_path` is {shown}: on a colleague's machine "
                                 "it points nowhere (section 2). Set the adapter's config "
                                 "(`peft_config['default'].base_model_name_or_path`) before you save.")
    if not _same_tensors(Path(folder) / SAFETENSORS_WEIGHTS_NAME, demo_adapters()["spanish"]):
        return "weights", "The weights are not the Spanish adapter's."
    return None


_PORTABLE = 'portable = PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["spanish"])\n'

q6 = TaskQuestion(
    id="03.shareable",
    prompt="Save `portable`'s adapter into `my_share`, a folder to send to a colleague: safetensors weights, and "
           "a config that names its base 'gpt2-mini' instead of this machine's path.",
    diagnose=diagnose_shareable,
    success="adapter_model.safetensors and an adapter_config.json whose base_model_name_or_path is 'gpt2-mini': "
            "nothing in the folder points at this machine.",
    hints=["Section 2: where does `base_model_name_or_path` come from when the base was loaded from a folder?",
           "PEFT fills it in at save time only when the adapter's config has none."],
    solution_text="Set peft_config['default'].base_model_name_or_path before save_pretrained; PEFT keeps it.",
    solution_code=_PORTABLE + 'portable.peft_config["default"].base_model_name_or_path = "gpt2-mini"\n'
                              'my_share = work / "share"\nportable.save_pretrained(my_share)',
    slips=[
        Slip(_PORTABLE + 'my_share = work / "slip-share"\nportable.save_pretrained(my_share)', "absolute_path"),
        Slip(_PORTABLE + 'portable.peft_config["default"].base_model_name_or_path = "gpt2-mini"\n'
                         'my_share = work / "slip-legacy"\n'
                         "portable.save_pretrained(my_share, safe_serialization=False)",
             "legacy"),
    ],
)
