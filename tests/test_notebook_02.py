"""Claims notebook 02 (training an adapter) states about how transformers and PEFT are written.

The notebook tells the learner what `trainer.train(resume_from_checkpoint=...)` restores and what AdamW
keeps; where in the pinned libraries that happens is asserted here, not in a learner's cell.
"""

import inspect

import torch
from peft import LoraConfig, get_peft_model
from tests.common import tiny_gpt2
from transformers import Trainer


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
