"""Check your understanding: notebook 03 (saving adapters)."""

import re
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
from adapterlab.exercises import ChoiceQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.files import file_sizes

q1 = ValueQuestion(
    id="03.tensor_bytes",
    prompt="GPT-2 small, LoRA r=8 on `c_attn`, float32: how many bytes of tensor data (header not counted) "
           "does adapter_model.safetensors hold?",
    answer=12 * 8 * (768 + 2304) * 4,
    wrong={
        12 * 8 * (768 + 2304): "That is the parameter count; each float32 parameter takes 4 bytes.",
        12 * 8 * (768 + 2304) * 2: "That would be float16 (2 bytes); the adapter was saved in float32.",
        1_182_680: "That is the whole file: it includes the 8-byte prefix and the JSON header.",
        9216: "9 kB is the tutorial's claim; compute it from the shapes instead.",
    },
    hints=["Each of the 12 blocks has lora_A (8 x 768) and lora_B (2304 x 8).",
           "Parameters x 4 bytes per float32."],
    solution_text="12 x 8 x (768 + 2304) = 294,912 parameters x 4 bytes = 1,179,648 bytes.",
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


# PEFT's model card names the base in its header: `base_model: <path>` and a `base_model:adapter:<path>` tag.
_CARD_BASE = re.compile(r"base_model(?::adapter)?:\s*(\S+)")


def diagnose_shareable(folder: Any) -> tuple[str, str] | None:
    """q6: an adapter folder with safetensors weights, base_model_name_or_path 'gpt2-mini', and no file (the
    config, PEFT's README.md model card) that names the base by an absolute path of this machine."""
    problem = _folder_problem(folder)
    if problem:
        return problem
    files = set(file_sizes(folder))
    if WEIGHTS_NAME in files:
        return ("legacy", "The weights are `adapter_model.bin`, a pickle: whoever loads it from you must trust "
                          "it (deep dive 03a). Leave `safe_serialization` at its default.")
    if not is_complete_adapter(folder):
        return "files", f"Expected adapter_config.json and adapter_model.safetensors at the top, found {sorted(files)}."
    base = read_adapter_config(folder)["base_model_name_or_path"]
    if base != "gpt2-mini":
        shown = "an absolute path on this machine" if base and Path(base).is_absolute() else repr(base)
        return ("absolute_path", f"It saved, but `base_model_name_or_path` is {shown}: on a colleague's machine "
                                 "it points nowhere (section 2). Set the adapter's config "
                                 "(`peft_config['default'].base_model_name_or_path`) before you save.")
    card = Path(folder) / "README.md"
    named = _CARD_BASE.findall(card.read_text()) if card.is_file() else []
    if any(Path(name).is_absolute() for name in named):
        return ("card_path", "adapter_config.json is right, but PEFT's model card README.md still names the base "
                             "by this machine's path (its `base_model:` line and a tag: PEFT takes them from the "
                             "base model, not from the adapter's config). Delete the card, or write your own, "
                             "before you send the folder.")
    if not _same_tensors(Path(folder) / SAFETENSORS_WEIGHTS_NAME, demo_adapters()["spanish"]):
        return "weights", "The weights are not the Spanish adapter's."
    return None


_PORTABLE = 'portable = PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["spanish"])\n'
_RENAME = 'portable.peft_config["default"].base_model_name_or_path = "gpt2-mini"\n'

q6 = TaskQuestion(
    id="03.shareable",
    prompt="Save `portable`'s adapter into `my_share`, a folder to send to a colleague: safetensors weights, "
           "a config that names its base 'gpt2-mini', and no file that carries this machine's path of it.",
    diagnose=diagnose_shareable,
    success="adapter_model.safetensors and an adapter_config.json whose base_model_name_or_path is 'gpt2-mini', "
            "and no model card naming the base by its path here: nothing in the folder points at this machine.",
    hints=["Sections 1 and 2: which two files name the base model by its folder on this machine?",
           "PEFT fills base_model_name_or_path in at save time only when the adapter's config has none; the "
           "README.md model card it writes is only a card: you may delete it or write your own."],
    solution_text="Set peft_config['default'].base_model_name_or_path before save_pretrained (PEFT keeps it), "
                  "then remove the generated README.md, whose header names the base by its path here.",
    solution_code=_PORTABLE + _RENAME + 'my_share = work / "share"\nportable.save_pretrained(my_share)\n'
                                        '(my_share / "README.md").unlink()',
    slips=[
        Slip(_PORTABLE + 'my_share = work / "slip-share"\nportable.save_pretrained(my_share)', "absolute_path"),
        Slip(_PORTABLE + _RENAME + 'my_share = work / "slip-card"\nportable.save_pretrained(my_share)', "card_path"),
        Slip(_PORTABLE + _RENAME + 'my_share = work / "slip-legacy"\n'
                                   "portable.save_pretrained(my_share, safe_serialization=False)",
             "legacy"),
    ],
)
