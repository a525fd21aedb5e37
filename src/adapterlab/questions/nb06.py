"""Check your understanding: notebook 06, merging an adapter and its pitfalls."""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
from peft import PeftModel
from torch import nn

from adapterlab.adapter_state import held_adapters, served_logits
from adapterlab.adapters import demo_adapters
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.judging import active_adapters, adapters_disabled, lora_layers, merged_adapters
from adapterlab.models import load_model, load_tokenizer

q1 = ValueQuestion(
    id="06.merged_entry",
    prompt=("A LoRA layer has r=8 and lora_alpha=32. One entry of the base weight W is 0.5 and the same "
            "entry of B·A is 0.003. What is that entry after merge_and_unload()?"),
    answer=0.512,
    rel_tol=1e-6,
    wrong={
        0.503: "That adds B·A unscaled. The merge adds (lora_alpha / r) · B·A, and 32 / 8 = 4.",
        0.596: "That scales by lora_alpha alone. The factor is lora_alpha / r = 32 / 8.",
        0.50075: "That scales by r / lora_alpha. The factor is lora_alpha / r, here 4.",
        0.003: "That is the adapter's part alone; merging adds it to W, it does not replace W.",
    },
    hints=["W' = W + (lora_alpha / r) · B·A, entry by entry.", "lora_alpha / r = 32 / 8 = 4."],
    solution_text="0.5 + (32 / 8) · 0.003 = 0.5 + 0.012 = 0.512",
    explanation="Right: 0.5 + (32 / 8) · 0.003 = 0.512.",
    alternatives=["0.512", " 0.512 ", 0.51200000001],
    other_wrong=[0.012, 0.5, 0.524],  # the update alone, W unchanged, the factor 8
)

q2 = ChoiceQuestion(
    id="06.merge_identity",
    prompt=("base = load_model('gpt2-mini'); model = PeftModel.from_pretrained(base, folder); "
            "merged = model.merge_and_unload(). Which is true?"),
    choices={
        "a": ("merged is a new copy; base still holds the original weights",
              "No: `merged is base` is True. The merge writes W + ΔW into the weights of the model you passed in."),
        "b": ("merged is base: the same GPT2LMHeadModel, its weights now W + ΔW, with no LoRA modules left",
              "Yes. The wrapper `model` is left behind as an empty shell, which is why you use the return value."),
        "c": ("merged is still a PeftModel, so merged.unmerge_adapter() undoes the merge",
              "No: merged is a plain GPT2LMHeadModel; it has no unmerge_adapter (AttributeError)."),
        "d": ("the adapter file in folder now holds the merged weights",
              "No: merging never writes to disk. The adapter file's bytes are unchanged (same SHA-256)."),
    },
    answer="b",
    hints=["Compare the objects with `is`, and look at type(merged)."],
    solution_text="(b): merge_and_unload returns the base model object itself, changed in place, without LoRA modules.",
    alternatives=["B", " b "],
)


def _storage_bytes(n_tasks: int, base_bytes: int, adapter_bytes: int, merge: bool) -> int:
    return n_tasks * base_bytes if merge else base_bytes + n_tasks * adapter_bytes


def _adapters_only(n_tasks: int, base_bytes: int, adapter_bytes: int, merge: bool) -> int:
    return n_tasks * base_bytes if merge else n_tasks * adapter_bytes


def _merged_plus_base(n_tasks: int, base_bytes: int, adapter_bytes: int, merge: bool) -> int:
    return base_bytes + n_tasks * base_bytes if merge else base_bytes + n_tasks * adapter_bytes


def _merged_is_base_plus_adapter(n_tasks: int, base_bytes: int, adapter_bytes: int, merge: bool) -> int:
    return n_tasks * (base_bytes + adapter_bytes) if merge else base_bytes + n_tasks * adapter_bytes


q3 = CodeQuestion(
    id="06.storage_bytes",
    prompt=("Write storage_bytes(n_tasks, base_bytes, adapter_bytes, merge) -> int: the bytes on disk to "
            "serve n_tasks tasks from one base, either as merged checkpoints (merge=True) or as one base "
            "checkpoint plus one adapter per task (merge=False)."),
    cases=[
        ((1, 500, 5, True), 500),
        ((1, 500, 5, False), 505),
        ((10, 500, 5, True), 5000),
        ((10, 500, 5, False), 550),
        ((3, 3_650_000, 266_088, False), 4_448_264),
    ],
    reference_function=_storage_bytes,
    wrong_functions=[_adapters_only, _merged_plus_base, _merged_is_base_plus_adapter],
    hints=["A merged checkpoint is a full model: it is as big as the base, however small the adapter was.",
           "Unmerged, the base is stored once and each task adds only its adapter file."],
    solution_text=("def storage_bytes(n_tasks, base_bytes, adapter_bytes, merge):\n"
                   "    return n_tasks * base_bytes if merge else base_bytes + n_tasks * adapter_bytes"),
    alternatives=["def storage_bytes(n_tasks, base_bytes, adapter_bytes, merge):\n    if merge:\n"
                  "        return n_tasks * base_bytes\n    return base_bytes + n_tasks * adapter_bytes",
                  "def storage_bytes(n_tasks, base_bytes, adapter_bytes, merge):\n    bases = n_tasks if merge else 1\n"
                  "    adapters = 0 if merge else n_tasks\n    return bases * base_bytes + adapters * adapter_bytes"],
    other_wrong=[  # merge ignored; a merged model stored once; the two cases swapped
        "def storage_bytes(n_tasks, base_bytes, adapter_bytes, merge):\n"
        "    return base_bytes + n_tasks * adapter_bytes",
        "def storage_bytes(n_tasks, base_bytes, adapter_bytes, merge):\n"
        "    return base_bytes if merge else base_bytes + n_tasks * adapter_bytes",
        "def storage_bytes(n_tasks, base_bytes, adapter_bytes, merge):\n"
        "    return base_bytes + n_tasks * adapter_bytes if merge else n_tasks * base_bytes"],
)

q4 = ChoiceQuestion(
    id="06.merge_one_of_several",
    prompt=("A PeftModel holds adapters 'english' and 'spanish'; 'spanish' is active. You call "
            "merged = model.merge_and_unload(). What happens to 'english'?"),
    choices={
        "a": ("It is merged too, because every loaded adapter is merged",
              "No: only the active adapters (or those named in adapter_names=) are merged."),
        "b": ("It stays loaded as a LoRA adapter on merged, ready for set_adapter('english')",
              "No: merged has no LoRA modules at all; every adapter's modules are removed."),
        "c": ("It is dropped from memory unmerged; its file on disk is untouched, but loading it onto merged "
              "would stack it on top of Spanish",
              "Yes. To serve English again, load its file onto a fresh base, not onto the merged model."),
        "d": ("merge_and_unload refuses with an error while two adapters are loaded",
              "No: it merges the active one and unloads the rest, without a warning."),
    },
    answer="c",
    hints=["Count the LoRA modules of merged, and compare its logits with English's."],
    solution_text="(c): the active adapter is merged, all LoRA modules are removed, the others are simply dropped.",
    alternatives=["C", " c "],
)


# Hands-on: the checks run the learner's live models on two fixed rows and compare with freshly loaded ones, and look
# at the state the served model was left in.
@cache
def _ids() -> torch.Tensor:
    """Two rows of 14 tokens, as the notebook's `ids`."""
    tok = load_tokenizer("gpt2-mini")
    texts = ["Ana vive en Lima. El gato es feliz. Carlos come pan en Quito.",
             "The old cat sat beside Leo. Anna walked to Paris in the morning."]
    return torch.tensor([tok(t)["input_ids"][:14] for t in texts])  # (2, 14)


@cache
def _reference(name: str) -> torch.Tensor:
    """gpt2-mini's logits with demo adapter `name` loaded, unmerged; 'base' for none, 'both' for English and Spanish
    merged together."""
    model = load_model("gpt2-mini")
    if name == "both":
        model = PeftModel.from_pretrained(model, demo_adapters()["english"], adapter_name="english")
        model.load_adapter(demo_adapters()["spanish"], adapter_name="spanish")
        model = model.merge_and_unload(adapter_names=["english", "spanish"])
    elif name != "base":
        model = PeftModel.from_pretrained(model, demo_adapters()[name])
    return served_logits(model, _ids())


def _computes(model: nn.Module, names: tuple[str, ...]) -> str | None:
    """Which of the references `names` `model` computes (up to float32 merge rounding), or None."""
    got = served_logits(model, _ids())
    return next((name for name in names if (got - _reference(name)).abs().max().item() < 1e-4), None)


_AS = {"spanish": "the Spanish adapter", "english": "the English adapter", "both": "both adapters added together",
       "base": "the plain base model"}


def _served_problem(model: Any, var: str, held: set[str], active: set[str], computes: str) -> tuple[str, str] | None:
    """What is wrong with the served PeftModel `var` now: it must hold `held`, unmerged and switched on, run `active`
    and compute the reference `computes`."""
    if not isinstance(model, PeftModel):
        return "served_replaced", f"`{var}` is now a {type(model).__name__}; leave it the PeftModel it was."
    now = held_adapters(model)
    if not now:
        found = _computes(model, ("base", "spanish", "english", "both"))
        if found == "base":
            return ("served_unloaded", f"`{var}` holds no LoRA layer any more and computes the plain base model: "
                                       "`unload()` removed its adapters from the very model it was called on.")
        if found is None:
            return ("served_emptied", f"`{var}` holds no LoRA layer any more, and computes neither the base model nor "
                                      "an adapter merged into it.")
        return ("merged_original", f"It ran, but `{var}` is an empty shell now: no LoRA layer is left in it, and its "
                                   f"base model computes {_AS[found]} merged into its base weights (`merge_and_unload` "
                                   "works on the very base the PeftModel wraps). Merge a copy: `copy.deepcopy(...)`.")
    if now != held:
        return "served_adapters", f"`{var}` now holds {sorted(now)}; leave it holding {sorted(held)}."
    if merged_adapters(model):
        return ("served_merged", f"`{var}` still has its LoRA layers, but {', '.join(sorted(merged_adapters(model)))} "
                                 "is merged into its base weights (`merge_adapter()`): call "
                                 f"`{var}.unmerge_adapter()` and merge a copy instead.")
    if adapters_disabled(model):
        return ("served_disabled", f"`{var}`'s adapter layers are switched off, so it serves the base model; switch "
                                   f"them back on (`{var}.base_model.enable_adapter_layers()`).")
    if active_adapters(model) != active:
        return ("switched", f"`{var}`'s active adapter is now {', '.join(sorted(active_adapters(model)))}; it was "
                            f"{', '.join(sorted(active))}. Switch a copy, not the model that serves.")
    if _computes(model, (computes,)) is None:
        return "served_changed", f"`{var}` no longer computes what {_AS[computes]} computes: its weights changed."
    return None


def _merged_problem(model: Any, var: str, wanted: str, wrong: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """What is wrong with `var`, which must be a plain model computing reference `wanted`; `wrong` maps other
    references it may compute to (mistake, message)."""
    if model is None:
        return ("none", f"{var} is None. (`merge_adapter()` merges in place and returns None; "
                        "`merge_and_unload()` returns the merged model.)")
    if not isinstance(model, nn.Module):
        return "not_model", f"{var} is a {type(model).__name__}, not a model."
    if isinstance(model, PeftModel) or lora_layers(model):
        return ("still_lora", f"{var} still holds LoRA layers ({type(model).__name__}); `merge_and_unload()` "
                              "returns a plain model with the adapter written into its weights.")
    found = _computes(model, (wanted, *wrong, "base"))
    if found == wanted:
        return None
    if found in wrong:
        return wrong[found]
    if found == "base":
        return ("unloaded", f"It ran, but {var} computes exactly the base model: no adapter's update is in its "
                            "weights. (`unload()` removes LoRA layers without merging them; `merge_and_unload()` "
                            "writes the update in first.)")
    return "outputs", f"{var} computes neither {_AS[wanted]} nor the base model."


def diagnose_merge_copy(pair: Any) -> tuple[str, str] | None:
    """q5: (served, my_merged): served still the unmerged Spanish PeftModel, my_merged a merged plain copy."""
    if not (isinstance(pair, tuple) and len(pair) == 2):
        return "pair", "Pass both models: `q5.check((served, my_merged))`."
    served, merged = pair
    return (_served_problem(served, "served", {"default"}, {"default"}, "spanish")
            or _merged_problem(merged, "`my_merged`", "spanish", {}))


_SERVED = 'served = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters["spanish"])\n'

q5 = TaskQuestion(
    id="06.merge_copy",
    prompt="Make `my_merged`, a plain model with the Spanish adapter merged into it, and keep `served` what it "
           "is: an unmerged PeftModel whose base weights are untouched.",
    diagnose=diagnose_merge_copy,
    success="Two models: `served`, still a PeftModel with its 16 LoRA layers and the original base weights, and "
            "`my_merged`, a plain GPT-2 that computes the same logits up to float32 rounding.",
    hints=["Section 2: what does `merge_and_unload()` do to the base model the PeftModel wraps?",
           "Section 3 merged a copy made with the `copy` module."],
    solution_text="merge_and_unload merges into the base it wraps: merge a deep copy.",
    solution_code="my_merged = copy.deepcopy(served).merge_and_unload()",
    slips=[
        Slip(_SERVED + "my_merged = served.merge_and_unload()", "merged_original"),
        Slip(_SERVED + "my_merged = served.unload()", "served_unloaded"),
        Slip(_SERVED + "served.merge_adapter()\nmy_merged = copy.deepcopy(served).merge_and_unload()", "served_merged"),
        Slip(_SERVED + "my_merged = copy.deepcopy(served).merge_adapter()", "none"),
        Slip(_SERVED + "my_merged = copy.deepcopy(served)\nmy_merged.merge_adapter()", "still_lora"),
        Slip(_SERVED + "my_merged = copy.deepcopy(served).unload()", "unloaded"),
    ],
    alternatives=[
        _SERVED + 'my_merged = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters["spanish"])'
                  '.merge_and_unload()',
        _SERVED + "spare = copy.deepcopy(served)\nspare.merge_adapter()\nmy_merged = spare.unload()",
        _SERVED + "my_merged = copy.deepcopy(served).merge_and_unload(safe_merge=True)",
    ],
)


def diagnose_english_merged(pair: Any) -> tuple[str, str] | None:
    """q6: (duo, my_english): duo still serving 'english' and 'spanish' unmerged with 'spanish' active, my_english a
    plain model with the English adapter merged in, and nothing else."""
    if not (isinstance(pair, tuple) and len(pair) == 2):
        return "pair", "Pass both models: `q6.check((duo, my_english))`."
    duo, english = pair
    wrong = {
        "spanish": ("active_merged", "It ran without a warning, but `my_english` computes the *Spanish* adapter: "
                                     "`merge_and_unload()` merges the active adapter ('spanish' in `duo`) and drops "
                                     "the others. Name the one you want: `adapter_names=['english']`."),
        "both": ("both_merged", "`my_english` computes both adapters added together: English and Spanish were both "
                                "merged into it. Merge only `adapter_names=['english']`."),
    }
    return (_served_problem(duo, "duo", {"english", "spanish"}, {"spanish"}, "spanish")
            or _merged_problem(english, "`my_english`", "english", wrong))


_DUO = "duo = both()\n"

q6 = TaskQuestion(
    id="06.merge_english",
    prompt="`duo` serves the English and the Spanish adapter, 'spanish' active. Make `my_english`: a plain model with "
           "the English adapter merged into it, and nothing else; and leave `duo` serving as it was (both adapters, "
           "unmerged, 'spanish' active).",
    diagnose=diagnose_english_merged,
    success="A plain GPT-2 computing the English adapter's logits up to float32 rounding, and `duo` still serving "
            "both adapters, 'spanish' active.",
    hints=["Which adapter does `merge_and_unload()` merge when you name none? And which model does it change?",
           "Exercise 5 merged a copy; `merge_and_unload` also takes `adapter_names=`, the adapters to merge."],
    solution_text="Merge a copy, naming the adapter: the active one is merged unless adapter_names says otherwise.",
    solution_code='my_english = copy.deepcopy(duo).merge_and_unload(adapter_names=["english"])',
    slips=[
        Slip(_DUO + 'my_english = duo.merge_and_unload(adapter_names=["english"])', "merged_original"),
        Slip(_DUO + 'duo.set_adapter("english")\nmy_english = copy.deepcopy(duo).merge_and_unload()', "switched"),
        Slip(_DUO + "my_english = copy.deepcopy(duo).merge_and_unload()", "active_merged"),
        Slip(_DUO + 'my_english = copy.deepcopy(duo).merge_and_unload(adapter_names=["english", "spanish"])',
             "both_merged"),
        Slip(_DUO + 'my_english = copy.deepcopy(duo).merge_adapter(["english"])', "none"),
        Slip(_DUO + 'my_english = copy.deepcopy(duo)\nmy_english.merge_adapter(["english"])', "still_lora"),
        Slip(_DUO + "my_english = copy.deepcopy(duo).unload()", "unloaded"),
    ],
    alternatives=[
        _DUO + 'spare = copy.deepcopy(duo)\nspare.set_adapter("english")\nmy_english = spare.merge_and_unload()',
        _DUO + 'my_english = both().merge_and_unload(adapter_names=["english"])',
        _DUO + 'my_english = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters["english"])'
               '.merge_and_unload()',
        _DUO + 'spare = copy.deepcopy(duo)\nspare.delete_adapter("spanish")\nmy_english = spare.merge_and_unload()',
    ],
)
