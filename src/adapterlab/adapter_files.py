"""A saved adapter's folder: PEFT's file names, whether a folder holds a complete adapter, and its config.

The names are PEFT's own constants (`peft.utils`), so they cannot drift from what `save_pretrained`
writes: `adapter_config.json` and `adapter_model.safetensors` (or the legacy pickle `adapter_model.bin`,
written with `safe_serialization=False`).
"""

from __future__ import annotations

import json
from pathlib import Path

from peft.utils import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME, WEIGHTS_NAME

__all__ = ["CONFIG_NAME", "SAFETENSORS_WEIGHTS_NAME", "WEIGHTS_NAME", "AdapterFileError", "is_complete_adapter",
           "read_adapter_config"]


class AdapterFileError(ValueError):
    """A saved adapter cannot be read; the message names the file and says what is wrong."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def read_adapter_config(path: str | Path) -> dict:
    """Returns the adapter config PEFT wrote, from its `adapter_config.json` or the folder holding it.

    Raises:
        AdapterFileError: the file is missing, is not JSON, or is not a PEFT adapter config.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterFileError(path, "no such file.") from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting
        raise AdapterFileError(path, f"is not valid JSON ({type(exc).__name__}); the adapter config is corrupt.")\
            from None
    if not isinstance(config, dict) or "peft_type" not in config:
        raise AdapterFileError(path, "has no 'peft_type'; it is not a PEFT adapter config.")
    return config


def is_complete_adapter(folder: str | Path) -> bool:
    """Returns True if `folder` holds a saved adapter: both of PEFT's files, non-empty, and a config PEFT wrote."""
    folder = Path(folder)
    files = [folder / CONFIG_NAME, folder / SAFETENSORS_WEIGHTS_NAME]
    if not all(f.is_file() and f.stat().st_size > 0 for f in files):
        return False
    try:
        read_adapter_config(folder)
    except (OSError, AdapterFileError):
        return False
    return True
