"""What an adapter saves: LoRA on a frozen base against its full-model counterpart, measured side by side.

For each target set (r=8 on `c_attn`, as in the lesson card, and a larger one) two adapters,
"sentiment" and "ner", are saved with PEFT's `save_pretrained`; their full-model counterparts are
the same adapters merged (`merge_and_unload`) and saved with transformers' `save_pretrained`, which
is what a full fine-tune of the same change would have to store. Then, in one run:

- bytes on disk: adapter folder vs full checkpoint folder;
- save time: `PeftModel.save_pretrained` vs `PreTrainedModel.save_pretrained`;
- load time: `PeftModel.from_pretrained` onto an already loaded base vs `from_pretrained` of the full model;
- task switch: `set_adapter` vs `load_adapter` of another adapter from disk vs loading another full model;
- inference, ms per generated token: unmerged adapter vs merged model vs base;
- one mixed batch (`generate(..., adapter_names=[...])`, PEFT's mixed-adapter batches) vs the same rows
  run adapter by adapter with `set_adapter`.

Adapters are initialised with `init_lora_weights=False` (random A and B, so B is not zero): the
merged model then differs from the base, and the checks below (merged == unmerged, mixed batch ==
one adapter at a time) could fail. Files are read once before the load timings, so both sides are
timed with the operating system's file cache warm. The sides of each comparison take turns
(`timing.compare`), so load from other work on the machine falls on all of them alike.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, PreTrainedModel

from adapterlab.files import file_sizes
from adapterlab.models import load_model
from benchmarks.timing import Case, compare, scale

# label -> GPT-2 module names LoRA wraps. `c_proj` matches both attn.c_proj and mlp.c_proj.
TARGET_SETS = {
    "c_attn": ["c_attn"],
    "c_attn+c_proj+c_fc": ["c_attn", "c_proj", "c_fc"],
}
RANK, ALPHA = 8, 16  # the lesson card's r and lora_alpha
ADAPTERS = ("sentiment", "ner")  # names must not be substrings of PEFT's "lora_" prefix (PEFT warns)


def lora_config(targets: list[str], r: int = RANK) -> LoraConfig:
    """Returns the LoRA config for GPT-2's Conv1D layers, with B initialised non-zero (see module doc)."""
    return LoraConfig(r=r, lora_alpha=ALPHA, target_modules=targets, fan_in_fan_out=True,
                      task_type="CAUSAL_LM", init_lora_weights=False)


def _adapter_path(folder: Path, name: str) -> Path:
    # PEFT's save_pretrained writes a non-"default" adapter into a sub-folder named after it.
    return folder / name


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def _generate(model: Any, ids: torch.Tensor, new_tokens: int, **kwargs: Any) -> torch.Tensor:
    # min_new_tokens == max_new_tokens: every run writes exactly `new_tokens`, end-of-text or not.
    return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                          min_new_tokens=new_tokens, do_sample=False, pad_token_id=0, **kwargs)


def build_pair(base: str, targets: list[str], folder: Path) -> dict[str, Path]:
    """Saves adapters ADAPTERS (seeded) and their merged full models under `folder`; returns their paths."""
    paths = {}
    for seed, name in enumerate(ADAPTERS):
        torch.manual_seed(seed)
        model = get_peft_model(load_model(base), lora_config(targets), adapter_name=name)
        model.save_pretrained(folder / f"adapter_{name}", selected_adapters=[name])
        paths[f"adapter_{name}"] = _adapter_path(folder / f"adapter_{name}", name)
        merged = model.merge_and_unload()
        merged.save_pretrained(folder / f"full_{name}")
        paths[f"full_{name}"] = folder / f"full_{name}"
        del model, merged
    return paths


def _load_full(folder: Path) -> PreTrainedModel:
    return AutoModelForCausalLM.from_pretrained(folder).eval()


def measure_set(base: str, targets: list[str], reps: int, new_tokens: int, prompt_tokens: int = 16,
                rows: int = 4) -> dict[str, Any]:
    """Measures one target set on base model `base`; every time is a `timing.summary` over `reps` runs."""
    with tempfile.TemporaryDirectory(prefix="adapterlab-bench-") as tmp:
        folder = Path(tmp)
        paths = build_pair(base, targets, folder)
        peft = PeftModel.from_pretrained(load_model(base), paths["adapter_sentiment"], adapter_name="sentiment")
        peft.load_adapter(paths["adapter_ner"], adapter_name="ner")
        peft.set_adapter("sentiment")
        merged = _load_full(paths["full_sentiment"])
        plain = load_model(base)
        out: dict[str, Any] = {"targets": targets, "r": RANK, "lora_alpha": ALPHA}
        out["params"] = {
            "base": sum(p.numel() for p in plain.parameters()),
            "adapter": sum(p.numel() for n, p in peft.named_parameters() if n.endswith(".sentiment.weight")),
        }
        adapter_files = file_sizes(folder / "adapter_sentiment")
        full_files = file_sizes(paths["full_sentiment"])
        out["bytes"] = {"adapter": sum(adapter_files.values()), "full": sum(full_files.values()),
                        "adapter_files": adapter_files, "full_files": full_files}

        save_dir = folder / "save"
        out["save"] = compare({
            "adapter": Case(lambda d: peft.save_pretrained(d, selected_adapters=["sentiment"]),
                            setup=lambda: _fresh(save_dir)),
            "full": Case(lambda d: merged.save_pretrained(d), setup=lambda: _fresh(save_dir)),
        }, reps)
        shutil.rmtree(save_dir, ignore_errors=True)

        # One untimed load of each first, so both are timed with the file cache warm.
        PeftModel.from_pretrained(load_model(base), paths["adapter_sentiment"])
        _load_full(paths["full_sentiment"])
        out["load"] = compare({
            "adapter": Case(lambda b: PeftModel.from_pretrained(b, paths["adapter_sentiment"]),
                            setup=lambda: load_model(base)),
            "full": Case(lambda _: _load_full(paths["full_sentiment"])),
        }, reps)

        def other_adapter() -> str:
            return "ner" if peft.active_adapter == "sentiment" else "sentiment"

        def reload(_: Any) -> None:
            peft.load_adapter(paths["adapter_ner"], adapter_name="ner_again")
            peft.set_adapter("ner_again")

        def unload(_: Any) -> None:
            peft.set_adapter("sentiment")
            peft.delete_adapter("ner_again")

        _load_full(paths["full_ner"])
        out["switch"] = compare({
            "set_adapter": Case(peft.set_adapter, setup=other_adapter),
            "load_adapter": Case(reload, teardown=unload),
            "load_full": Case(lambda _: _load_full(paths["full_ner"])),
        }, reps)
        peft.set_adapter("sentiment")

        generator = torch.Generator().manual_seed(0)
        vocab = plain.config.vocab_size
        ids = torch.randint(0, vocab, (1, prompt_tokens), generator=generator)
        with torch.no_grad():
            diff = (peft(ids).logits - merged(ids).logits).abs().max().item()
            moved = (peft(ids).logits - plain(ids).logits).abs().max().item()
        if not diff < 1e-3 < moved:
            raise AssertionError(f"merged and unmerged logits differ by {diff:.2g} (base by {moved:.2g}): "
                                 "the merged model is not the adapter's full counterpart.")
        models = {"base": plain, "unmerged": peft, "merged": merged}
        for model in models.values():
            _generate(model, ids, new_tokens)  # warm-up
        stats = compare({label: Case(lambda _, m=model: _generate(m, ids, new_tokens))
                         for label, model in models.items()}, reps)
        out["inference"] = {label: scale(stat, 1e3 / new_tokens, "ms/token") for label, stat in stats.items()}

        batch = torch.randint(0, vocab, (rows, prompt_tokens), generator=generator)
        names = [ADAPTERS[i % len(ADAPTERS)] for i in range(rows)]

        def mixed(_: Any) -> torch.Tensor:
            return _generate(peft, batch, new_tokens, adapter_names=names)

        def one_at_a_time(_: Any) -> torch.Tensor:
            result = torch.empty(rows, prompt_tokens + new_tokens, dtype=batch.dtype)
            for name in ADAPTERS:
                picked = [i for i, n in enumerate(names) if n == name]
                peft.set_adapter(name)
                result[picked] = _generate(peft, batch[picked], new_tokens)
            peft.set_adapter("sentiment")
            return result

        if not torch.equal(mixed(None), one_at_a_time(None)):  # also the warm-up
            raise AssertionError("a mixed-adapter batch wrote other tokens than the same rows run one adapter "
                                 "at a time.")
        out["mixed_batch"] = {**compare({"mixed": Case(mixed), "one_adapter_at_a_time": Case(one_at_a_time)}, reps),
                              "rows": rows, "adapters": names}
        out["checks"] = {"merged_vs_unmerged_max_abs_logit_diff": diff, "unmerged_vs_base_max_abs_logit_diff": moved,
                         "mixed_batch_equals_one_at_a_time": True}
        return out


def run(base: str = "gpt2", reps: int = 5, new_tokens: int = 32, prompt_tokens: int = 16,
        target_sets: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Runs every target set on `base`; returns the 'adapters' section of docs/benchmarks.json."""
    sets = TARGET_SETS if target_sets is None else target_sets
    return {"base": base, "reps": reps, "new_tokens": new_tokens, "prompt_tokens": prompt_tokens,
            "sets": {label: measure_set(base, targets, reps, new_tokens, prompt_tokens)
                     for label, targets in sets.items()}}
