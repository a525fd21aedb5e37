"""Check your understanding: notebook 07 (the storage formula, checked against bytes on disk)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from adapterlab.adapter_files import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME
from adapterlab.adapter_state import SavedAdapter, read_saved
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.judging import find_adapters, missing_files
from adapterlab.models import load_model, model_dir
from adapterlab.safetensors_format import file_header_bytes
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
    alternatives=["1,310,720", 1.31072e6, "1_310_720"],
    other_wrong=[5_242_880, 32 * 8 * 1024, 32 * 8 * 4096],  # bytes in float32; B alone; A alone
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
    alternatives=["B", " b "],
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
    alternatives=["def infer_rank(file_bytes, header_bytes, params_at_rank_1, bytes_per_param):\n"
                  "    return int((file_bytes - header_bytes) / (params_at_rank_1 * bytes_per_param))",
                  "def infer_rank(file_bytes, header_bytes, params_at_rank_1, bytes_per_param):\n"
                  "    tensor_bytes = file_bytes - header_bytes\n"
                  "    return round(tensor_bytes / bytes_per_param / params_at_rank_1)"],
    other_wrong=[  # the header added; the rank-1 parameters forgotten; bits instead of bytes
        "def infer_rank(file_bytes, header_bytes, params_at_rank_1, bytes_per_param):\n"
        "    return (file_bytes + header_bytes) // (params_at_rank_1 * bytes_per_param)",
        "def infer_rank(file_bytes, header_bytes, params_at_rank_1, bytes_per_param):\n"
        "    return (file_bytes - header_bytes) // bytes_per_param",
        "def infer_rank(file_bytes, header_bytes, params_at_rank_1, bytes_per_param):\n"
        "    return (file_bytes - header_bytes) // (params_at_rank_1 * bytes_per_param * 8)"],
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
    alternatives=["B", " b "],
)


# Hands-on: the checks read the adapter the learner saved (found at the top of the folder or one level down) and judge
# what its tensors wrap, at which rank, in which dtype, and its bytes: never how `target_modules` was written.
BUDGET = 66_000  # bytes: between r=7's file (58,360) and r=8's (66,552), whose tensors alone are 65,536


@cache
def _c_attn() -> frozenset[str]:
    """The full names of gpt2-mini's c_attn modules ('transformer.h.0.attn.c_attn', ...)."""
    return frozenset(name for name, _ in load_model("gpt2-mini").named_modules() if name.endswith(".attn.c_attn"))


def _saved(folder: Any) -> tuple[Path | None, str, tuple[str, str] | None]:
    """(the adapter's folder, a note when it was not at the top, None) or (None, '', (mistake, message))."""
    if not isinstance(folder, (str, Path)):
        why = ": `save_pretrained` returns None, so keep the folder in a variable first" if folder is None else ""
        return None, "", ("not_folder", f"Pass the folder you saved into (a Path), not {type(folder).__name__}{why}.")
    path = Path(folder)
    if path.is_file() and path.name in (SAFETENSORS_WEIGHTS_NAME, CONFIG_NAME):
        path = path.parent
    if not path.is_dir():
        return None, "", ("nothing", f"There is no folder {path.name!r}: was the adapter saved there?")
    found = find_adapters(path)
    if len(found) > 1:
        return None, "", ("several", f"This folder holds {len(found)} adapters one level down "
                                     f"({', '.join(p.name for p in found)}); pass the folder of the one you mean.")
    if not found:
        return None, "", ("files", missing_files(path))
    note = "" if found[0] == path else f"(Your adapter sits one folder down, in {found[0].name}/.)"
    return found[0], note, None


def _wraps_every_c_attn(saved: SavedAdapter) -> tuple[str, str] | None:
    """A problem unless the file holds LoRA pairs on exactly gpt2-mini's c_attn modules, and nothing else."""
    wrapped, wanted = set(saved.ranks), _c_attn()
    if wrapped != wanted:
        extra, missing = sorted(wrapped - wanted), sorted(wanted - wrapped)
        said = [f"also wraps {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''} ({len(extra)} modules)"] \
            if extra else []
        said += [f"leaves out {', '.join(missing)}"] if missing else []
        return "targets", f"The adapter {' and '.join(said)}; the task is every `c_attn` and nothing else."
    if saved.others:
        return ("extra_tensors", f"The file holds more than the LoRA pairs: {', '.join(saved.others[:2])}"
                                 f"{' ...' if len(saved.others) > 2 else ''}. Save the pairs only.")
    if len(set(saved.ranks.values())) > 1:
        return "uneven", f"The c_attn modules have ranks {sorted(set(saved.ranks.values()))}: give them one r."
    return None


def diagnose_budget(folder: Any) -> tuple[str | None, str] | None:
    """q5: gpt2-mini's every c_attn, the largest r whose float32 adapter file fits in BUDGET bytes, saved."""
    adapter, note, problem = _saved(folder)
    if problem:
        return problem
    saved = read_saved(adapter)
    problem = _wraps_every_c_attn(saved)
    if problem:
        return problem
    r = next(iter(saved.ranks.values()))
    if saved.dtypes != {"F32"}:
        return ("dtype", f"The tensors are stored as {', '.join(sorted(saved.dtypes))}; a fresh gpt2-mini gives a "
                         "float32 (F32) adapter, the one the budget is for.")
    size, header = saved.file_bytes, file_header_bytes(adapter / SAFETENSORS_WEIGHTS_NAME)
    if size > BUDGET:
        return ("over_budget", f"It saved, but the file is {size:,} bytes, over the {BUDGET:,} budget: r={r}'s tensors "
                               f"are {size - header:,} bytes and the header {header:,} more. Predict the whole file "
                               "with `estimate(...).file_bytes`.")
    if estimate(model_dir("gpt2-mini"), ["c_attn"], r + 1).file_bytes <= BUDGET:
        return "not_largest", f"r={r} fits ({size:,} bytes), but a larger r fits too: find the largest."
    return (None, note) if note else None


_WRAP = "from peft import LoraConfig, get_peft_model\n\n"


def _budget_slip(config: str, folder: str, base: str = "load_model('gpt2-mini')", extra: str = "") -> str:
    return (_WRAP + f"sized = get_peft_model({base}, LoraConfig({config}, fan_in_fan_out=True){extra})\n"
                    f"my_budget = work / '{folder}'\nsized.save_pretrained(my_budget)")


q5 = TaskQuestion(
    id="07.fit_budget",
    prompt=f"Give every `c_attn` of a fresh gpt2-mini (float32, as it loads) the largest LoRA rank r whose saved "
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
        Slip(_budget_slip("r=8, target_modules=['c_attn']", "slip-naive") + "  # 8 x 2048 x 4 = 65,536 <= 66,000",
             "over_budget"),
        Slip(_budget_slip("r=4, target_modules=['c_attn']", "slip-small"), "not_largest"),
        Slip(_budget_slip("r=3, target_modules=['c_attn', 'attn.c_proj']", "slip-proj"), "targets"),
        Slip(_budget_slip("r=7, target_modules=['c_attn'], layers_to_transform=[0, 1]", "slip-layers"), "targets"),
        Slip("import torch\n" + _budget_slip("r=15, target_modules=['c_attn']", "slip-bf16",
                                              "load_model('gpt2-mini', dtype=torch.bfloat16)",
                                              ", autocast_adapter_dtype=False"), "dtype"),
        Slip(_WRAP + "sized = get_peft_model(load_model('gpt2-mini'), LoraConfig(r=7, target_modules=['c_attn'], "
                     "fan_in_fan_out=True))\nmy_budget = sized.save_pretrained(work / 'slip-none')", "not_folder"),
    ],
    alternatives=[
        # a regex (re.fullmatch on each full module name), as PEFT accepts it
        _budget_slip(r"r=7, target_modules=r'.*\.c_attn'", "budget-regex"),
        # a longer suffix, and an adapter named 'budget': PEFT saves it one folder down, in budget/
        _budget_slip("r=7, target_modules=['attn.c_attn']", "budget-named", extra=", adapter_name='budget'"),
        # transformers' own adapter API: add_adapter and the model's save_pretrained write the same adapter files
        "from peft import LoraConfig\n\nsized = load_model('gpt2-mini')\n"
        "sized.add_adapter(LoraConfig(r=7, target_modules=['c_attn'], fan_in_fan_out=True))\n"
        "my_budget = work / 'budget-hf'\nsized.save_pretrained(my_budget)",
    ],
)


def diagnose_half(folder: Any) -> tuple[str | None, str] | None:
    """q6: an r=8 adapter on every c_attn of gpt2-mini and nothing else, every tensor stored in bfloat16."""
    adapter, note, problem = _saved(folder)
    if problem:
        return problem
    saved = read_saved(adapter)
    problem = _wraps_every_c_attn(saved)
    if problem:
        return problem
    r = next(iter(saved.ranks.values()))
    if r != 8:
        return "rank", f"The adapter has rank {r}; the task is r=8."
    if saved.dtypes == {"F32"}:
        return ("upcast", "It saved, but every tensor is F32, so the file did not shrink. The base's dtype alone "
                          "does not decide it: PEFT creates the adapter in float32 even on a bfloat16 base unless "
                          "`get_peft_model(..., autocast_adapter_dtype=False)`; or cast the model to bfloat16 before "
                          "saving.")
    if saved.dtypes != {"BF16"}:
        return "dtype", f"The tensors are {', '.join(sorted(saved.dtypes))}; the task is bfloat16 (BF16) throughout."
    tensors = saved.file_bytes - file_header_bytes(adapter / SAFETENSORS_WEIGHTS_NAME)
    predicted = estimate(model_dir("gpt2-mini"), ["c_attn"], 8, "bfloat16").bytes
    if tensors != predicted:
        return "size", f"The tensors take {tensors:,} bytes; the prediction for r=8 in bfloat16 is {predicted:,}."
    return (None, note) if note else None


_BF16 = ("import torch\nfrom peft import LoraConfig, get_peft_model\n\n"
         "config = LoraConfig(r=8, target_modules=['c_attn'], fan_in_fan_out=True)\n")


def _half_slip(config: str, folder: str, dtype: str = "bfloat16", autocast: bool = False) -> str:
    return (_BF16 + f"half = get_peft_model(load_model('gpt2-mini', dtype=torch.{dtype}), LoraConfig({config}, "
                    f"fan_in_fan_out=True){'' if autocast else ', autocast_adapter_dtype=False'})\n"
                    f"my_half = work / '{folder}'\nhalf.save_pretrained(my_half)")


q6 = TaskQuestion(
    id="07.bfloat16",
    prompt="Save an r=8 adapter on gpt2-mini's `c_attn` whose tensors are stored in bfloat16 (half of float32's "
           "bytes) into a new folder under `work`, and put the folder in `my_half`.",
    diagnose=diagnose_half,
    success="Every tensor BF16, r=8 on every c_attn and nothing else: the tensors take exactly what "
            "estimate(..., 'bfloat16') predicts.",
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
        Slip(_half_slip("r=8, target_modules=['c_attn']", "slip-fp16", dtype="float16"), "dtype"),
        Slip(_half_slip("r=4, target_modules=['c_attn']", "slip-r4"), "rank"),
        Slip(_half_slip("r=8, target_modules=['c_attn', 'c_proj']", "slip-proj"), "targets"),
        Slip(_half_slip("r=8, target_modules='all-linear'", "slip-all-linear"), "targets"),
        Slip(_BF16 + "half = get_peft_model(load_model('gpt2-mini', dtype=torch.bfloat16), config, "
                     "autocast_adapter_dtype=False)\nmy_half = half.save_pretrained(work / 'slip-none')", "not_folder"),
    ],
    alternatives=[
        # built in float32, then the whole model cast before saving
        _BF16 + "half = get_peft_model(load_model('gpt2-mini'), config).to(torch.bfloat16)\n"
                "my_half = work / 'half-cast'\nhalf.save_pretrained(my_half)",
        # a regex target and an adapter named 'in_bf16': saved one folder down, in in_bf16/
        _BF16 + "half = get_peft_model(load_model('gpt2-mini', dtype=torch.bfloat16), LoraConfig(r=8, "
                "target_modules=r'.*attn\\.c_attn', fan_in_fan_out=True), autocast_adapter_dtype=False, "
                "adapter_name='in_bf16')\nmy_half = work / 'half-named'\nhalf.save_pretrained(my_half)",
        # transformers' own adapter API on a bfloat16 base: add_adapter keeps the base's dtype
        _BF16 + "half = load_model('gpt2-mini', dtype=torch.bfloat16)\nhalf.add_adapter(config)\n"
                "my_half = work / 'half-hf'\nhalf.save_pretrained(my_half)",
    ],
)
