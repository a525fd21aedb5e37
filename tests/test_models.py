"""The offline base models: gpt2-mini shipped, gpt2 built into the cache, loaded with from_pretrained, clear errors."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from adapterlab import cache, models


def test_shipped_mini_loads_with_the_auto_classes():
    """gpt2-mini's folder is an ordinary model folder: the Auto classes load it, tokenizer and model agree."""
    model = AutoModelForCausalLM.from_pretrained(models.model_dir("gpt2-mini"))
    tokenizer = AutoTokenizer.from_pretrained(models.model_dir("gpt2-mini"))
    assert model.config.vocab_size == len(tokenizer) and model.config.n_layer == 4
    assert 3_000_000 < (models.MINI_DIR / "model.safetensors").stat().st_size < 4_000_000


def test_gpt2_is_built_into_the_cache_with_gpt2_small_shapes():
    """The local 'gpt2' has exactly GPT2Config()'s parameters, lives in ADAPTERLAB_CACHE, and is stamped."""
    with torch.device("meta"):
        reference = GPT2LMHeadModel(GPT2Config())
    model = models.load_model("gpt2")
    assert model.num_parameters() == reference.num_parameters() == 124_439_808
    folder = models.model_dir("gpt2")
    assert folder == cache.cache_root() / "gpt2" and cache.is_current(folder, models.GPT2_RECIPE)


@pytest.mark.slow  # builds the 500 MB gpt2 a second time
def test_gpt2_build_is_deterministic(tmp_path, monkeypatch):
    """Building gpt2 again, into another cache, gives the same weights file, bit for bit."""
    first = (models.model_dir("gpt2") / "model.safetensors").read_bytes()
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path))
    assert (models.build_gpt2() / "model.safetensors").read_bytes() == first


def test_both_models_share_one_tokenizer():
    """gpt2's folder carries gpt2-mini's tokenizer files, and load_tokenizer gives the same vocabulary for both."""
    for name in models.TOKENIZER_FILES:
        assert (models.model_dir("gpt2") / name).read_bytes() == (models.MINI_DIR / name).read_bytes()
    assert models.load_tokenizer("gpt2").get_vocab() == models.load_tokenizer("gpt2-mini").get_vocab()


def test_load_model_returns_fresh_objects():
    """Each load is a new model, so wrapping one with PEFT (which edits in place) cannot touch another."""
    a, b = models.load_model("gpt2-mini"), models.load_model("gpt2-mini")
    assert a is not b and not a.training
    with torch.no_grad():
        a.transformer.wte.weight.zero_()
    assert b.transformer.wte.weight.abs().sum() > 0


def test_generate_on_random_gpt2_writes_only_decodable_tokens():
    """On random gpt2 (50,257 outputs, ~800 known tokens), generate suppresses the ids the tokenizer lacks."""
    model, tokenizer = models.load_model("gpt2"), models.load_tokenizer("gpt2")
    assert model.config.vocab_size > len(tokenizer)
    inputs = tokenizer("Anna walked to", return_tensors="pt")
    with torch.no_grad():  # unsuppressed, random weights pick unknown ids: the case generate() must handle
        raw = model.generate(**inputs, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert (raw[0, inputs["input_ids"].shape[1]:] >= len(tokenizer)).any()
    text = models.generate(model, tokenizer, "Anna walked to", max_new_tokens=8)
    ids = tokenizer(text)["input_ids"]
    assert text.startswith("Anna walked to") and len(ids) > inputs["input_ids"].shape[1]


def test_unknown_name_says_what_exists():
    """An unknown model name is one sentence naming the models that exist."""
    with pytest.raises(models.BaseModelError, match="Unknown base model 'gpt3'.*'gpt2' and 'gpt2-mini'"):
        models.load_model("gpt3")
    with pytest.raises(models.BaseModelError, match="Unknown base model"):
        models.load_tokenizer("gpt3")


def test_hub_offline_fails_at_once_with_one_sentence(tmp_path, monkeypatch):
    """The hub path, offline and with an empty hub cache, raises one sentence instead of retrying."""
    import huggingface_hub.constants

    # the hub reads HF_HUB_OFFLINE once, at import; models asks the hub (`is_offline_mode`), so set the hub's flag
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(models.BaseModelError, match="not in your local Hugging Face cache"):
        models.load_model("openai-community/gpt2", source="hub")


def test_unknown_source_is_refused():
    """A source other than 'local' or 'hub' is refused with the two valid choices."""
    with pytest.raises(models.BaseModelError, match="'local'.*'hub'"):
        models.load_model("gpt2", source="s3")


def test_loaded_models_compute_the_causal_lm_loss_without_transformers_warning(caplog):
    """transformers 5.23 warns 'loss_type=None ... unrecognized' for GPT2LMHeadModel; load_model names the loss it
    falls back to anyway, so the loss is the same number and no warning is logged."""
    import logging

    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    ids = torch.tensor([[5, 6, 7, 8, 9]])
    bare = AutoModelForCausalLM.from_pretrained(models.model_dir("gpt2-mini")).eval()
    assert bare.loss_type is None  # the gap load_model fills
    model = models.load_model("gpt2-mini")
    hf_logging.warning_once.cache_clear()  # a warning logged once already would not be logged again
    hf_logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING, logger="transformers"), torch.no_grad():
            loss = model(ids, labels=ids).loss
    finally:
        hf_logging.disable_propagation()
    assert not [r for r in caplog.records if "loss_type" in r.getMessage()]
    with torch.no_grad():
        assert torch.equal(loss, bare(ids, labels=ids).loss)
