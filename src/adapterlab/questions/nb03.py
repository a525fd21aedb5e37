"""Check your understanding: notebook 03 (saving adapters)."""

from pathlib import Path
from typing import Any

from adapterlab import judging
from adapterlab.adapter_files import CONFIG_NAME, WEIGHTS_NAME, read_adapter_config
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
    alternatives=["1,179,648", 1.179648e6, "1_179_648"],
    other_wrong=[12 * 8 * 2304 * 4, 12 * 8 * (768 + 768) * 4, 12 * 16 * (768 + 2304) * 4, "1.18 MB"],
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
    alternatives=["A", " a "],
)


# Hands-on: the checks read the folder the learner saved, file by file, wherever in it the adapter sits.
def _folder_problem(folder: Any) -> tuple[str, str] | None:
    if folder is None or not isinstance(folder, (str, Path)):
        return ("not_folder", f"Pass the folder you saved into (a Path), not {type(folder).__name__}: "
                              "`save_pretrained` returns None.")
    if not Path(folder).is_dir():
        return "missing", "There is no folder at that path: save into it first."
    return None


def _full_model(folder: Path) -> tuple[str, str] | None:
    files = sorted(file_sizes(folder))
    if any(Path(name).name in ("model.safetensors", "pytorch_model.bin") for name in files):
        return ("full_model", f"This folder holds a whole model ({files}): the base model's own `save_pretrained` "
                              "writes every weight. Save through the PeftModel, which writes adapters only.")
    return None


def _which(adapter: Path) -> str:
    """'english', 'spanish' or 'other': whose tensors the adapter saved in `adapter` holds."""
    tensors = judging.saved_tensors(adapter)
    for name, shipped in demo_adapters().items():
        if judging.same_tensors(tensors, judging.saved_tensors(shipped)):
            return name
    return "other"


def _where(adapter: Path, folder: Path) -> str:
    inside = adapter.relative_to(folder).as_posix()
    return "the folder" if inside == "." else f"{inside}/"


def diagnose_save_one(folder: Any) -> tuple[str | None, str] | None:
    """q5: a folder holding the 'english' adapter of `pair` and no other, at its top or one level deeper."""
    problem = _folder_problem(folder)
    if problem:
        return problem
    folder = Path(folder)
    problem = _full_model(folder)
    if problem:
        return problem
    found = judging.find_adapters(folder)
    if not found:
        return "no_adapter", judging.missing_files(folder)
    whose = {adapter: _which(adapter) for adapter in found}
    if len(found) > 1:
        listed = ", ".join(f"{_where(a, folder)} ({name})" for a, name in whose.items())
        if "spanish" in whose.values():
            return ("both", f"It ran, but the folder holds {len(found)} adapters: {listed}. PeftModel's "
                            "`save_pretrained` saves every adapter it holds, whichever is active. Pick one with "
                            "`selected_adapters=['english']`.")
        return "several", f"The folder holds {len(found)} adapters: {listed}; the task asks for the English one only."
    (adapter,) = found
    if whose[adapter] == "spanish":
        return "spanish", f"{_where(adapter, folder)} holds the Spanish adapter, not the English one."
    if whose[adapter] != "english":
        return "weights", f"{_where(adapter, folder)} holds weights other than the English adapter's."
    saved, shipped = read_adapter_config(adapter), read_adapter_config(demo_adapters()["english"])
    changed = [key for key in ("r", "lora_alpha", "target_modules")
               if not judging.same_setting(saved.get(key), shipped.get(key))]
    if changed:
        return ("config", f"The English weights are there, but {CONFIG_NAME} says {changed[0]}="
                          f"{saved.get(changed[0])!r} where the adapter has {shipped.get(changed[0])!r}.")
    return None, f"(Yours is in {_where(adapter, folder)}: that is the path to load.)"


q5 = TaskQuestion(
    id="03.save_one",
    prompt="`pair` holds two adapters, 'english' and 'spanish'. Save the English one only into a new folder, "
           "and put that folder in `my_folder`.",
    diagnose=diagnose_save_one,
    success="One adapter in the folder, the English one: adapter_config.json and adapter_model.safetensors (plus "
            "PEFT's README.md). PeftModel saves an adapter not named 'default' into a subfolder named after it "
            "(english/ for `pair`'s); a loader wants the folder that holds the two files.",
    hints=["Does PeftModel's `save_pretrained` save the active adapter, or all of them?",
           "`save_pretrained` has an argument that picks adapters by name."],
    solution_text="PeftModel.save_pretrained writes every adapter unless selected_adapters names some.",
    solution_code='my_folder = work / "english-only"\npair.save_pretrained(my_folder, selected_adapters=["english"])',
    alternatives=[
        'alone = PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["english"])\n'
        'my_folder = work / "alt-default"\nalone.save_pretrained(my_folder)  # named default: at the top',
        'other_pair = PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["english"], '
        'adapter_name="english")\nother_pair.load_adapter(demo_adapters()["spanish"], adapter_name="spanish")\n'
        'other_pair.delete_adapter("spanish")\nmy_folder = work / "alt-deleted"\nother_pair.save_pretrained(my_folder)',
        'my_folder = work / "alt-both-then-one"\npair.save_pretrained(my_folder / "tmp")\n'
        'import shutil\nshutil.move(my_folder / "tmp" / "english", my_folder / "english")\n'
        'shutil.rmtree(my_folder / "tmp")',
    ],
    slips=[
        Slip('my_folder = work / "slip-active"\npair.set_adapter("english")\npair.save_pretrained(my_folder)', "both"),
        Slip('my_folder = work / "slip-base"\npair.get_base_model().save_pretrained(my_folder)', "full_model"),
        Slip('my_folder = pair.save_pretrained(work / "slip-none", selected_adapters=["english"])', "not_folder"),
        Slip('my_folder = work / "slip-spanish"\npair.save_pretrained(my_folder, selected_adapters=["spanish"])',
             "spanish"),
        Slip('from peft.utils import get_peft_model_state_dict\nfrom safetensors.torch import save_file\n'
             'my_folder = work / "slip-tensors"\nmy_folder.mkdir()\n'
             'save_file(get_peft_model_state_dict(pair, adapter_name="english"), '
             'my_folder / "adapter_model.safetensors")', "no_adapter"),
    ],
)


def diagnose_shareable(folder: Any) -> tuple[str | None, str] | None:
    """q6: the Spanish adapter in safetensors, base_model_name_or_path 'gpt2-mini', and no text file in the folder
    (the config, PEFT's README.md model card, anything else) naming a path of this machine."""
    problem = _folder_problem(folder)
    if problem:
        return problem
    folder = Path(folder)
    found = judging.find_adapters(folder)
    pickles = [name for name in file_sizes(folder) if Path(name).name == WEIGHTS_NAME]
    if pickles and not found:
        return ("legacy", f"The weights are `{pickles[0]}`, a pickle: whoever loads it from you must trust "
                          "it (deep dive 03a). Leave `safe_serialization` at its default.")
    if len(found) != 1:
        return "files", judging.missing_files(folder) if not found else \
            f"The folder holds {len(found)} adapters ({', '.join(_where(a, folder) for a in found)}); send one."
    (adapter,) = found
    base = read_adapter_config(adapter).get("base_model_name_or_path")
    named = judging.machine_paths(folder)
    if base != "gpt2-mini":
        here = base in named.get((adapter / CONFIG_NAME).relative_to(folder).as_posix(), [])
        return ("absolute_path" if here else "base_name",
                f"It saved, but `base_model_name_or_path` is {'a path of this machine' if here else repr(base)}; "
                "the task asks for 'gpt2-mini', a name a colleague's machine can resolve (section 2). Set the "
                "adapter's config (`peft_config['default'].base_model_name_or_path`) before you save, or edit "
                "adapter_config.json.")
    if named:
        file, paths = next(iter(named.items()))
        card = Path(file).name == "README.md"
        return ("card_path" if card else "machine_path",
                f"adapter_config.json is right, but {file} still names this machine's path ({len(paths)} time"
                f"{'s' if len(paths) > 1 else ''})"
                + (": PEFT's model card takes the base's name from the base model, not from the adapter's config. "
                   "Delete the card, or write your own, before you send the folder." if card else
                   ": remove it, or the path, before you send the folder."))
    if pickles:
        return ("legacy", f"Beside the safetensors weights the folder still holds `{pickles[0]}`, a pickle: "
                          "whoever loads it must trust it. Remove it.")
    whose = _which(adapter)
    if whose != "spanish":
        return "weights", f"The weights are {'the English adapter' if whose == 'english' else 'not the Spanish'}'s."
    if adapter != folder:  # one level deeper is fine: the colleague points the loader at that subfolder
        return None, f"(The adapter is in {_where(adapter, folder)}: tell your colleague to load that subfolder.)"
    return None


_PORTABLE = 'portable = PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["spanish"])\n'
_RENAME = 'portable.peft_config["default"].base_model_name_or_path = "gpt2-mini"\n'

q6 = TaskQuestion(
    id="03.shareable",
    prompt="Save `portable`'s adapter into `my_share`, a folder to send to a colleague: safetensors weights, "
           "a config that names its base 'gpt2-mini', and no file that carries this machine's path of it.",
    diagnose=diagnose_shareable,
    success="adapter_model.safetensors and an adapter_config.json whose base_model_name_or_path is 'gpt2-mini', "
            "and no file that names a path of this machine: nothing in the folder points at your disk.",
    hints=["Sections 1 and 2: which two files name the base model by its folder on this machine?",
           "PEFT fills base_model_name_or_path in at save time only when the adapter's config has none; the "
           "README.md model card it writes is only a card: you may delete it or write your own."],
    solution_text="Set peft_config['default'].base_model_name_or_path before save_pretrained (PEFT keeps it), "
                  "then remove the generated README.md, whose header names the base by its path here.",
    solution_code=_PORTABLE + _RENAME + 'my_share = work / "share"\nportable.save_pretrained(my_share)\n'
                                        '(my_share / "README.md").unlink()',
    alternatives=[
        _PORTABLE + 'my_share = work / "alt-edited"\nportable.save_pretrained(my_share)\n'
        'config = json.loads((my_share / "adapter_config.json").read_text())\n'
        'config["base_model_name_or_path"] = "gpt2-mini"\n'
        '(my_share / "adapter_config.json").write_text(json.dumps(config, indent=2))\n'
        '(my_share / "README.md").write_text("# A Spanish adapter\\nLoRA for gpt2-mini.\\n")',
        _PORTABLE + _RENAME + 'my_share = work / "alt-cleaned-card"\nportable.save_pretrained(my_share)\n'
        'card = (my_share / "README.md").read_text()\n'
        '(my_share / "README.md").write_text(card.replace(str(model_dir("gpt2-mini")), "gpt2-mini"))',
        'import shutil\nmy_share = work / "alt-copied"\nshutil.copytree(demo_adapters()["spanish"], my_share)\n'
        'config = json.loads((my_share / "adapter_config.json").read_text())\n'
        'config["base_model_name_or_path"] = "gpt2-mini"\n'
        '(my_share / "adapter_config.json").write_text(json.dumps(config))',
    ],
    slips=[
        Slip(_PORTABLE + 'my_share = work / "slip-share"\nportable.save_pretrained(my_share)', "absolute_path"),
        Slip(_PORTABLE + _RENAME + 'my_share = work / "slip-card"\nportable.save_pretrained(my_share)', "card_path"),
        Slip(_PORTABLE + _RENAME + 'my_share = work / "slip-legacy"\n'
                                   "portable.save_pretrained(my_share, safe_serialization=False)",
             "legacy"),
        Slip(_PORTABLE + _RENAME + 'my_share = work / "slip-notes"\nportable.save_pretrained(my_share)\n'
             '(my_share / "README.md").unlink()\n'
             '(my_share / "NOTES.txt").write_text(f"trained on {model_dir(\'gpt2-mini\')}\\n")', "machine_path"),
        Slip(_PORTABLE + 'portable.peft_config["default"].base_model_name_or_path = "gpt2"\n'
             'my_share = work / "slip-gpt2"\nportable.save_pretrained(my_share)\n(my_share / "README.md").unlink()',
             "base_name"),
        Slip('english = PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["english"])\n'
             'english.peft_config["default"].base_model_name_or_path = "gpt2-mini"\n'
             'my_share = work / "slip-english"\nenglish.save_pretrained(my_share)\n(my_share / "README.md").unlink()',
             "weights"),
        Slip(_PORTABLE + _RENAME + 'my_share = portable.save_pretrained(work / "slip-none")', "not_folder"),
    ],
)
