"""Check your understanding: notebook 06, merging an adapter and its pitfalls."""

from __future__ import annotations

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, ValueQuestion

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
