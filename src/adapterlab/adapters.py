"""The small trained adapters the package ships, on `gpt2-mini`: two task adapters and two demo adapters.

- `trained_adapter(task)`: notebook 05's adapters, one per task of `adapterlab.tasks` ('spanish_sentiment'
  and 'english_ner'), each exactly what PEFT's `save_pretrained` writes (`adapter_config.json` and
  `adapter_model.safetensors`), plus `adapterlab_build.json` with its held-out accuracy and losses.
- `demo_adapters()`: notebook 06's 'english' and 'spanish' adapters, to merge.

Load them the real way: `PeftModel.from_pretrained(load_model("gpt2-mini"), folder)` or
`peft_model.load_adapter(folder, adapter_name=...)`. They were made by `adapterlab.recipes` and ship
with the `gpt2-mini` they were trained on, so they can never go stale against their base.
"""

from __future__ import annotations

from pathlib import Path

from adapterlab.cache import read_stamp
from adapterlab.models import SHIPPED
from adapterlab.tasks import TASKS

TASK_ADAPTERS = SHIPPED / "adapters"
DEMO_ADAPTER_DIR = SHIPPED / "demo-adapters"
DEMO_ADAPTERS = ("english", "spanish")


def trained_adapter(task: str) -> Path:
    """Returns the folder of the shipped LoRA adapter for `task` ('spanish_sentiment' or 'english_ner')."""
    if task not in TASKS:
        raise ValueError(f"No adapter for task {task!r}: the workbook ships {' and '.join(map(repr, TASKS))}.")
    return TASK_ADAPTERS / task


def training_record(task: str) -> dict:
    """Returns what the training of `task`'s adapter recorded: its held-out accuracy and training losses.

    The record is the folder's `adapterlab_build.json`, which the model cache also reads as a build's stamp.
    """
    return read_stamp(trained_adapter(task))




def demo_adapters() -> dict[str, Path]:
    """Returns {name: folder} of the two demo adapters, 'english' and 'spanish', trained a few seconds each."""
    return {name: DEMO_ADAPTER_DIR / name for name in DEMO_ADAPTERS}
