"""adapterlab: the helper package of the LoRA adapter workbook.

Importing it calls `use_workbook_defaults()`, and that is all the import changes: it sets three
environment variables the notebooks need, each only where you have not set it yourself, and one
warning filter. Import it before transformers or peft for the variables to take effect.
"""

import os
import warnings

__version__ = "0.1.0"

# What the notebooks need, and why. `setdefault`: a value you set yourself always wins.
WORKBOOK_ENVIRONMENT = {
    # Every model is built or shipped locally: a hub call would only wait on a network the workbook never
    # needs. Set HF_HUB_OFFLINE=0 before importing adapterlab to use the hub (README: the real GPT-2).
    "HF_HUB_OFFLINE": "1",
    # Download bars, and transformers' "Loading weights" bar on every from_pretrained, fill notebook outputs.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    # The Rust tokenizer warns at every fork after it used threads (Jupyter and the Trainer fork).
    "TOKENIZERS_PARALLELISM": "false",
}
# Not set: TRANSFORMERS_VERBOSITY. Transformers' warnings are the ones a learner meets at work, so the
# notebooks show them; a cell that filters one says which and why, locally.
# PEFT 0.21.2's PeftModel.__init__ reads transformers' deprecated `is_gradient_checkpointing`: a
# FutureWarning on every get_peft_model that nothing a learner writes can change.
GRADIENT_CHECKPOINTING_WARNING = "`is_gradient_checkpointing` is deprecated"


def use_workbook_defaults() -> dict[str, str]:
    """Sets the environment the notebooks need where it is unset, and the one warning filter; idempotent.

    Returns:
        The variables this call set (empty when they were all set already, e.g. on a second call).
    """
    changed = {name: value for name, value in WORKBOOK_ENVIRONMENT.items() if name not in os.environ}
    os.environ.update(changed)
    if not any(f[0] == "ignore" and f[1] is not None and f[1].pattern == GRADIENT_CHECKPOINTING_WARNING
               for f in warnings.filters):
        warnings.filterwarnings("ignore", message=GRADIENT_CHECKPOINTING_WARNING, category=FutureWarning)
    return changed


use_workbook_defaults()
