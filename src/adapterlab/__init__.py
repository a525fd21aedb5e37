"""adapterlab: the helper package of the LoRA adapter workbook.

Importing it switches the Hugging Face hub to offline mode (unless HF_HUB_OFFLINE is already set),
so nothing waits on a network this workbook never needs, and quiets progress bars that would fill
notebook outputs. Import it before transformers or peft for that to take effect.
"""

import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

# PEFT 0.21.2 calls transformers' deprecated `is_gradient_checkpointing`; a learner cannot change that.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

__version__ = "0.1.0"
