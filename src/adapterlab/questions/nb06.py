"""Check your understanding: notebook 06, merging an adapter and its pitfalls."""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
from peft import PeftModel

from adapterlab.adapters import demo_adapters
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.merging import logits, lora_layers
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
)


# Hands-on: the checks run the learner's live models on two fixed rows and compare with freshly loaded ones.
@cache
def _ids() -> torch.Tensor:
    """Two rows of 14 tokens, as the notebook's `ids`."""
    tok = load_tokenizer("gpt2-mini")
    texts = ["Ana vive en Lima. El gato es feliz. Carlos come pan en Quito.",
             "The old cat sat beside Leo. Anna walked to Paris in the morning."]
    return torch.tensor([tok(t)["input_ids"][:14] for t in texts])  # (2, 14)


@cache
def _reference(name: str) -> torch.Tensor:
    """The logits of gpt2-mini with demo adapter `name` loaded, unmerged; 'base' for no adapter."""
    base = load_model("gpt2-mini")
    model = base if name == "base" else PeftModel.from_pretrained(base, demo_adapters()[name])
    return logits(model, _ids())


def _gap(model: torch.nn.Module, name: str) -> float:
    return (logits(model, _ids()) - _reference(name)).abs().max().item()


def _plain_problem(model: Any, what: str) -> tuple[str, str] | None:
    """A problem if `model` is not a plain transformers model with no LoRA module left, else None."""
    if model is None:
        return ("none", f"{what} is None: `merge_adapter()` merges in place and returns nothing; "
                        "`merge_and_unload()` returns the merged model.")
    if isinstance(model, PeftModel) or lora_layers(model):
        return ("still_lora", f"{what} still holds LoRA layers ({type(model).__name__}); `merge_and_unload()` "
                              "returns a plain model with the adapter written into its weights.")
    return None


def diagnose_merge_copy(pair: Any) -> tuple[str, str] | None:
    """q5: (served, my_merged): served still the unmerged Spanish PeftModel, my_merged a merged plain copy."""
    served, merged = pair
    if not isinstance(served, PeftModel):
        return "served_replaced", f"`served` is now a {type(served).__name__}; leave it the PeftModel it was."
    if not lora_layers(served):
        return ("merged_original", "It ran, but `served` is an empty shell now: no LoRA layer is left in it, and "
                                   "its base model holds the merged weights (`merge_and_unload` merges into the "
                                   "very base it wraps). Merge a copy: `copy.deepcopy(served).merge_and_unload()`.")
    if any(layer.merged for layer in lora_layers(served).values()):
        return ("served_merged", "`served` still has its LoRA layers, but they are merged into its base weights "
                                 "(`merge_adapter()`): call `served.unmerge_adapter()` and merge a copy instead.")
    if _gap(served, "spanish") > 1e-5:
        return "served_changed", "`served` no longer computes what the Spanish adapter computes; reload it."
    problem = _plain_problem(merged, "`my_merged`")
    if problem:
        return problem
    if _gap(merged, "spanish") > 1e-4:
        if _gap(merged, "base") < 1e-5:
            return ("unloaded", "It ran, but `my_merged` computes exactly the base model: `unload()` removes the "
                                "LoRA layers without merging them. `merge_and_unload()` writes the update in first.")
        return "outputs", "`my_merged` does not compute what `served` computes; merge the Spanish adapter."
    return None


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
    solution_code=_SERVED + "my_merged = copy.deepcopy(served).merge_and_unload()",
    slips=[
        Slip(_SERVED + "my_merged = served.merge_and_unload()", "merged_original"),
        Slip(_SERVED + "my_merged = copy.deepcopy(served).merge_adapter()", "none"),
        Slip(_SERVED + "my_merged = copy.deepcopy(served).unload()", "unloaded"),
    ],
)


def diagnose_english_merged(model: Any) -> tuple[str, str] | None:
    """q6: a plain model with the English adapter merged in, made from `both()` (Spanish active)."""
    problem = _plain_problem(model, "This")
    if problem:
        return problem
    if _gap(model, "english") < 1e-4:
        return None
    if _gap(model, "spanish") < 1e-4:
        return ("active_merged", "It ran without a warning, but this model computes the *Spanish* adapter: "
                                 "`merge_and_unload()` merges the active adapter ('spanish' in `both()`) and drops "
                                 "the others. Name the one you want: `adapter_names=['english']`.")
    return ("both_merged", "This model computes neither adapter alone: more than one adapter was merged into it "
                           "(their updates add up). Merge only `adapter_names=['english']`.")


q6 = TaskQuestion(
    id="06.merge_english",
    prompt="From `both()` (section 6: 'english' and 'spanish' loaded, 'spanish' active), make `my_english`: a plain "
           "model with the English adapter merged into it, and nothing else.",
    diagnose=diagnose_english_merged,
    success="A plain GPT-2 computing the English adapter's logits, up to float32 rounding.",
    hints=["Which adapter does `merge_and_unload()` merge when you name none?",
           "`merge_and_unload` takes `adapter_names=`, a list of the adapters to merge."],
    solution_text="merge_and_unload merges the active adapter unless adapter_names says otherwise.",
    solution_code='my_english = both().merge_and_unload(adapter_names=["english"])',
    slips=[
        Slip("my_english = both().merge_and_unload()", "active_merged"),
        Slip('my_english = both().merge_and_unload(adapter_names=["english", "spanish"])', "both_merged"),
        Slip('my_english = both().merge_adapter(["english"])', "none"),
    ],
)
