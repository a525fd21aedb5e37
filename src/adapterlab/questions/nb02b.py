"""Check your understanding: deep dive 02b (checkpoints, resuming, keeping the best checkpoint)."""

from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers.trainer_utils import TrainOutput

from adapterlab.adapter_files import SAFETENSORS_WEIGHTS_NAME
from adapterlab.exercises import ChoiceQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.questions.nb02 import which_split

q1 = ValueQuestion(
    id="02b.adam_bytes",
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
    hints=["Section 1: 2 moments x 4 bytes per trainable parameter.",
           "Only trainable parameters have optimizer state; GPT-2's own weights are frozen."],
    solution_text="294,912 x 2 moments x 4 bytes = 2,359,296 bytes (2.36 MB); full fine-tuning needs 995.5 MB.",
    alternatives=["2,359,296", 2.359296e6],
    other_wrong=[294_912 * 2, 294_912 * 8 * 4],
)

q2 = ChoiceQuestion(
    id="02b.resume_order",
    prompt="A 40-step run stopped after step 20 is resumed from checkpoint-20. Why does it train on the same "
           "batches 21 to 40 as the run that was never stopped?",
    choices={
        "a": ("The checkpoint stores the batches still to come.",
              "No: nothing of the data is in a checkpoint (look at its files in section 1)."),
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
    hints=["Section 2 lists what resuming restores."],
    solution_text="(b): same seed, same epoch, same order; the batches already trained on are skipped.",
    alternatives=["B", " b "],
)


def diagnose_best(trainer: Any) -> tuple[str, str] | None:
    """q3: a Trainer whose model, after training, is the adapter of the checkpoint with the lowest held-out loss."""
    if isinstance(trainer, TrainOutput):
        return ("train_output", "That is what `train()` returns (a TrainOutput). Keep the Trainer: "
                                "`my_best = trainer_for(...)`, then `my_best.train()`.")
    if not all(hasattr(trainer, name) for name in ("state", "model", "args")):
        return "not_trainer", f"Pass the Trainer (it has .model, .args and .state), not {type(trainer).__name__}."
    if not isinstance(trainer.model, PeftModel):
        return "not_peft", f"The Trainer's model is a {type(trainer.model).__name__}; train a fresh PeftModel."
    if trainer.state.global_step == 0:
        return "not_trained", "It has not trained: global_step is 0. Call `my_best.train()`."
    evals = [(log["step"], log["eval_loss"]) for log in trainer.state.log_history if "eval_loss" in log]
    if not evals:
        return ("no_eval", "No held-out loss was logged, so there is no best step to keep: pass "
                           "`eval_examples=held_out` with the overfit settings (eval_strategy='steps').")
    if trainer.eval_dataset is None or which_split(trainer, trainer.eval_dataset) != "test":
        return ("eval_data", "The losses were measured on other examples than the 60 held-out ones: the best "
                             "checkpoint by them is not the one that does best on new sentences. Pass "
                             "`eval_examples=held_out`.")
    best_step, best_loss = min(evals, key=lambda step_loss: step_loss[1])
    folder = Path(trainer.args.output_dir) / f"checkpoint-{best_step}"
    if not (folder / SAFETENSORS_WEIGHTS_NAME).is_file():
        return ("no_checkpoint", f"The held-out loss was lowest at step {best_step} ({best_loss:.2f}), and there is "
                                 "no checkpoint of that step: save at every evaluation (save_steps equal to "
                                 "eval_steps), or only the best (save_strategy='best').")
    saved = load_file(folder / SAFETENSORS_WEIGHTS_NAME)
    live = {name.replace(".default", ""): p.detach() for name, p in trainer.model.named_parameters()
            if ".lora_" in name}
    if saved.keys() == live.keys() and all(torch.equal(saved[k], live[k].to(saved[k].dtype)) for k in saved):
        return None
    kept = trainer.state.best_model_checkpoint
    if kept and Path(kept).name != folder.name:
        losses = dict(evals)
        step = int(Path(kept).name.split("-")[-1])
        return ("worst", f"Trainer kept {Path(kept).name}, where the held-out loss was "
                         f"{losses.get(step, float('nan')):.2f}, not {folder.name} ({best_loss:.2f}): for a loss, "
                         "lower is better (greater_is_better=False, the default when the metric's name ends in "
                         "'loss').")
    if not trainer.args.load_best_model_at_end:
        return ("not_loaded", f"The model is the last step's adapter; the held-out loss was lowest at step "
                              f"{best_step}. `load_best_model_at_end=True` loads the best checkpoint back when "
                              "training ends.")
    return "not_best", f"The Trainer's model is not the adapter saved in {folder.name}, the best step's."


_TRAIN = "my_best = trainer_for(fresh_model(), workdir / {folder!r}, eval_examples=held_out{extra}, **overfit)\n"


def _run(folder: str, extra: str = "", train: str = "my_best.train()") -> str:
    return _TRAIN.format(folder=folder, extra=extra) + train


q3 = TaskQuestion(
    id="02b.keep_best",
    prompt="Train a fresh adapter with `trainer_for` on the overfitting run (`**overfit`, held-out examples as "
           "eval_examples) so that at the end the Trainer's model is the adapter of the checkpoint with the "
           "lowest held-out loss. Keep the Trainer in `my_best`.",
    diagnose=diagnose_best,
    success="Trainer saved a checkpoint at each evaluation, kept track of the lowest held-out loss, and loaded "
            "that checkpoint's adapter back at the end: the adapter before it learned the mislabeled examples.",
    hints=["One argument of TrainingArguments loads the best checkpoint back at the end; by default it judges by "
           "the held-out loss.",
           "`trainer_for(fresh_model(), folder, eval_examples=held_out, load_best_model_at_end=True, **overfit)`, "
           "then `.train()`."],
    solution_text="load_best_model_at_end=True: metric_for_best_model defaults to the loss, lower is better, and "
                  "with save_steps equal to eval_steps every evaluated step has its checkpoint.",
    solution_code=_run("best", ", load_best_model_at_end=True"),
    slips=[
        Slip(_run("slip-output", ", load_best_model_at_end=True", "my_best = my_best.train()"), "train_output"),
        Slip(_run("slip-untrained", ", load_best_model_at_end=True", "my_best.args.max_steps"), "not_trained"),
        Slip(_run("slip-last"), "not_loaded"),
        Slip(_run("slip-worst", ", load_best_model_at_end=True, metric_for_best_model='eval_loss', "
                                "greater_is_better=True"), "worst"),
        Slip(_run("slip-nosave", ", save_strategy='no'"), "no_checkpoint"),
        Slip(_run("slip-evaltrain", ", load_best_model_at_end=True").replace("eval_examples=held_out",
                                                                              "eval_examples=few"), "eval_data"),
    ],
    alternatives=[
        _run("best-explicit", ", load_best_model_at_end=True, metric_for_best_model='eval_loss', "
                              "greater_is_better=False"),
        _run("best-only", ", save_strategy='best', metric_for_best_model='loss', load_best_model_at_end=True"),
    ],
)
