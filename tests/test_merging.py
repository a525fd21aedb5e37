"""adapterlab.merging: the delta by hand, drift, simulated quantization, timing and the cached demo adapters."""

import json
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from adapterlab import merging, models

TINY = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=16, vocab_size=50)
IDS = torch.tensor([[1, 5, 7, 9, 11, 13]])


def tiny_lora(target_modules=("c_attn", "c_proj", "c_fc"), seed=0):
    """A 1-layer GPT-2 with a LoRA adapter whose B is not zero, so merging changes the weights."""
    torch.manual_seed(seed)
    base = GPT2LMHeadModel(TINY).eval()
    config = LoraConfig(r=4, lora_alpha=8, target_modules=list(target_modules), fan_in_fan_out=True,
                        init_lora_weights=False)
    return get_peft_model(base, config).eval()


def test_lora_delta_is_what_the_merge_adds():
    """For every GPT-2 Conv1D layer, merged weight - original weight == lora_delta (fan_in_fan_out layout)."""
    model = tiny_lora()
    layers = merging.lora_layers(model)
    before = merging.target_weights(model)
    deltas = {name: merging.lora_delta(layer) for name, layer in layers.items()}
    model.merge_adapter()
    after = merging.target_weights(model)
    for name in layers:
        assert deltas[name].shape == before[name].shape
        assert torch.allclose(after[name] - before[name], deltas[name], atol=1e-6)
        assert deltas[name].abs().max() > 0


def test_lora_delta_for_a_linear_layer_is_not_transposed():
    """An nn.Linear target (fan_in_fan_out=False) gets B·A in the (out, in) layout, as PEFT's get_delta_weight."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 10))
    model = get_peft_model(net, LoraConfig(r=2, lora_alpha=6, target_modules=["0"], init_lora_weights=False))
    layer = merging.lora_layers(model)["base_model.model.0"]
    assert merging.lora_delta(layer).shape == (10, 6)
    assert torch.allclose(merging.lora_delta(layer), layer.get_delta_weight("default"))


def test_lora_layers_counts_targets_and_none_after_merge_and_unload():
    """lora_layers finds one layer per targeted module, and none in the model merge_and_unload returns."""
    model = tiny_lora()
    assert len(merging.lora_layers(model)) == 4  # c_attn, attn.c_proj, c_fc, mlp.c_proj
    assert merging.lora_layers(model.merge_and_unload()) == {}


def test_weight_drift_measures_and_rejects_mismatched_snapshots():
    """Identical snapshots drift 0; one changed element is counted; snapshots of different weights are refused."""
    a = {"w": torch.zeros(2, 5)}
    assert merging.weight_drift(a, {"w": torch.zeros(2, 5)}) == {"max_abs": 0.0, "changed": 0.0}
    b = {"w": torch.zeros(2, 5)}
    b["w"][1, 2] = -0.25
    assert merging.weight_drift(a, b) == {"max_abs": 0.25, "changed": 0.1}
    with pytest.raises(ValueError, match="different weights"):
        merging.weight_drift(a, {"v": torch.zeros(2, 5)})


def test_merge_roundtrip_drift_grows_as_precision_drops():
    """merge_adapter + unmerge_adapter is close in float32 and drifts more in bfloat16."""
    drift = {}
    for dtype in (torch.float32, torch.bfloat16):
        model = tiny_lora().to(dtype)
        before = merging.target_weights(model)
        model.merge_adapter()
        model.unmerge_adapter()
        drift[dtype] = merging.weight_drift(before, merging.target_weights(model))["max_abs"]
    assert drift[torch.float32] < 1e-6 < drift[torch.bfloat16]


def test_logits_are_float32_whatever_the_model_dtype():
    """logits() returns float32 logits of shape (B, T, vocab) for a bfloat16 model too."""
    out = merging.logits(tiny_lora().to(torch.bfloat16), IDS)
    assert out.dtype == torch.float32 and out.shape == (1, IDS.shape[1], TINY.vocab_size)


@settings(max_examples=40, deadline=None)
@given(bits=st.sampled_from([4, 8]), block=st.sampled_from([None, 4, 8]), seed=st.integers(0, 10_000))
def test_fake_quantize_is_a_grid_of_at_most_2_to_the_bits_levels(bits, block, seed):
    """Each block keeps its absmax, takes at most 2**bits - 1 values, and errs by at most half a step."""
    w = torch.randn(6, 16, generator=torch.Generator().manual_seed(seed))
    q = merging.fake_quantize(w, bits, block)
    rows = w.reshape(-1, block or 16)
    qrows = q.reshape(-1, block or 16)
    step = rows.abs().amax(dim=1, keepdim=True) / (2 ** (bits - 1) - 1)
    assert torch.allclose(qrows.abs().amax(dim=1), rows.abs().amax(dim=1), rtol=1e-5)
    assert all(len(torch.unique(r)) <= 2**bits - 1 for r in qrows)
    assert ((qrows - rows).abs() <= step / 2 + 1e-6).all()


def test_fake_quantize_explains_bad_arguments():
    """A block size that does not divide the row, a 1-D tensor or 1 bit are refused with the reason."""
    with pytest.raises(ValueError, match="does not divide"):
        merging.fake_quantize(torch.ones(2, 10), 4, block_size=3)
    with pytest.raises(ValueError, match="2-D weight"):
        merging.fake_quantize(torch.ones(10), 4)
    with pytest.raises(ValueError, match="2 to 16 bits"):
        merging.fake_quantize(torch.ones(2, 2), 1)


def test_map_weights_shows_conv1d_weights_in_linear_layout():
    """map_weights_ hands a Conv1D weight (in, out) to fn as (out, in), and stores fn's result back in place."""
    model = tiny_lora(target_modules=("c_attn",))
    name = next(iter(merging.lora_layers(model)))
    seen = []

    def fn(w):
        seen.append(tuple(w.shape))
        return torch.arange(w.numel(), dtype=w.dtype).reshape(w.shape)

    merging.map_weights_(model, [name], fn)
    weight = model.get_submodule(name).get_base_layer().weight
    assert seen == [(3 * TINY.n_embd, TINY.n_embd)] and weight.shape == (TINY.n_embd, 3 * TINY.n_embd)
    assert weight[0, 1].item() == 16.0  # element (out=1, in=0) of the (out, in) view


def test_forward_times_and_median_ratio_see_a_slow_model():
    """A module that sleeps 5 ms per call times slower than one that does not, in every round and by ratio."""

    class Model(nn.Module):
        def __init__(self, pause):
            super().__init__()
            self.pause = pause

        def forward(self, input_ids):
            if self.pause:
                time.sleep(self.pause)
            return input_ids

    times = merging.forward_times({"fast": Model(0), "slow": Model(0.005)}, IDS, repeats=5, warmup=1)
    assert set(times) == {"fast", "slow"} and all(len(t) == 5 for t in times.values())
    assert min(times["slow"]) >= 0.005 > max(times["fast"])
    assert merging.median_ratio(times["slow"], times["fast"]) > 10


def test_median_ratio_pairs_rounds_and_refuses_mismatched_lists():
    """The ratio is taken round by round (a slow round for both cancels out); unequal lists are refused."""
    assert merging.median_ratio([2.0, 20.0, 4.0], [1.0, 10.0, 2.0]) == 2.0
    with pytest.raises(ValueError, match="equally long"):
        merging.median_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        merging.median_ratio([], [])


def test_demo_texts_split_the_corpus_by_language():
    """The Spanish set has a Spanish marker word in every sentence, the English set in none; both are large."""
    spanish, english = merging.demo_texts("spanish"), merging.demo_texts("english")
    assert len(spanish) > 500 and len(english) > 2000
    assert all(any(m in f" {s} " for m in merging._SPANISH_MARKERS) for s in spanish)
    assert not any(any(m in f" {s} " for m in merging._SPANISH_MARKERS) for s in english)
    with pytest.raises(ValueError, match="pick one of"):
        merging.demo_texts("french")


def test_train_lora_is_deterministic_and_moves_b_away_from_zero():
    """Two runs with one seed give identical adapters, and training makes lora_B non-zero (it starts at zero)."""
    ids = torch.arange(40) % TINY.vocab_size
    config = dict(r=2, lora_alpha=4, target_modules=["c_attn"], fan_in_fan_out=True)
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        base = GPT2LMHeadModel(TINY)
        model = merging.train_lora(base, ids, LoraConfig(**config), steps=3, batch_size=2, block_size=8, lr=1e-2)
        runs.append({k: v.clone() for k, v in model.state_dict().items() if "lora_" in k})
    assert not next(iter(merging.lora_layers(model).values())).training
    assert runs[0].keys() == runs[1].keys() and all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in runs[0].items())


@pytest.fixture
def quick_cache(tmp_path, monkeypatch):
    """A private cache where 'gpt2-mini' trains for 3 steps and each demo adapter for 2."""
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(models.MINI_TRAINING, "steps", 3)
    monkeypatch.setitem(merging.DEMO_TRAINING, "steps", 2)
    models.model_dir.cache_clear()
    yield tmp_path / "cache"
    models.model_dir.cache_clear()


def test_demo_adapters_are_built_once_and_load_with_peft(quick_cache):
    """demo_adapters saves two loadable adapters, reuses them on the next call, and rebuilds a stale recipe."""
    folders = merging.demo_adapters()
    assert sorted(folders) == ["english", "spanish"]
    files = {p.name for p in folders["spanish"].iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= files
    weights = folders["spanish"] / "adapter_model.safetensors"
    stamp_time = weights.stat().st_mtime_ns
    assert merging.demo_adapters() == folders and weights.stat().st_mtime_ns == stamp_time  # reused
    model = PeftModel.from_pretrained(models.load_model("gpt2-mini"), folders["spanish"])
    assert len(merging.lora_layers(model)) == 4 * models.MINI_CONFIG["n_layer"]
    stamp = folders["spanish"].parent / "adapterlab_build.json"
    stamp.write_text(json.dumps({"recipe": merging.DEMO_RECIPE - 1}))
    merging.demo_adapters()
    assert json.loads(stamp.read_text())["recipe"] == merging.DEMO_RECIPE
    assert not [p for p in quick_cache.iterdir() if p.name.startswith(".building-")]


def test_format_table_writes_markdown():
    """Rows become a Markdown table: a header, a rule, one line per row, floats in 3 significant digits."""
    table = merging.format_table([{"a": 1, "b": 0.123456}, {"a": "x", "b": 2e-7}])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.123 |", "| x | 2e-07 |"]
    with pytest.raises(ValueError):
        merging.format_table([])
