"""Claims deep dive 02b (checkpoints and resuming) states about how transformers and PEFT are written.

The notebook tells the learner what `trainer.train(resume_from_checkpoint=...)` restores, what AdamW keeps and
how `load_best_model_at_end` picks a checkpoint; where in the pinned libraries that happens is asserted here,
not in a learner's cell. Its exercise 02b.keep_best is run, with its slips, by the solved run.
"""

import inspect

import torch
from peft import LoraConfig, get_peft_model
from tests.common import tiny_gpt2
from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import TrainOutput

from adapterlab.questions import nb02b


def _source(function) -> str:
    return inspect.getsource(function)


def test_resume_loads_the_adapter_from_the_checkpoint_folder():
    """Resuming loads `adapter_model.safetensors` into the model (transformers 5.23.0,
    `Trainer._load_from_checkpoint`, called by `Trainer.train` when given `resume_from_checkpoint`)."""
    assert "self._load_from_checkpoint(resume_from_checkpoint" in _source(Trainer.train)
    loader = _source(Trainer._load_from_checkpoint)
    assert "ADAPTER_SAFE_WEIGHTS_NAME" in loader and "load_adapter" in loader


def test_resume_restores_optimizer_schedule_batches_and_random_state():
    """The training loop restores AdamW's moments and the schedule (`optimizer.pt`, `scheduler.pt`), then, each
    epoch, skips the batches already seen unless `ignore_data_skip`, and restores the random generators
    (`rng_state.pth`) after that skip (transformers 5.23.0: `Trainer._inner_training_loop` calls
    `_prepare_for_training` and `_run_epoch`)."""
    loop = _source(Trainer._inner_training_loop)
    assert "self._prepare_for_training(" in loop and "self._run_epoch(" in loop
    assert "self._load_optimizer_and_scheduler(resume_from_checkpoint)" in _source(Trainer._prepare_for_training)
    epoch = _source(Trainer._run_epoch)
    skip = epoch.index("skip_first_batches(train_dataloader, steps_trained_in_current_epoch)")
    assert "not self.args.ignore_data_skip" in epoch[skip - 200 : skip]
    assert epoch.index("self._load_rng_state(resume_from_checkpoint)", skip) > skip
    restore = _source(Trainer._load_optimizer_and_scheduler)
    assert "OPTIMIZER_NAME" in restore and "SCHEDULER_NAME" in restore
    assert "rng_state" in _source(Trainer._load_rng_state)


def test_adamw_moments_take_the_parameters_dtype():
    """AdamW's two moments are `zeros_like` the parameter: a bfloat16 parameter gets bfloat16 moments."""
    weight = torch.nn.Parameter(torch.ones(4, dtype=torch.bfloat16))
    optimizer = torch.optim.AdamW([weight], lr=0.1)
    weight.grad = torch.ones_like(weight)
    optimizer.step()
    state = optimizer.state[weight]
    assert state["exp_avg"].dtype == state["exp_avg_sq"].dtype == torch.bfloat16


def test_peft_upcasts_a_half_precision_adapter_to_float32():
    """On a float16 base, `get_peft_model` makes the LoRA weights float32 (`autocast_adapter_dtype=True`, the
    default), so their AdamW moments are float32 too; with the flag off they stay float16."""
    config = dict(r=2, target_modules=["c_attn"], fan_in_fan_out=True)
    upcast = get_peft_model(tiny_gpt2().half(), LoraConfig(**config))
    kept = get_peft_model(tiny_gpt2().half(), LoraConfig(**config), autocast_adapter_dtype=False)
    assert {p.dtype for n, p in upcast.named_parameters() if "lora_" in n} == {torch.float32}
    assert {p.dtype for n, p in kept.named_parameters() if "lora_" in n} == {torch.float16}


def test_load_best_judges_by_the_loss_lower_is_better(tmp_path):
    """`load_best_model_at_end=True` alone sets `metric_for_best_model='loss'` and `greater_is_better=False`
    (what 02b.keep_best's solution relies on); a metric named '...loss' is lower-is-better by default too."""
    args = TrainingArguments(output_dir=tmp_path, load_best_model_at_end=True, eval_strategy="steps",
                             save_strategy="steps", report_to="none")
    assert (args.metric_for_best_model, args.greater_is_better) == ("loss", False)
    named = TrainingArguments(output_dir=tmp_path, metric_for_best_model="eval_loss", report_to="none")
    assert named.greater_is_better is False


def test_keep_best_check_names_what_it_can_tell_without_training():
    """02b.keep_best: a TrainOutput, something that is not a Trainer and None are each named."""
    assert nb02b.q3.check(TrainOutput(10, 2.0, {})).mistake == "train_output"
    assert nb02b.q3.check("trainer").mistake == "not_trainer"
    assert not nb02b.q3.check(None).correct
