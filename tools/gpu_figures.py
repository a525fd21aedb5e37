"""The QLoRA and device_map figures of notebooks 06b and 04c, measured on one device, written as Markdown.

The workbook never needs a GPU. Where one is at hand, this script runs the same steps the two deep dives
run on the CPU, on CUDA, and writes what it measured (numbers, not promises) to docs/gpu-figures.md:

    .venv/bin/python -m tools.gpu_figures --device cuda --out docs/gpu-figures.md

On a CPU (`--device cpu`) it measures the same rows, which is how the tests keep it working. Every row is
measured here; nothing is copied from elsewhere.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import platform
import sys
import tempfile
import warnings
from pathlib import Path

import adapterlab  # noqa: F401 - first: offline, and bitsandbytes' kernels notice dropped, before peft imports it

# isort: split
import bitsandbytes as bnb
import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

from adapterlab.models import MINI_DIR, load_tokenizer

PROMPT = "Sentimiento: El viaje a Lima fue terrible."
QLORA = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
             bnb_4bit_compute_dtype=torch.float32)


def _logits(model, ids):
    model.eval()
    with torch.no_grad():
        return model(ids.to(model.device)).logits.float().cpu()


def _gap(a, b) -> float:
    return (a - b).abs().max().item()


def quantization_rows(device: str, work: Path) -> list[tuple[str, str]]:
    """4-bit loading, the merge into 4 bits (merged before it runs), and a save and reload."""
    ids = load_tokenizer("gpt2-mini")(PROMPT, return_tensors="pt").input_ids
    def load_4bit():
        return AutoModelForCausalLM.from_pretrained(MINI_DIR, quantization_config=BitsAndBytesConfig(**QLORA),
                                                    device_map=device)

    fp32 = AutoModelForCausalLM.from_pretrained(MINI_DIR).to(device)
    base4 = load_4bit()
    packed = base4.transformer.h[0].attn.c_attn.weight
    rows = [("layer type", type(base4.transformer.h[0].attn.c_attn).__name__),
            ("get_memory_footprint()", f"{base4.get_memory_footprint():,} B"),
            ("block 0 c_attn packed weight, sha256", hashlib.sha256(packed.detach().cpu().numpy().tobytes())
             .hexdigest()[:16]),
            ("4-bit vs float32 logits", f"{_gap(_logits(base4, ids), _logits(fp32, ids)):.3f}")]
    torch.manual_seed(0)
    adapter = get_peft_model(load_4bit(), LoraConfig(r=8, target_modules=["c_attn"], init_lora_weights=False))
    adapter.save_pretrained(work / "adapter")
    served = _logits(adapter, ids)
    model = PeftModel.from_pretrained(load_4bit(), work / "adapter")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        merged = model.merge_and_unload()
    rows.append(("merge warnings", f"{len(caught)} x " + (str(caught[0].message) if caught else "none")))
    merged_logits = _logits(merged, ids)
    rows.append(("merged into 4 bits vs unmerged", f"{_gap(merged_logits, served):.3f}"))
    merged.save_pretrained(work / "merged")
    again = AutoModelForCausalLM.from_pretrained(work / "merged", device_map=device)
    rows.append(("merged, saved, reloaded vs merged", f"{_gap(_logits(again, ids), merged_logits):.4f}"))
    return rows


def device_map_rows(device: str, work: Path) -> list[tuple[str, str]]:
    """Blocks 0-1 on `device`, the rest on the CPU (or on disk, for a CPU run): where LoRA weights land."""
    far = "disk" if device == "cpu" else "cpu"
    split = {"transformer.wte": device, "transformer.wpe": device, "transformer.h.0": device,
             "transformer.h.1": device, "transformer.h.2": far, "transformer.h.3": far, "transformer.ln_f": far,
             "lm_head": far}
    def load_split():
        return AutoModelForCausalLM.from_pretrained(MINI_DIR, device_map=split, offload_folder=work / "offload")

    torch.manual_seed(0)
    get_peft_model(AutoModelForCausalLM.from_pretrained(MINI_DIR), LoraConfig(r=4, target_modules=["c_attn"],
                                                                               fan_in_fan_out=True)
                   ).save_pretrained(work / "small")
    wrapped = get_peft_model(load_split(), LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True))
    on = sorted({str(p.device) for n, p in wrapped.named_parameters() if "lora_" in n})
    rows = [(f"split: blocks 0-1 on {device}, 2-3 on {far}; get_peft_model puts LoRA weights on", ", ".join(on))]
    try:
        # peft 0.21.2 writes a copy of the checkpoint under the working folder before it fails here (notebook 04c)
        with contextlib.chdir(work):
            loaded = PeftModel.from_pretrained(load_split(), work / "small")
        on = sorted({str(p.device) for n, p in loaded.named_parameters() if "lora_" in n})
        rows.append(("PeftModel.from_pretrained puts LoRA weights on", ", ".join(on)))
    except Exception as error:  # the figure is what it raised
        rows.append(("PeftModel.from_pretrained raises", f"{type(error).__name__}: {str(error).splitlines()[0]}"))
    return rows


def report(device: str) -> str:
    """Returns the Markdown report of every row, measured on `device`."""
    with tempfile.TemporaryDirectory() as scratch:
        rows = quantization_rows(device, Path(scratch)) + device_map_rows(device, Path(scratch))
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "CPU"
    lines = [f"# QLoRA and device_map figures on {name}", "",
             f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
             f"bitsandbytes {bnb.__version__}; model gpt2-mini; made by `python -m tools.gpu_figures --device "
             f"{device}`.", "", "| what | measured |", "|---|---|"]
    lines += [f"| {what} | {value.replace('|', '/')} |" for what, value in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, help="write the report here (default: print it)")
    args = parser.parse_args(argv)
    text = report(args.device)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
