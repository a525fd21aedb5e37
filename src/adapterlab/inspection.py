"""Describe a saved adapter from its files alone: its config and its weights file's safetensors header.

Everything an adapter card needs (names, shapes, dtypes, parameter count, size) is in the header, which
`adapterlab.safetensors_format.read_tensors` reads and checks (8 + N bytes whatever the file's size; never
a tensor). Nothing is unpickled: a legacy `adapter_model.bin` (torch.save, i.e. pickle) is refused, not
opened. A file that holds no tensors at all (40 bytes: the length prefix and
`{"__metadata__":{"format":"pt"}}`, what `save_pretrained` writes for a PeftModel whose LoRA layers
`merge_and_unload` removed) is refused too: PEFT itself loads such a file with no more than a warning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from adapterlab.adapter_files import (
    CONFIG_NAME,
    SAFETENSORS_WEIGHTS_NAME,
    WEIGHTS_NAME,
    AdapterFileError,
    read_adapter_config,
)
from adapterlab.safetensors_format import TensorInfo, read_tensors
from adapterlab.tables import format_table

__all__ = ["AdapterFileError", "AdapterReport", "TensorInfo", "inspect_adapter"]


@dataclass(frozen=True)
class AdapterReport:
    """What a saved adapter is, from `adapter_config.json` and the weights file's header."""

    weights_file: str
    peft_type: str | None
    base_model: str | None
    r: int | None
    lora_alpha: float | None
    target_modules: list[str] | str | None
    task_type: str | None
    n_tensors: int
    n_params: int
    dtypes: dict[str, int]  # dtype name -> number of tensors
    file_size: int  # bytes on disk
    data_bytes: int  # predicted from the shapes: sum of numel * bytes per element
    header_bytes: int  # the 8-byte length prefix plus the JSON header
    tensors: list[TensorInfo] = field(repr=False, default_factory=list)

    @property
    def predicted_size(self) -> int:
        """The file size predicted from the shapes and the header: equals `file_size` for a sound file."""
        return self.header_bytes + self.data_bytes

    def as_dict(self) -> dict:
        """The report without the per-tensor list, for JSON."""
        return {k: v for k, v in asdict(self).items() if k != "tensors"}

    def __str__(self) -> str:
        targets = self.target_modules
        rows = {
            "weights file": self.weights_file,
            "adapter type": self.peft_type or f"(no {CONFIG_NAME})",
            "base model": self.base_model,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "target modules": ", ".join(targets) if isinstance(targets, list) else targets,
            "task type": self.task_type,
            "tensors": self.n_tensors,
            "parameters": f"{self.n_params:,}",
            "dtypes": ", ".join(f"{k} x{v}" for k, v in self.dtypes.items()),
            "file size": f"{self.file_size:,} bytes",
            "predicted from shapes": f"{self.data_bytes:,} bytes of tensors + {self.header_bytes:,} of header",
            "header overhead": f"{self.header_bytes / self.file_size:.1%}" if self.file_size else "-",
        }
        return format_table(list(rows.items()), style="plain")


def _locate(path: Path) -> tuple[Path, Path | None]:
    """Returns (weights file, config file or None) for an adapter folder or a weights file."""
    if path.is_file():
        config = path.with_name(CONFIG_NAME)
        return path, config if config.is_file() else None
    if not path.is_dir():
        raise AdapterFileError(path, "no such file or folder.")
    weights, config = path / SAFETENSORS_WEIGHTS_NAME, path / CONFIG_NAME
    if not weights.is_file():
        if (path / WEIGHTS_NAME).is_file():
            raise AdapterFileError(path / WEIGHTS_NAME, "is the legacy pickle format, which inspect never "
                                   "unpickles; re-save the adapter with save_pretrained(..., safe_serialization=True).")
        raise AdapterFileError(path, f"has no {SAFETENSORS_WEIGHTS_NAME}; is this a saved adapter folder?")
    if not config.is_file():
        raise AdapterFileError(path, f"has {SAFETENSORS_WEIGHTS_NAME} but no {CONFIG_NAME}; save the adapter with "
                               "save_pretrained, which writes both.")
    return weights, config


def inspect_adapter(path: str | Path) -> AdapterReport:
    """Describes the adapter saved at `path` (a folder from `save_pretrained`, or a .safetensors file).

    Raises:
        AdapterFileError: the folder or a file is missing, corrupt, lies about its sizes, is a pickle, or
            holds no tensors.
    """
    weights, config_path = _locate(Path(path))
    n, tensors, _ = read_tensors(weights)
    if not tensors:
        raise AdapterFileError(weights, f"holds no tensors (a {weights.stat().st_size:,}-byte file with an empty "
                               "header): it was saved from a model with no LoRA layers left, as after "
                               "merge_and_unload(); save the adapter before merging.")
    config = read_adapter_config(config_path) if config_path else {}
    dtypes: dict[str, int] = {}
    for t in tensors:
        dtypes[t.dtype] = dtypes.get(t.dtype, 0) + 1
    targets = config.get("target_modules")
    return AdapterReport(
        weights_file=weights.name,
        peft_type=config.get("peft_type"),
        base_model=config.get("base_model_name_or_path"),
        r=config.get("r"),
        lora_alpha=config.get("lora_alpha"),
        target_modules=sorted(targets) if isinstance(targets, list) else targets,
        task_type=config.get("task_type"),
        n_tensors=len(tensors),
        n_params=sum(t.numel for t in tensors),
        dtypes=dtypes,
        file_size=weights.stat().st_size,
        data_bytes=sum(t.n_bytes for t in tensors),
        header_bytes=8 + n,
        tensors=tensors,
    )
