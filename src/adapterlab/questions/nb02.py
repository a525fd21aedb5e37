"""Check your understanding: notebook 02 (training an adapter with transformers' Trainer)."""

import math
from pathlib import Path
from typing import Any

from peft import PeftModel
from safetensors.torch import load_file
from transformers.trainer_utils import TrainOutput

from adapterlab.adapter_files import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.files import file_sizes, human_size
from adapterlab.questions.nb01 import lora_settings_problem, peft_model_problem, wraps_problem

q1 = ValueQuestion(
    id="02.adam_bytes",
    prompt="LoRA r=8 on `c_attn` trains 294,912 parameters of GPT-2 small. How many bytes do AdamW's two "
           "moments take for them (fp32)?",
    answer=294_912 * 2 * 4,
    rel_tol=1e-6,
    wrong={
        294_912 * 4: "That is one fp32 moment; AdamW keeps two per trainable parameter (exp_avg and exp_avg_sq).",
        294_912 * 2 * 2: "That is 2 bytes a number. AdamW's moments take the dtype of the parameters "
                         "(torch.zeros_like), and a LoRA adapter's are fp32: PEFT upcasts a half-precision "
                         "adapter (autocast_adapter_dtype=True). So 4 bytes each.",
        294_912 * 3 * 4: "That counts the gradients too (4 bytes each); the question asks for the two moments only.",
        124_439_808 * 2 * 4: "That is full fine-tuning's: every parameter of GPT-2 small. LoRA's optimizer holds "
                             "moments for the adapter only.",
    },
    hints=["Section 4: 2 moments x 4 bytes per trainable parameter.",
           "Only trainable parameters have optimizer state; GPT-2's own weights are frozen."],
    solution_text="294,912 x 2 moments x 4 bytes = 2,359,296 bytes (2.36 MB); full fine-tuning needs 995.5 MB.",
)

q2 = CodeQuestion(
    id="02.scaling",
    prompt="Write `lora_scaling(r, lora_alpha, use_rslora=False)`: the factor PEFT multiplies B·A by.",
    cases=[((8, 16), 2.0), ((32, 16), 0.5), ((32, 16, True), 16 / math.sqrt(32)), ((4, 8, True), 4.0),
           ((1, 1), 1.0)],
    reference_function=lambda r, lora_alpha, use_rslora=False: lora_alpha / (math.sqrt(r) if use_rslora else r),
    wrong_functions=[lambda r, lora_alpha, use_rslora=False: lora_alpha / r,
                     lambda r, lora_alpha, use_rslora=False: lora_alpha / math.sqrt(r),
                     lambda r, lora_alpha, use_rslora=False: r / lora_alpha],
    hints=["Section 2 asserted PEFT's `scaling` for the recipe; deep dive 02a for four settings.",
           "Plain LoRA divides by r; rsLoRA by the square root of r."],
    solution_text="import math\n\ndef lora_scaling(r, lora_alpha, use_rslora=False):\n"
                  "    return lora_alpha / (math.sqrt(r) if use_rslora else r)",
)

q3 = ChoiceQuestion(
    id="02.resume_order",
    prompt="A 40-step run stopped after step 20 is resumed from checkpoint-20. Why does it train on the same "
           "batches 21 to 40 as the run that was never stopped?",
    choices={
        "a": ("The checkpoint stores the batches still to come.",
              "No: nothing of the data is in a checkpoint (look at its files in section 4)."),
        "b": ("The sampler's order follows the seed and the epoch, so Trainer draws it again and skips the "
              "batches global_step says were seen.",
              "Right: accelerate's SeedableRandomSampler seeds each epoch with seed + epoch, and Trainer skips "
              "the first batches of the current epoch (skip_first_batches)."),
        "c": ("rng_state.pth holds the order of the batches.",
              "No: the random states are restored after the skip, for what draws random numbers while training "
              "(dropout); the order comes from the seeded sampler."),
        "d": ("It does not: a resumed run starts the epoch over from its first batch.",
              "No: that is what `ignore_data_skip=True` asks for; by default the seen batches are skipped."),
    },
    answer="b",
    hints=["Section 5 lists what resuming restores."],
    solution_text="(b): same seed, same epoch, same order; the batches already trained on are skipped.",
)


def _lora_b_all_zero(tensors: dict) -> bool:
    b = [t for name, t in tensors.items() if "lora_B" in name]
    return bool(b) and all(not t.any() for t in b)


def diagnose_trained(trainer: Any) -> tuple[str, str] | None:
    """q4: a Trainer that trained LoRA r=4, alpha 8 on gpt2-mini's c_attn for 10 steps."""
    if isinstance(trainer, TrainOutput):
        return ("train_output", "That is what `train()` returns (a TrainOutput: the steps and the loss). Keep the "
                                "Trainer itself: `my_trainer = trainer_for(...)`, then `my_trainer.train()`.")
    if not (hasattr(trainer, "state") and hasattr(trainer, "model")):
        return "not_trainer", f"Pass the Trainer (it has .model and .state), not {type(trainer).__name__}."
    model, steps = trainer.model, trainer.state.global_step
    if not isinstance(model, PeftModel) and steps > 0:
        count = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return ("full_finetune", f"Trainer trained the {type(model).__name__} itself: all {count:,} of its "
                                 "parameters, which is full fine-tuning. Wrap it with `get_peft_model` first; then "
                                 "Trainer trains only the adapter.")
    problem = peft_model_problem(model) or wraps_problem(model, "attn.c_attn") or lora_settings_problem(model, 4, 8)
    if problem:
        return problem
    if steps == 0:
        return ("not_trained", "It has not trained: global_step is 0 and every lora_B is still zero. Call "
                               "`my_trainer.train()`.")
    if steps != 10:
        return "steps", f"It trained {steps} steps; the task asks for 10 (`max_steps=10`)."
    return None


def diagnose_saved_adapter(folder: Any) -> tuple[str, str] | None:
    """q5: a folder holding only an adapter, as PEFT writes it, with trained weights."""
    if not isinstance(folder, (str, Path)):
        return "not_folder", f"Pass the folder you saved into (a Path or a str), not {type(folder).__name__}."
    folder = Path(folder)
    sizes = file_sizes(folder) if folder.is_dir() else {}
    if not sizes:
        return "nothing", "Nothing is saved in that folder: save into it, then pass it."
    full = [name for name in sizes if Path(name).name in ("model.safetensors", "pytorch_model.bin")]
    if full:
        return ("full_model", f"You saved the whole model: {full[0]} ({human_size(sizes[full[0]])}) holds every "
                              "weight of GPT-2, the LoRA layers inside them. That is the base model's "
                              "save_pretrained; the PeftModel's own writes only the adapter: "
                              "`model.save_pretrained(folder)`.")
    # training_args.bin is what trainer.save_model writes beside the adapter: the arguments, not weights.
    pickles = [name for name in sizes if name.endswith((".pt", ".pth", ".bin")) and name != "training_args.bin"]
    if pickles:
        return ("pickle", f"You saved {pickles[0]} with torch.save: a pickle (loading one can run code, "
                          "notebook 03) of every tensor you gave it, and no adapter_config.json for PEFT to "
                          "rebuild the LoRA layers from. `model.save_pretrained(folder)` writes both files.")
    if CONFIG_NAME not in sizes:
        nested = [name for name in sizes if name.endswith(f"/{CONFIG_NAME}")]
        if nested:
            return ("subfolder", f"The adapter went into the subfolder {nested[0].split('/')[0]}/ (PEFT saves an "
                                 "adapter not named 'default' there): pass that folder.")
        return "no_config", "There is no adapter_config.json: PEFT needs it to rebuild the LoRA layers."
    if SAFETENSORS_WEIGHTS_NAME not in sizes:
        return "no_weights", "There is an adapter_config.json but no adapter_model.safetensors beside it."
    if _lora_b_all_zero(load_file(folder / SAFETENSORS_WEIGHTS_NAME)):
        return ("untrained", "It ran, and saved an adapter that was never trained: every lora_B is zero, as right "
                             "after get_peft_model. Save the model Trainer trained (`model`, which is "
                             "`trainer.model`), not a freshly wrapped one.")
    return None


_SMALL = 'small = LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True)\n'
_WRAP = 'get_peft_model(load_model("gpt2-mini"), small)'

q4 = TaskQuestion(
    id="02.train_small",
    prompt="Wrap a fresh gpt2-mini with LoRA r=4, lora_alpha 8 on `c_attn` only, and train it for 10 steps with "
           "`trainer_for` (section 5) into a new folder. Keep the Trainer in `my_trainer`.",
    diagnose=diagnose_trained,
    success="Trainer trained a LoRA adapter of rank 4 on the 4 `c_attn` modules for 10 steps, and only it: "
            "GPT-2's own weights stayed frozen.",
    hints=["`trainer_for(model, folder, max_steps=10)` builds the Trainer; nothing trains until `.train()`.",
           "Wrap first: `get_peft_model(load_model('gpt2-mini'), LoraConfig(...))`."],
    solution_text="Build the Trainer, keep it, then train it: `train()` returns a summary, not the Trainer.",
    solution_code=f"{_SMALL}torch.manual_seed(0)  # lora_A starts random\nmy_model = {_WRAP}\n"
                  "my_trainer = trainer_for(my_model, workdir / \"exercise\", max_steps=10)\nmy_trainer.train()",
    slips=[
        Slip(f"{_SMALL}my_trainer = trainer_for({_WRAP}, workdir / \"slip\", max_steps=10).train()", "train_output"),
        Slip(f"{_SMALL}my_trainer = trainer_for({_WRAP}, workdir / \"slip\", max_steps=10)", "not_trained"),
        Slip("my_trainer = trainer_for(load_model(\"gpt2-mini\"), workdir / \"slip-full\", max_steps=10)\n"
             "my_trainer.train()", "full_finetune"),
    ],
)

q5 = TaskQuestion(
    id="02.save_adapter",
    prompt="Save only the adapter of `model` (the one trained in section 2) into a new folder, and pass that "
           "folder.",
    diagnose=diagnose_saved_adapter,
    success="The folder holds the adapter as PEFT writes it, adapter_config.json and adapter_model.safetensors "
            "(README.md is PEFT's model card), with trained weights.",
    hints=["Which object's save_pretrained writes only the adapter: the PeftModel's, or the base model's?",
           "Section 6 saved your adapter the same way."],
    solution_text="The PeftModel's save_pretrained writes the adapter only (trainer.save_model does too, "
                  "plus training_args.bin).",
    solution_code='my_folder = workdir / "my_save"\nmodel.save_pretrained(my_folder)',
    slips=[
        Slip('my_folder = workdir / "slip-base"\nmodel.base_model.save_pretrained(my_folder)', "full_model"),
        Slip('my_folder = workdir / "slip-pickle"\nmy_folder.mkdir()\n'
             'torch.save(model.state_dict(), my_folder / "adapter.pt")', "pickle"),
        Slip('my_folder = workdir / "slip-fresh"\nfresh_model().save_pretrained(my_folder)', "untrained"),
    ],
)
