"""Check your understanding: notebook 07 (the storage formula, checked against bytes on disk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import safe_open

from adapterlab.adapter_files import (
    CONFIG_NAME,
    SAFETENSORS_WEIGHTS_NAME,
    is_complete_adapter,
    read_adapter_config,
)
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.files import file_sizes
from adapterlab.models import model_dir
from adapterlab.storage import estimate

q1 = ValueQuestion(
    id="07.mistral_k_proj",
    prompt="Mistral-7B has 32 layers, hidden size 4096 and grouped-query attention: its k_proj maps 4096 -> 1024. "
           "How many parameters does LoRA with r=8 on `k_proj` alone add?",
    answer=32 * 8 * (4096 + 1024),
    wrong={
        32 * 8 * (4096 + 4096): "That treats k_proj as square (4096 -> 4096); with 8 key/value heads of 128 "
                                "it outputs 8 x 128 = 1024.",
        8 * (4096 + 1024): "That is one layer; every one of the 32 layers has its own k_proj.",
        32 * 8 * (4096 + 1024) * 2: "That is the size in bytes in float16, not the parameter count.",
    },
    hints=["Per module: r x (d_in + d_out). Which d_out does k_proj have with 8 key/value heads of 128?",
           "32 x 8 x (4096 + 1024)."],
    solution_text="32 layers x 8 x (4096 + 1024) = 1,310,720; check it with "
                  "estimate('mistral-7b', ['k_proj'], 8).params.",
)

q2 = ChoiceQuestion(
    id="07.bf16_base",
    prompt="You load Llama-2-7B in bfloat16, wrap it with LoRA r=16 on q/k/v/o_proj using get_peft_model's "
           "default arguments, and save. The formula in bfloat16 predicts 33.6 MB of tensors. About how big is "
           "adapter_model.safetensors?",
    choices={
        "a": ("33.6 MB, as predicted.",
              "No: PEFT's get_peft_model(autocast_adapter_dtype=True) keeps the adapter in float32 on a "
              "half-precision base, so each parameter takes 4 bytes, not 2."),
        "b": ("67.1 MB: twice the prediction.",
              "Right: the adapter weights are float32 by default (autocast_adapter_dtype=True), 4 bytes each. "
              "Pass autocast_adapter_dtype=False, or cast before saving, to get the bfloat16 size."),
        "c": ("13.5 GB: the base model is saved with it.",
              "No: save_pretrained on a PeftModel writes the adapter only."),
        "d": ("16.8 MB: bfloat16 halves float16.", "No: float16 and bfloat16 both take 2 bytes per parameter."),
    },
    answer="b",
    hints=["Which dtype do the lora_A weights have after get_peft_model on a half-precision model?"],
    solution_text="(b): 16,777,216 parameters x 4 bytes = 67.1 MB, because PEFT upcasts the adapter to float32.",
)


def _infer_rank(file_bytes: int, header_bytes: int, params_at_rank_1: int, bytes_per_param: int) -> int:
    return (file_bytes - header_bytes) // (params_at_rank_1 * bytes_per_param)


q3 = CodeQuestion(
    id="07.infer_rank",
    prompt="Write `infer_rank(file_bytes, header_bytes, params_at_rank_1, bytes_per_param)`: the LoRA rank of an "
           "adapter file, from its size, its safetensors header size, the adapter's parameters at rank 1 "
           "(sum of d_in + d_out over all wrapped modules) and the bytes per parameter. Return an int.",
    cases=[((1_182_680, 3_032, 36_864, 4), 8), ((5_128, 1_032, 512, 2), 4), ((76_776, 3_048, 36_864, 2), 1),
           ((2_362_328, 3_032, 73_728, 2), 16)],
    reference_function=_infer_rank,
    wrong_functions=[
        lambda file_bytes, header_bytes, params_at_rank_1, bytes_per_param:  # forgets the header
            file_bytes // (params_at_rank_1 * bytes_per_param),
        lambda file_bytes, header_bytes, params_at_rank_1, bytes_per_param:  # forgets the bytes per parameter
            (file_bytes - header_bytes) // params_at_rank_1,
        lambda file_bytes, header_bytes, params_at_rank_1, bytes_per_param:  # counts A and B twice
            (file_bytes - header_bytes) // (2 * params_at_rank_1 * bytes_per_param),
    ],
    hints=["The file is header + tensors; the tensors are rank x params_at_rank_1 x bytes_per_param.",
           "Subtract the header first, then divide by the bytes one unit of rank costs."],
    solution_text="def infer_rank(file_bytes, header_bytes, params_at_rank_1, bytes_per_param):\n"
                  "    return (file_bytes - header_bytes) // (params_at_rank_1 * bytes_per_param)",
)

q4 = ChoiceQuestion(
    id="07.biggest_jump",
    prompt="A GPT-2 small adapter (r=8 on c_attn, float32) is 1.18 MB. Which change makes the file about "
           "130 times bigger?",
    choices={
        "a": ("Doubling the rank to 16.", "No: size is linear in the rank, so that doubles it (2.36 MB)."),
        "b": ("Adding modules_to_save=['lm_head'].",
              "Right: modules_to_save stores a whole trainable copy of the module, 50,257 x 768 parameters "
              "(154 MB), not a low-rank pair."),
        "c": ("Loading the base in float16 before get_peft_model.",
              "No: PEFT keeps the adapter in float32 by default, so the file stays 1.18 MB."),
        "d": ("Targeting c_fc as well.",
              "No: c_fc adds 12 x 8 x (768 + 3072) parameters, about 1.5 MB: roughly double, not 130x."),
    },
    answer="b",
    hints=["Which of these stores a full matrix instead of A and B?"],
    solution_text="(b): modules_to_save saves lm_head whole: 38,597,376 parameters x 4 bytes = 154 MB.",
)


# Hands-on: the checks read the adapter folder the learner saved, and the bytes in it.
BUDGET = 66_000  # bytes: between r=7's file (58,360) and r=8's (66,552), whose tensors alone are 65,536


def _adapter_file(folder: Any) -> tuple[Path | None, tuple[str, str] | None]:
    if folder is None or not isinstance(folder, (str, Path)):
        return None, ("not_folder", f"Pass the folder you saved into (a Path), not {type(folder).__name__}: "
                                    "`save_pretrained` returns None.")
    if not is_complete_adapter(folder):
        files = file_sizes(folder) if Path(folder).is_dir() else {}
        return None, ("files", f"Expected {CONFIG_NAME} and {SAFETENSORS_WEIGHTS_NAME} at the top of the "
                               f"folder, found {sorted(files) or 'nothing'}.")
    return Path(folder) / SAFETENSORS_WEIGHTS_NAME, None


def diagnose_budget(folder: Any) -> tuple[str, str] | None:
    """q5: gpt2-mini's every c_attn, the largest r whose adapter file fits in BUDGET bytes, saved."""
    path, problem = _adapter_file(folder)
    if problem:
        return problem
    config = read_adapter_config(folder)
    targets = config["target_modules"]
    if sorted(targets if isinstance(targets, list) else [targets]) != ["c_attn"]:
        return "targets", f"The adapter targets {targets}; the task is every `c_attn` and nothing else."
    size, r = path.stat().st_size, config["r"]
    if size > BUDGET:
        return ("over_budget", f"It saved, but the file is {size:,} bytes, over the {BUDGET:,} budget: r={r}'s "
                               f"tensors alone are {4 * estimate(model_dir('gpt2-mini'), ['c_attn'], r).params:,} "
                               "bytes, and the header comes on top. Predict the whole file with `estimate(...)"
                               ".file_bytes`.")
    if estimate(model_dir("gpt2-mini"), ["c_attn"], r + 1).file_bytes <= BUDGET:
        return "not_largest", f"r={r} fits ({size:,} bytes), but a larger r fits too: find the largest."
    return None


_WRAP = "from peft import LoraConfig, get_peft_model\n\n"
q5 = TaskQuestion(
    id="07.fit_budget",
    prompt=f"Give every `c_attn` of a fresh gpt2-mini the largest LoRA rank r whose saved "
           f"adapter_model.safetensors is at most {BUDGET:,} bytes, save it into a new folder under `work`, and put "
           "the folder in `my_budget`.",
    diagnose=diagnose_budget,
    success="The largest r that fits, file and header included: the prediction to the byte decided it.",
    hints=["`estimate(model_dir('gpt2-mini'), ['c_attn'], r).file_bytes` predicts the whole file for each r.",
           "The tensors of r=8 take 65,536 bytes; what does the header add?"],
    solution_text="r=7: estimate(...).file_bytes is 58,360 for r=7 and 66,552 for r=8 (65,536 of tensors + the "
                  "header), so r=8 does not fit.",
    solution_code=_WRAP + "r = max(r for r in range(1, 33)\n"
                          "        if estimate(model_dir('gpt2-mini'), ['c_attn'], r).file_bytes <= 66_000)\n"
                          "sized = get_peft_model(load_model('gpt2-mini'), LoraConfig(r=r, target_modules=['c_attn'], "
                          "fan_in_fan_out=True))\nmy_budget = work / 'budget'\nsized.save_pretrained(my_budget)",
    slips=[
        Slip(_WRAP + "sized = get_peft_model(load_model('gpt2-mini'), LoraConfig(r=8, target_modules=['c_attn'], "
                     "fan_in_fan_out=True))  # 8 x 2048 x 4 = 65,536 <= 66,000\n"
                     "my_budget = work / 'slip-naive'\nsized.save_pretrained(my_budget)", "over_budget"),
        Slip(_WRAP + "sized = get_peft_model(load_model('gpt2-mini'), LoraConfig(r=4, target_modules=['c_attn'], "
                     "fan_in_fan_out=True))\nmy_budget = work / 'slip-small'\nsized.save_pretrained(my_budget)",
             "not_largest"),
    ],
)


def diagnose_half(folder: Any) -> tuple[str, str] | None:
    """q6: an adapter stored in bfloat16, every tensor, exactly as big as the prediction for bfloat16."""
    path, problem = _adapter_file(folder)
    if problem:
        return problem
    with safe_open(path, framework="pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    if dtypes == {"F32"}:
        return ("upcast", "It saved, but every tensor is F32: on a bfloat16 base PEFT keeps the adapter in "
                          "float32 (`autocast_adapter_dtype=True`, its default), so the file did not shrink. Pass "
                          "`autocast_adapter_dtype=False` to `get_peft_model`.")
    if dtypes != {"BF16"}:
        return "dtype", f"The tensors are {sorted(dtypes)}; the task is bfloat16 (BF16) throughout."
    config = read_adapter_config(folder)
    predicted = estimate(model_dir("gpt2-mini"), config["target_modules"], config["r"], "bfloat16").file_bytes
    if path.stat().st_size != predicted:
        return "size", f"The file is {path.stat().st_size:,} bytes; the prediction for these settings is {predicted:,}."
    return None


_BF16 = ("import torch\nfrom peft import LoraConfig, get_peft_model\n\n"
         "config = LoraConfig(r=8, target_modules=['c_attn'], fan_in_fan_out=True)\n")
q6 = TaskQuestion(
    id="07.bfloat16",
    prompt="Save an r=8 adapter on gpt2-mini's `c_attn` whose tensors are stored in bfloat16 (half of float32's "
           "bytes) into a new folder under `work`, and put the folder in `my_half`.",
    diagnose=diagnose_half,
    success="Every tensor BF16, and the file exactly as big as estimate(..., 'bfloat16') predicts.",
    hints=["Load the base in bfloat16: `load_model('gpt2-mini', dtype=torch.bfloat16)`. Then look at the "
           "dtypes in the file you saved.",
           "`get_peft_model` has an argument that decides whether the adapter follows the base's dtype."],
    solution_text="get_peft_model(base_in_bf16, config, autocast_adapter_dtype=False): PEFT otherwise upcasts "
                  "the adapter to float32.",
    solution_code=_BF16 + "half = get_peft_model(load_model('gpt2-mini', dtype=torch.bfloat16), config, "
                          "autocast_adapter_dtype=False)\nmy_half = work / 'half'\nhalf.save_pretrained(my_half)",
    slips=[
        Slip(_BF16 + "half = get_peft_model(load_model('gpt2-mini', dtype=torch.bfloat16), config)\n"
                     "my_half = work / 'slip-upcast'\nhalf.save_pretrained(my_half)", "upcast"),
        Slip(_BF16 + "half = get_peft_model(load_model('gpt2-mini', dtype=torch.float16), config, "
                     "autocast_adapter_dtype=False)\nmy_half = work / 'slip-fp16'\nhalf.save_pretrained(my_half)",
             "dtype"),
    ],
)
