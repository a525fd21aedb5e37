"""Check your understanding: notebook 04 (reloading adapters)."""

from functools import cache
from pathlib import Path
from typing import Any

import torch
from peft import PeftConfig, PeftModel
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file

from adapterlab.adapter_files import SAFETENSORS_WEIGHTS_NAME
from adapterlab.adapters import demo_adapters
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.merging import logits
from adapterlab.models import load_model

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
)


# Hands-on: the checks compare the learner's live PeftModel with the demo adapters' files.
def holds_folder(model: PeftModel, name: str, folder: Path) -> bool:
    """True if adapter `name` of `model` holds exactly the tensors saved in `folder`."""
    held = get_peft_model_state_dict(model, adapter_name=name)
    saved = load_file(Path(folder) / SAFETENSORS_WEIGHTS_NAME)
    return held.keys() == saved.keys() and all(torch.equal(held[k], saved[k]) for k in saved)


def _not_peft(model: Any) -> tuple[str, str] | None:
    if isinstance(model, PeftModel):
        return None
    return ("not_peft", f"Expected the PeftModel that `PeftModel.from_pretrained` returns, not {type(model).__name__}"
                        ". (`load_adapter` returns the keys it could not place, not a model.)")


def diagnose_resumed(model: Any) -> tuple[str, str] | None:
    """q5: the Spanish demo adapter reloaded onto gpt2-mini, its LoRA tensors trainable and the base frozen."""
    folder = demo_adapters()["spanish"]
    problem = _not_peft(model)
    if problem:
        return problem
    if not holds_folder(model, model.active_adapter, folder):
        return ("not_loaded", "This adapter's weights are not the ones saved in the Spanish folder: a new adapter "
                              "starts from random A and zero B. Reload the saved one with `PeftModel.from_pretrained`.")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        return ("frozen", "It loaded without a word, but nothing in it is trainable: `from_pretrained` freezes the "
                          "adapter unless you pass `is_trainable=True`, so an optimizer would have nothing to update.")
    base = [name for name in trainable if "lora_" not in name]
    if base:
        return ("base_unfrozen", f"{len(base)} of GPT-2's own tensors train too (e.g. {base[0]}): that is full "
                                 "fine-tuning with an adapter on top. Let `is_trainable=True` choose: it unfreezes "
                                 "the LoRA tensors only.")
    lora = [name for name, p in model.named_parameters() if "lora_" in name and not p.requires_grad]
    if lora:
        return "partly_frozen", f"{len(lora)} LoRA tensors are still frozen (e.g. {lora[0]})."
    return None


_SPANISH = 'demo_adapters()["spanish"]'

q5 = TaskQuestion(
    id="04.resume_trainable",
    prompt="Reload the Spanish demo adapter (`demo_adapters()['spanish']`) onto a fresh gpt2-mini so that its "
           "training can go on, and keep the model in `my_resumed`.",
    diagnose=diagnose_resumed,
    success="The saved adapter, its 32 LoRA tensors trainable and every GPT-2 weight frozen. (It came back in "
            "train mode, section 2: right for training, `eval()` before you compare outputs.)",
    hints=["Section 2: which argument of `PeftModel.from_pretrained` decides whether the reload is frozen?"],
    solution_text="from_pretrained freezes unless is_trainable=True; that unfreezes the LoRA tensors only.",
    solution_code=f'my_resumed = PeftModel.from_pretrained(load_model("gpt2-mini"), {_SPANISH}, is_trainable=True)',
    slips=[
        Slip(f'my_resumed = PeftModel.from_pretrained(load_model("gpt2-mini"), {_SPANISH})', "frozen"),
        Slip(f'my_resumed = PeftModel.from_pretrained(load_model("gpt2-mini"), {_SPANISH})\n'
             "for p in my_resumed.parameters():\n    p.requires_grad = True", "base_unfrozen"),
        Slip(f'my_resumed = get_peft_model(load_model("gpt2-mini"), LoraConfig.from_pretrained({_SPANISH}))',
             "not_loaded"),
    ],
)


@cache
def _english_logits() -> torch.Tensor:
    """What the English demo adapter computes on gpt2-mini, reloaded the recommended way."""
    model = PeftModel.from_pretrained(load_model("gpt2-mini"), demo_adapters()["english"])
    return logits(model, torch.arange(1, 17).reshape(2, 8))  # (2, 8): any ids the vocabulary has


def diagnose_english_reload(model: Any) -> tuple[str, str] | None:
    """q6: the English demo adapter active in a frozen PeftModel that computes exactly what it computes."""
    folder = demo_adapters()["english"]
    problem = _not_peft(model)
    if problem:
        return problem
    active = model.active_adapter
    if not holds_folder(model, active, folder):
        others = [name for name in model.peft_config if name != active and holds_folder(model, name, folder)]
        if others:
            return ("not_active", f"The English adapter is loaded, as {others[0]!r}, but the active one is "
                                  f"{active!r}: PeftModel's `load_adapter` loads without activating. "
                                  f"`set_adapter({others[0]!r})`, or load English on its own.")
        return "not_loaded", f"The active adapter {active!r} does not hold the English folder's weights."
    saved = PeftConfig.from_pretrained(folder)
    config = model.peft_config[active]
    if (config.r, config.lora_alpha) != (saved.r, saved.lora_alpha):
        return ("kept_alpha", f"It ran, and the weights are the English ones, but the adapter keeps r={config.r}, "
                              f"lora_alpha={config.lora_alpha} from the model you loaded into; the file says "
                              f"r={saved.r}, lora_alpha={saved.lora_alpha}. `load_adapter` into an existing name "
                              "overwrites the weights and keeps the old config (section 4): the outputs are "
                              "scaled wrong. Let `PeftModel.from_pretrained` read the config from the file.")
    if any(p.requires_grad for p in model.parameters()):
        return ("trainable", "The outputs are right, but the model is trainable: a reload for inference should "
                             "be frozen. `PeftModel.from_pretrained(base, path)` loads frozen.")
    model_logits = logits(model, torch.arange(1, 17).reshape(2, 8))
    if not torch.allclose(model_logits, _english_logits(), atol=1e-5):
        return ("outputs", "The weights and config are right, but the outputs differ from the English adapter's: "
                           "is the model in train mode (dropout on), or its adapter disabled or merged?")
    return None


_ENGLISH = 'demo_adapters()["english"]'
_RECIPE = 'get_peft_model(load_model("gpt2-mini"), LoraConfig(r=8, lora_alpha={alpha}, target_modules=["c_attn", ' \
          '"c_proj", "c_fc"], fan_in_fan_out=True))'

q6 = TaskQuestion(
    id="04.reload_english",
    prompt="Load the English demo adapter (`demo_adapters()['english']`) onto a fresh gpt2-mini, ready for "
           "inference: frozen, computing exactly what the saved adapter computes. Keep the model in `my_english`.",
    diagnose=diagnose_english_reload,
    success="The English adapter, with the config read from its own file, frozen, in eval mode: the outputs "
            "it was saved with.",
    hints=["Section 4 lists the traps of the get_peft_model + load_adapter recipe.",
           "The recommended recipe is one line (section 4's end)."],
    solution_text="PeftModel.from_pretrained reads the config from the file and loads frozen, in eval mode.",
    solution_code=f'my_english = PeftModel.from_pretrained(load_model("gpt2-mini"), {_ENGLISH})',
    slips=[
        Slip(f"my_english = {_RECIPE.format(alpha=32)}\n"
             f'my_english.load_adapter({_ENGLISH}, adapter_name="default")', "kept_alpha"),
        Slip(f"my_english = {_RECIPE.format(alpha=16)}\n"
             f'my_english.load_adapter({_ENGLISH}, adapter_name="default")', "trainable"),
        Slip(f'my_english = PeftModel.from_pretrained(load_model("gpt2-mini"), {_SPANISH})\n'
             f'my_english.load_adapter({_ENGLISH}, adapter_name="english")', "not_active"),
    ],
)
