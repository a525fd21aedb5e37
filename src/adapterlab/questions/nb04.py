"""Check your understanding: notebook 04 (reloading adapters)."""

from functools import cache
from typing import Any

import torch
from peft import PeftConfig, PeftModel

from adapterlab import judging
from adapterlab.adapters import demo_adapters
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.merging import logits
from adapterlab.models import load_model
from adapterlab.workspace import lesson_adapter

q1 = ValueQuestion(
    id="04.trainable_after_load",
    prompt="You reload GPT-2 small's r=8 `c_attn` adapter with `PeftModel.from_pretrained(base, path)` and no "
           "other argument. How many parameters are trainable?",
    answer=0,
    wrong={
        12 * 8 * (768 + 2304): "That is the count with is_trainable=True; by default the adapter loads frozen.",
        124_439_808: "The base model is frozen too; nothing is trainable by default.",
        9216: "9,216 is a widely copied tutorial's number, and wrong for any of these questions.",
    },
    hints=["Look at `is_trainable`, an argument of `from_pretrained`, and its default.",
           "`get_nb_trainable_parameters()` on a default reload."],
    solution_text="0: from_pretrained loads the adapter frozen unless you pass is_trainable=True (whatever "
                  "inference_mode says in adapter_config.json: it is overwritten with not is_trainable).",
    alternatives=["0", 0.0, " 0 "],
    other_wrong=[4 * 8 * (128 + 384), 12 * 8 * 768, 1, "none"],
)


def _lora_shapes(d_in: int, d_out: int, r: int) -> tuple[tuple[int, int], tuple[int, int]]:
    return (r, d_in), (d_out, r)


q2 = CodeQuestion(
    id="04.lora_shapes",
    prompt="Write `lora_shapes(d_in, d_out, r)` returning the shapes (lora_A, lora_B) as saved in the "
           "safetensors file for a layer mapping d_in -> d_out, as tuples.",
    cases=[((768, 2304, 8), ((8, 768), (2304, 8))), ((128, 384, 4), ((4, 128), (384, 4))),
           ((64, 64, 2), ((2, 64), (64, 2)))],
    reference_function=_lora_shapes,
    wrong_functions=[
        lambda d_in, d_out, r: ((d_in, r), (r, d_out)),
        lambda d_in, d_out, r: ((r, d_out), (d_in, r)),
        lambda d_in, d_out, r: [[r, d_in], [d_out, r]],
    ],
    hints=["lora_A reads the input: it has d_in columns; lora_B writes the output: it has d_out rows.",
           "They are stored like nn.Linear weights, (out, in), also for GPT-2's Conv1D."],
    solution_text="def lora_shapes(d_in, d_out, r):\n    return (r, d_in), (d_out, r)",
    alternatives=["def lora_shapes(d_in, d_out, r):\n    a = (r, d_in)  # reads the input\n    b = (d_out, r)\n"
                  "    return a, b",
                  "import torch\n\ndef lora_shapes(d_in, d_out, r):\n"
                  "    a = torch.nn.Linear(d_in, r, bias=False, device='meta')  # stored (out, in)\n"
                  "    b = torch.nn.Linear(r, d_out, bias=False, device='meta')\n"
                  "    return tuple(a.weight.shape), tuple(b.weight.shape)"],
    other_wrong=["def lora_shapes(d_in, d_out, r):\n    return (r, d_out), (d_in, r)",
                 "def lora_shapes(d_in, d_out, r):\n    return (d_in, r), (d_out, r)",
                 "def lora_shapes(d_in, d_out, r):\n    return (r, d_in), (r, d_out)"],
)

q3 = ChoiceQuestion(
    id="04.load_activates",
    prompt="`model` is a PeftModel with adapter 'default'. After `model.load_adapter(path, adapter_name='fr')`, "
           "which adapter computes the outputs?",
    choices={
        "a": ("Still 'default'.", "Right: PEFT's load_adapter loads without activating; call model.set_adapter('fr')."),
        "b": ("'fr', the one just loaded.", "No: that is what transformers' own load_adapter does on a plain model, "
              "not PEFT's."),
        "c": ("Both, added together.", "No: one adapter is active unless you combine them explicitly."),
    },
    answer="a",
    hints=["Compare model.active_adapter before and after the call."],
    solution_text="(a). Check with model.active_adapter; switch with model.set_adapter('fr').",
    alternatives=["A", " a "],
)

q4 = ChoiceQuestion(
    id="04.silent_mismatch",
    prompt="Which mismatch does `PeftModel.from_pretrained` let through without an error?",
    choices={
        "a": ("An adapter trained on a 4-block model, loaded onto a 2-block one.",
              "Right: the weights of blocks 2 and 3 have no layer to go to and are dropped without a word."),
        "b": ("An adapter trained on a 128-wide model, loaded onto a 768-wide one.",
              "No: copying an 8 x 128 lora_A into an 8 x 768 slot raises a size-mismatch RuntimeError."),
        "c": ("An adapter whose config says r=4 while its tensors have r=8.",
              "No: PEFT builds r=4 layers and the copy raises a size mismatch."),
    },
    answer="a",
    hints=["Which mismatch changes the number of layers rather than their shapes?"],
    solution_text="(a). Depth changes which layers exist, not any shape; adapterlab.loading.check_adapter_fits "
                  "catches it.",
    alternatives=["A", " a "],
)


# Hands-on: the checks compare the learner's live model (a PeftModel, or a model given adapters by transformers'
# own `load_adapter`) with the adapters' files, and read its state: which adapter runs, what trains, what mode.
def _host_problem(model: Any) -> tuple[str, str] | None:
    if judging.adapter_host(model):
        return None
    if isinstance(model, torch.nn.Module):
        return ("not_peft", f"This {type(model).__name__} holds no adapter (`merge_and_unload()` and `unload()` "
                            "return the base model alone): keep the model `PeftModel.from_pretrained` returns.")
    return ("not_peft", f"Expected the PeftModel that `PeftModel.from_pretrained` returns, not {type(model).__name__}"
                        ". (`load_adapter` returns the keys it could not place, not a model.)")


def _whose(model: torch.nn.Module, name: str) -> str:
    """What adapter `name` of `model` holds, said plainly: a demo adapter, a fresh one, or other weights."""
    held = judging.adapter_tensors(model, name)
    for demo, folder in demo_adapters().items():
        if judging.same_tensors(held, judging.saved_tensors(folder)):
            return f"the {demo.capitalize()} demo adapter"
    if all(not value.any() for key, value in held.items() if "lora_B" in key):
        return "a new adapter (every lora_B is still zero)"
    return "weights saved in no folder this task names"


def _state_problem(model: torch.nn.Module) -> tuple[str, str] | None:
    """Adapters switched off or merged into the base: the layers no longer compute what they hold."""
    if judging.adapters_disabled(model):
        return ("disabled", "The adapter layers are switched off (`disable_adapter_layers()`, or a "
                            "`disable_adapter()` block left open): the model computes the base alone. "
                            "`enable_adapter_layers()` switches them on.")
    merged = judging.merged_adapters(model)
    if merged:
        return ("merged", f"{', '.join(sorted(merged))} is merged into the base weights: the layers keep it "
                          "even when you switch. `unmerge_adapter()` undoes it.")
    return None


def diagnose_resumed(model: Any) -> tuple[str, str] | None:
    """q5: the learner's adapter (`lesson_adapter()`) reloaded onto gpt2-mini, running, its LoRA tensors trainable,
    the base frozen."""
    folder, _ = lesson_adapter()
    problem = _host_problem(model)
    if problem:
        return problem
    active = sorted(judging.active_adapters(model))
    holding = judging.adapters_holding(model, folder)
    if not holding:
        what = _whose(model, active[0]) if active else "no adapter"
        return ("not_loaded" if what.startswith("a new") else "other_adapter",
                f"The adapter that runs holds {what}, not the weights saved in your adapter's folder (`mine`). "
                "Reload the saved one with `PeftModel.from_pretrained(base, mine, ...)`.")
    name = holding[0]
    if active != [name]:
        return ("not_active", f"Your adapter is loaded, as {name!r}, but the layers run {active}: "
                              f"`set_adapter({name!r})`.")
    problem = _state_problem(model)
    if problem:
        return problem
    trainable = [key for key, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        return ("frozen", "It loaded without a word, but nothing in it is trainable, so an optimizer would have "
                          "nothing to update: a reload is frozen unless you ask with `is_trainable=True` (an argument "
                          "of `PeftModel.from_pretrained` and of transformers' `load_adapter` alike).")
    base = [key for key in trainable if "lora_" not in key]
    if base:
        return ("base_unfrozen", f"{len(base)} of GPT-2's own tensors train too (e.g. {base[0]}): that is full "
                                 "fine-tuning with an adapter on top. Let `is_trainable=True` choose: it unfreezes "
                                 "the LoRA tensors only.")
    lora = [key for key, p in model.named_parameters() if f".{name}." in key and "lora_" in key and not p.requires_grad]
    if lora:
        return "partly_frozen", f"{len(lora)} of your adapter's LoRA tensors are still frozen (e.g. {lora[0]})."
    return None


_RESUME = 'my_resumed = PeftModel.from_pretrained(load_model("gpt2-mini"), mine'

q5 = TaskQuestion(
    id="04.resume_trainable",
    prompt="Reload your adapter from notebook 02 (`mine`, section 6) onto a fresh gpt2-mini so that its training "
           "can go on, and keep the model in `my_resumed`.",
    diagnose=diagnose_resumed,
    success="The saved adapter, its LoRA tensors trainable and every GPT-2 weight frozen. (Reloaded with "
            "`is_trainable=True` it comes back in train mode, section 2: right for training, `eval()` before you "
            "compare outputs.)",
    hints=["Section 2: which argument of `PeftModel.from_pretrained` decides whether the reload is frozen?"],
    solution_text="from_pretrained freezes unless is_trainable=True; that unfreezes the LoRA tensors only.",
    solution_code=f"{_RESUME}, is_trainable=True)",
    alternatives=[
        'my_resumed = load_model("gpt2-mini")  # transformers\' own adapter API\n'
        "my_resumed.load_adapter(str(mine), is_trainable=True)",
        f"{_RESUME})\nmy_resumed.set_adapter(\"default\")  # set_adapter makes the adapter it activates trainable",
        f"{_RESUME})\nfor name, p in my_resumed.named_parameters():\n    if \"lora_\" in name:\n"
        "        p.requires_grad_(True)",
    ],
    slips=[
        Slip(f"{_RESUME})", "frozen"),
        Slip(f"{_RESUME})\nfor p in my_resumed.parameters():\n    p.requires_grad = True", "base_unfrozen"),
        Slip('my_resumed = get_peft_model(load_model("gpt2-mini"), LoraConfig.from_pretrained(mine))', "not_loaded"),
        Slip('my_resumed = PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["spanish"], '
             "is_trainable=True)", "other_adapter"),
        Slip(f"{_RESUME}, is_trainable=True).merge_and_unload()", "not_peft"),
        Slip('my_resumed = load_model("gpt2-mini")\nmy_resumed.load_adapter(str(mine))', "frozen"),
        Slip(f"{_RESUME}, is_trainable=True)\nmy_resumed.base_model.disable_adapter_layers()", "disabled"),
        Slip(f'{_RESUME}, is_trainable=True, adapter_name="mine")\n'
             'my_resumed.add_adapter("fresh", LoraConfig.from_pretrained(mine))\n'
             'my_resumed.set_adapter("fresh")', "not_active"),
    ],
)


@cache
def _english_logits() -> torch.Tensor:
    """What the English demo adapter computes on gpt2-mini, reloaded alone the recommended way."""
    model = PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["english"])
    return logits(model, torch.arange(1, 17).reshape(2, 8))  # (2, 8): any ids the vocabulary has


def diagnose_english_beside_mine(model: Any) -> tuple[str, str] | None:
    """q6: one frozen model in eval mode holding the learner's adapter (`lesson_adapter()`) and the English demo
    adapter, English running and computing exactly what it computes alone."""
    english, (mine, _) = demo_adapters()["english"], lesson_adapter()
    problem = _host_problem(model)
    if problem:
        return problem
    names = list(model.peft_config)
    holding = judging.adapters_holding(model, english)
    if not holding:
        return "no_english", f"None of this model's adapters ({', '.join(map(repr, names))}) holds the English " \
                             "folder's weights."
    name = holding[0]
    if not judging.adapters_holding(model, mine):
        return ("no_mine", f"The English adapter is there, as {name!r}, but not yours (`mine`, section 6): the task "
                           "is one model holding both. `load_adapter(mine, adapter_name=...)` adds it.")
    active = sorted(judging.active_adapters(model))
    if active != [name]:
        return ("not_active", f"The English adapter is loaded, as {name!r}, but the layers run {active}: "
                              "PeftModel's `load_adapter` loads without activating. "
                              f"`set_adapter({name!r}, inference_mode=True)`.")
    problem = _state_problem(model)
    if problem:
        return problem
    saved = PeftConfig.from_pretrained(english)
    settings = judging.layer_settings(model, name)
    if settings != {(saved.r, saved.lora_alpha)}:
        (r, alpha), *_ = sorted(settings)
        return ("kept_alpha", f"The weights are the English ones, but adapter {name!r} keeps r={r}, lora_alpha="
                              f"{alpha:g} from the config you typed; the file says r={saved.r}, lora_alpha="
                              f"{saved.lora_alpha}. `load_adapter` into an existing name overwrites the weights and "
                              "keeps the old config (section 4): the outputs are scaled wrong. Load under a new "
                              "name, so the config comes from the file.")
    trainable = [key for key, p in model.named_parameters() if p.requires_grad]
    if trainable:
        return ("trainable", f"The right adapter runs, but {len(trainable)} tensors require grad (e.g. "
                             f"{trainable[0]}): a model for inference should be frozen. (If you switched with "
                             "`set_adapter`: it makes the adapter it activates trainable unless you pass "
                             "`inference_mode=True`, section 3.)")
    if any(module.training for module in model.modules()):
        return ("train_mode", "The model is in train mode, so the English adapter's dropout (0.1) draws a new mask "
                              "at every call: `eval()` before you serve it.")
    if not torch.allclose(logits(model, torch.arange(1, 17).reshape(2, 8)), _english_logits(), atol=1e-5):
        return "outputs", "Adapters, config and mode look right, but the outputs differ from the English adapter's."
    return None


_ENGLISH = 'demo_adapters()["english"]'
_MINE_FIRST = ('my_english = PeftModel.from_pretrained(load_model("gpt2-mini"), mine, adapter_name="mine")\n'
               f'my_english.load_adapter({_ENGLISH}, adapter_name="english")\n')
_ENGLISH_FIRST = (f'my_english = PeftModel.from_pretrained(load_model("gpt2-mini"), {_ENGLISH}, adapter_name="english")'
                  '\nmy_english.load_adapter(mine, adapter_name="mine")\n')

q6 = TaskQuestion(
    id="04.reload_english",
    prompt="Build one model for inference that holds two adapters on a fresh gpt2-mini: yours from section 6 "
           "(`mine`) and the English demo adapter (`demo_adapters()['english']`), with English computing the "
           "outputs: frozen, in eval mode, exactly what the English adapter computes alone. Keep it in `my_english`.",
    diagnose=diagnose_english_beside_mine,
    success="Both adapters in one model, the English one running with the config read from its own file, "
            "frozen, in eval mode: the outputs it was saved with. Switching to yours is one `set_adapter` away "
            "(notebook 05).",
    hints=["Sections 1 and 3: `PeftModel.from_pretrained` loads the first adapter; `load_adapter` adds another "
           "under a name of its own.",
           "Does the adapter you load second run? And what does `set_adapter` do to `requires_grad` (section 3)?"],
    solution_text="from_pretrained + load_adapter under new names read each config from its file and load "
                  "frozen; set_adapter(..., inference_mode=True) switches without unfreezing.",
    solution_code=_MINE_FIRST + 'my_english.set_adapter("english", inference_mode=True)',
    alternatives=[
        _ENGLISH_FIRST.rstrip("\n") + "  # loaded, not activated: English still runs",
        'my_english = load_model("gpt2-mini")  # transformers\' own load_adapter activates what it loads\n'
        'my_english.load_adapter(str(mine), adapter_name="mine")\n'
        f'my_english.load_adapter(str({_ENGLISH}), adapter_name="english")',
        _MINE_FIRST + 'my_english.set_adapter("english")\nmy_english.requires_grad_(False)',
    ],
    slips=[
        Slip(_MINE_FIRST.rstrip("\n"), "not_active"),
        Slip(_MINE_FIRST + 'my_english.set_adapter("english")', "trainable"),
        Slip(f'my_english = PeftModel.from_pretrained(load_model("gpt2-mini"), {_ENGLISH})', "no_mine"),
        Slip('my_english = PeftModel.from_pretrained(load_model("gpt2-mini"), mine, adapter_name="mine")\n'
             'my_english.add_adapter("english", LoraConfig(r=8, lora_alpha=32, target_modules=["c_attn", "c_proj", '
             '"c_fc"], fan_in_fan_out=True))\n'
             f'my_english.load_adapter({_ENGLISH}, adapter_name="english")\n'
             'my_english.set_adapter("english", inference_mode=True)', "kept_alpha"),
        Slip(_ENGLISH_FIRST + "my_english.base_model.disable_adapter_layers()", "disabled"),
        Slip(_ENGLISH_FIRST + "my_english.train()", "train_mode"),
        Slip('my_english = PeftModel.from_pretrained(load_model("gpt2-mini"), mine, adapter_name="mine")\n'
             'my_english.load_adapter(demo_adapters()["spanish"], adapter_name="spanish")\n'
             'my_english.set_adapter("spanish", inference_mode=True)', "no_english"),
        Slip(_ENGLISH_FIRST + "my_english.merge_adapter()", "merged"),
    ],
)
