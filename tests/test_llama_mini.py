"""llama-mini: a Llama-style model of gpt2-mini's size, built into the model cache deterministically and offline."""

import json
import shutil
import socket

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM
from transformers.pytorch_utils import Conv1D

from adapterlab import cache, llama_mini, models

# Each layer's linear modules and their weights' shapes, (out, in) as nn.Linear stores them.
LAYER_SHAPES = {"self_attn.q_proj": (128, 128), "self_attn.k_proj": (64, 128), "self_attn.v_proj": (64, 128),
                "self_attn.o_proj": (128, 128), "mlp.gate_proj": (384, 128), "mlp.up_proj": (384, 128),
                "mlp.down_proj": (128, 384)}


def test_it_is_built_into_the_cache_and_stamped_with_its_tokenizer():
    """model_dir('llama-mini') is a folder in ADAPTERLAB_CACHE whose stamp names the recipe and gpt2-mini's tokenizer,
    and which holds that tokenizer's files, so the Auto classes load model and tokenizer from it alone."""
    folder = models.model_dir("llama-mini")
    assert folder == cache.cache_root() / "llama-mini"
    assert cache.is_current(folder, llama_mini.recipe(models.MINI_DIR))
    assert AutoTokenizer.from_pretrained(folder).get_vocab() == models.load_tokenizer("llama-mini").get_vocab()
    assert isinstance(AutoModelForCausalLM.from_pretrained(folder), LlamaForCausalLM)


def test_its_modules_are_linear_with_gqa_shapes():
    """Every layer has q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj as nn.Linear without bias,
    weights (out, in); k_proj and v_proj are half q_proj's width (2 key/value heads of 32 for 4 query heads); no
    Conv1D anywhere; the vocabulary is the tokenizer's; the parameter count follows from the shapes."""
    model = models.load_model("llama-mini")
    found = {}
    for name, module in model.named_modules():
        assert not isinstance(module, Conv1D), name
        if isinstance(module, nn.Linear) and name != "lm_head":
            assert module.bias is None
            found[name] = tuple(module.weight.shape)
    assert found == {f"model.layers.{i}.{kind}": shape for i in range(4) for kind, shape in LAYER_SHAPES.items()}
    config = model.config
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (4, 2, 32)
    vocab = len(models.load_tokenizer("llama-mini"))
    assert config.vocab_size == vocab and model.lm_head.weight is model.model.embed_tokens.weight  # tied
    per_layer = sum(out * d_in for out, d_in in LAYER_SHAPES.values()) + 2 * 128  # + two RMSNorm weights
    assert model.num_parameters() == vocab * 128 + 4 * per_layer + 128 == 787_584 + vocab * 128
    assert not model.training and model.dtype == torch.float32


def test_the_build_is_deterministic(tmp_path, monkeypatch):
    """Built again into another cache, llama-mini's weights file is the same, bit for bit, and so is its config."""
    first = models.model_dir("llama-mini")
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path))
    second = llama_mini.build_llama_mini(models.MINI_DIR)
    assert second == tmp_path / "llama-mini"
    for name in ("model.safetensors", "config.json"):
        assert (second / name).read_bytes() == (first / name).read_bytes()


def test_a_changed_tokenizer_makes_the_build_stale(tmp_path, monkeypatch):
    """Another tokenizer.json (gpt2-mini retrained) is another recipe: the cached build is rebuilt, not reused."""
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    tokenizers = tmp_path / "tokenizer"
    shutil.copytree(models.MINI_DIR, tokenizers, ignore=lambda _, names: [n for n in names
                                                                         if n not in llama_mini.TOKENIZER_FILES])
    folder = llama_mini.build_llama_mini(tokenizers)
    built = cache.read_stamp(folder)
    data = json.loads((tokenizers / "tokenizer.json").read_text())
    (tokenizers / "tokenizer.json").write_text(json.dumps(data, indent=1))  # same vocabulary, other bytes
    assert not cache.is_current(folder, llama_mini.recipe(tokenizers))
    llama_mini.build_llama_mini(tokenizers)
    assert cache.read_stamp(folder)["tokenizer"] != built["tokenizer"]


def test_it_builds_and_loads_with_the_network_off(tmp_path, monkeypatch):
    """Building into a fresh cache and loading never open a socket: the model is made here, not downloaded."""
    def refuse(*args, **kwargs):
        raise AssertionError("llama-mini tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path))
    models.model_dir.cache_clear()
    try:
        model = models.load_model("llama-mini")
    finally:
        models.model_dir.cache_clear()
    assert (tmp_path / "llama-mini" / "model.safetensors").is_file()
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 3]])).logits
    assert logits.shape == (1, 3, model.config.vocab_size)
