"""adapterlab: the helper package of the LoRA adapter workbook.

Importing it calls `use_workbook_defaults()`, and that is all the import changes: it sets three
environment variables the notebooks need, each only where you have not set it yourself, and one
warning filter and one log filter. Import it before transformers or peft for the variables and the log
filter to take effect.
"""

import logging
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
# bitsandbytes 0.50.2, which `import peft` imports, logs at import on a CPU with AVX512-BF16 that it could not
# fetch a faster 4-bit kernel through the optional `kernels` package ("Failed to load CPU gemm_4bit_forward
# from kernels-community: No module named 'kernels'"). It then uses its own built-in CPU kernel; `kernels`
# would download from the hub, which the workbook never does. Nothing for a learner to act on in any notebook.
BITSANDBYTES_KERNELS_LOGGER = "bitsandbytes.backends.cpu.ops"
BITSANDBYTES_KERNELS_MESSAGE = "Failed to load CPU gemm_4bit_forward from kernels-community"


def _not_the_kernels_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(BITSANDBYTES_KERNELS_MESSAGE)


def use_workbook_defaults() -> dict[str, str]:
    """Sets the environment the notebooks need where it is unset, the warning and the log filter; idempotent.

    Returns:
        The variables this call set (empty when they were all set already, e.g. on a second call).
    """
    changed = {name: value for name, value in WORKBOOK_ENVIRONMENT.items() if name not in os.environ}
    os.environ.update(changed)
    if not any(f[0] == "ignore" and f[1] is not None and f[1].pattern == GRADIENT_CHECKPOINTING_WARNING
               for f in warnings.filters):
        warnings.filterwarnings("ignore", message=GRADIENT_CHECKPOINTING_WARNING, category=FutureWarning)
    kernels_logger = logging.getLogger(BITSANDBYTES_KERNELS_LOGGER)
    if _not_the_kernels_notice not in kernels_logger.filters:
        kernels_logger.addFilter(_not_the_kernels_notice)
    return changed


use_workbook_defaults()
