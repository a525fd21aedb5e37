"""Check your understanding: notebook 06b (QLoRA for real: a 4-bit base, training on it, merging into it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bitsandbytes as bnb
import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

from adapterlab.exercises import ChoiceQuestion, Slip, TaskQuestion
from adapterlab.models import MINI_DIR, load_tokenizer

# Notebook 06b's 4-bit setting (QLoRA's: NF4, double quantization), and the prompt its logits are read on.
QLORA = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
             bnb_4bit_compute_dtype=torch.float32)
PROMPT = "Sentimiento: Lucía dice que el almuerzo en Quito es delicioso."
# A merge into 4 bits made before the model ran moved 06b's logits by about 0.13; one made into weights that
# bitsandbytes had repacked for the CPU, by more than 3. Anything within 1.0 of the unmerged model is a merge.
MERGE_TOLERANCE = 1.0


def _load_4bit():
    return AutoModelForCausalLM.from_pretrained(MINI_DIR, quantization_config=BitsAndBytesConfig(**QLORA),
                                                device_map="cpu")


def _logits(model) -> torch.Tensor:
    ids = load_tokenizer("gpt2-mini")(PROMPT, return_tensors="pt").input_ids
    model.eval()
    with torch.no_grad():
        return model(ids).logits


def diagnose_merged_4bit(answer: Any) -> tuple[str, str] | None:
    """q2: `(my_merged, folder)`: the adapter saved in `folder` merged into a fresh 4-bit gpt2-mini, a plain model."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return "not_pair", "Pass the pair `(my_merged, folder)`: your merged model and the adapter's folder."
    merged, folder = answer
    if not isinstance(folder, (str, Path)) or not (Path(folder) / "adapter_config.json").is_file():
        return "no_folder", f"{folder!r} is not the adapter's folder (no adapter_config.json in it): pass section 3's."
    if isinstance(merged, PeftModel):
        if any(layer.merged for layer in merged.modules() if isinstance(layer, LoraLayer)):
            return ("merged_in_place", "The adapter is merged into the layers, but this is still the PeftModel around "
                                       "them: `merge_and_unload()` returns the plain model; keep what it returns.")
        return ("not_merged", "This is a PeftModel with its adapter beside the base, not merged: call "
                              "`merge_and_unload()` and keep what it returns.")
    if not isinstance(merged, torch.nn.Module):
        return "not_model", f"Expected the merged model, not {type(merged).__name__}."
    if any(isinstance(m, LoraLayer) for m in merged.modules()):
        return "still_lora", "This model still holds LoRA layers: merge them with `merge_and_unload()`."
    if not any(isinstance(m, bnb.nn.Linear4bit) for m in merged.modules()):
        return ("not_4bit", "This model has no 4-bit layers: it is merged into a full-precision base (section 4's "
                            "alternative). The task is the merge into the 4-bit base: load the base with "
                            "`quantization_config`, as `load_4bit()` does.")
    mine = _logits(merged)
    base_gap = (mine - _logits(_load_4bit())).abs().max().item()
    served = _logits(PeftModel.from_pretrained(_load_4bit(), folder))
    gap = (mine - served).abs().max().item()
    if base_gap < 1e-6:
        return ("no_adapter", "Its logits are exactly the plain 4-bit base's: no adapter is merged in (unload() "
                              "drops it, merge_and_unload() keeps it).")
    if gap > MERGE_TOLERANCE:
        return ("far", f"Its logits are {gap:.2f} away from the adapter's own (unmerged, on a fresh 4-bit base); a "
                       f"merge into 4 bits lands within {MERGE_TOLERANCE}. Merge this folder's adapter into a base "
                       "that has not run yet: `PeftModel.from_pretrained(load_4bit(), folder).merge_and_unload()`.")
    return None


q1 = ChoiceQuestion(
    id="06b.merge_order",
    prompt="On a CPU with AVX512-BF16 you have evaluated `qlora`, a 4-bit gpt2-mini with its LoRA adapter. Which "
           "way gives a merged 4-bit model close to it?",
    choices={
        "a": ("`qlora.merge_and_unload()`: it is the model you evaluated.",
              "No: evaluating repacked its 4-bit weights for the CPU, and PEFT's merge reads them as if they were "
              "not (section 4: a gap of more than 3 against about 0.1)."),
        "b": ("Load a fresh 4-bit base, `PeftModel.from_pretrained(base, folder)`, then `merge_and_unload()` "
              "before running it.",
              "Right: a merge before any inference forward reads the standard layout; then run it as you like."),
        "c": ("Any order: the merge dequantizes the weights first.",
              "No: it dequantizes with the quantization state it finds, which after a CPU inference run describes "
              "another layout."),
        "d": ("Save `qlora` first, then merge it.",
              "No: saving undoes the repacking of the weights, but merging still needs a base that has not run; "
              "and without double quantization the save itself would write damaged scales (section 5)."),
    },
    answer="b",
    alternatives=["B", " b "],
    hints=["Section 4, 'The pitfall': what happens to a Linear4bit the first time it runs for inference on this CPU?"],
    solution_text="(b): merge a freshly loaded 4-bit model, before any inference forward.",
)

_FOLDER = 'folder = workdir / "qlora-adapter"\n'

q2 = TaskQuestion(
    id="06b.merge_4bit",
    prompt="Merge the adapter you saved in section 3 (`workdir / \"qlora-adapter\"`) into a 4-bit gpt2-mini the "
           "safe way, into `my_merged`: a plain model with 4-bit layers, close to the unmerged adapter.",
    diagnose=diagnose_merged_4bit,
    success="A plain 4-bit model with the adapter merged in, within rounding of the adapter run unmerged: merged "
            "before it ran, as it must be on this CPU.",
    hints=["Section 4's `merged_4bit()` does it; use `load_4bit()` and `PeftModel.from_pretrained`.",
           "`merge_and_unload()` returns the merged plain model: keep that."],
    solution_text="Load a fresh 4-bit base, attach the adapter, merge before running it.",
    solution_code=f"{_FOLDER}my_merged = PeftModel.from_pretrained(load_4bit(), folder).merge_and_unload()",
    alternatives=[
        f"{_FOLDER}wrapped = PeftModel.from_pretrained(load_4bit(), str(folder), adapter_name=\"qlora\")\n"
        "my_merged = wrapped.merge_and_unload(safe_merge=True, adapter_names=[\"qlora\"])",
        f"{_FOLDER}base = load_4bit()\nwrapped = PeftModel.from_pretrained(base, folder)\nwrapped.merge_and_unload()\n"
        "my_merged = base  # merge_and_unload returns this same base object",
    ],
    slips=[
        Slip(f"{_FOLDER}my_merged = PeftModel.from_pretrained(load_4bit(), folder)", "not_merged"),
        Slip(f"{_FOLDER}my_merged = PeftModel.from_pretrained(load_4bit(), folder)\nmy_merged.merge_adapter()",
             "merged_in_place"),
        Slip(f"{_FOLDER}my_merged = PeftModel.from_pretrained(load_model(\"gpt2-mini\"), folder).merge_and_unload()",
             "not_4bit"),
        Slip(f"{_FOLDER}my_merged = PeftModel.from_pretrained(load_4bit(), folder).unload()", "no_adapter"),
        Slip(f"{_FOLDER}my_merged = load_4bit()", "no_adapter"),
        Slip(f"{_FOLDER}my_merged = PeftModel.from_pretrained(load_4bit(), trained_adapter(\"english_ner\"))"
             ".merge_and_unload()", "far"),
        Slip(f"{_FOLDER}my_merged = PeftModel.from_pretrained(load_4bit(), folder).merge_and_unload\n", "not_model"),
    ],
)
