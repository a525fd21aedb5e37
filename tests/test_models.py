"""The offline base models: built once, loaded with from_pretrained, real GPT-2 shapes, clear errors."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from adapterlab import models


@pytest.fixture
def quick_cache(tmp_path, monkeypatch):
    """A private cache where 'gpt2-mini' trains for 3 steps instead of a minute."""
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(models.MINI_TRAINING, "steps", 3)
    models.model_dir.cache_clear()
    yield tmp_path / "cache"
    models.model_dir.cache_clear()


def test_mini_build_is_loadable_with_the_auto_classes(quick_cache):
    """A build leaves a folder that AutoModelForCausalLM and AutoTokenizer load, and nothing half-written."""
    folder = models.build("gpt2-mini")
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.n_layer == models.MINI_CONFIG["n_layer"]
    assert sorted(p.name for p in quick_cache.iterdir()) == [".build.lock", "gpt2-mini"]
    assert len(json.loads((folder / "training_losses.json").read_text())) == 3


def test_build_is_deterministic(quick_cache):
    """Building twice from scratch gives the same weights, bit for bit."""
    first = models.load_model("gpt2-mini").state_dict()
    models.build("gpt2-mini", force=True)
    second = models.load_model("gpt2-mini").state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_stale_recipe_is_rebuilt(quick_cache, monkeypatch):
    """A cache built by an older recipe is rebuilt instead of being used."""
    folder = models.build("gpt2-mini")
    stamp = folder / "adapterlab_build.json"
    stamp.write_text(json.dumps({"recipe": models.RECIPE_VERSION - 1}))
    models.build("gpt2-mini")
    assert json.loads(stamp.read_text())["recipe"] == models.RECIPE_VERSION


def test_load_model_returns_fresh_objects(quick_cache):
    """Each load is a new model, so wrapping one with PEFT (which edits in place) cannot touch another."""
    a, b = models.load_model("gpt2-mini"), models.load_model("gpt2-mini")
    assert a is not b and not a.training
    with torch.no_grad():
        a.transformer.wte.weight.zero_()
    assert b.transformer.wte.weight.abs().sum() > 0


@pytest.mark.slow
def test_gpt2_has_gpt2_small_shapes():
    """The local 'gpt2' has exactly as many parameters as transformers' GPT2Config() defaults define."""
    with torch.device("meta"):
        reference = GPT2LMHeadModel(GPT2Config())
    model = models.load_model("gpt2")
    assert model.num_parameters() == reference.num_parameters() == 124_439_808
    assert model.config.to_diff_dict().get("n_layer", 12) == 12


def test_generate_decodes_only_known_tokens(quick_cache):
    """generate() continues the prompt and returns text that starts with it."""
    model, tokenizer = models.load_model("gpt2-mini"), models.load_tokenizer("gpt2-mini")
    text = models.generate(model, tokenizer, "Anna walked to", max_new_tokens=5)
    assert text.startswith("Anna walked to") and len(text) > len("Anna walked to")


def test_unknown_name_says_what_exists():
    """An unknown model name is one sentence naming the models that exist."""
    with pytest.raises(models.BaseModelError, match="Unknown base model 'gpt3'.*'gpt2' and 'gpt2-mini'"):
        models.load_model("gpt3")


def test_unwritable_cache_names_the_fix(tmp_path, monkeypatch):
    """A cache folder that cannot be created says so and names ADAPTERLAB_CACHE."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(blocker / "cache"))
    with pytest.raises(models.BaseModelError, match="not writable.*ADAPTERLAB_CACHE"):
        models.cache_dir()


def test_hub_offline_fails_at_once_with_one_sentence(tmp_path, monkeypatch):
    """The hub path, offline and with an empty hub cache, raises one sentence instead of retrying."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(models.BaseModelError, match="not in your local Hugging Face cache"):
        models.load_model("openai-community/gpt2", source="hub")


def test_unknown_source_is_refused():
    """A source other than 'local' or 'hub' is refused with the two valid choices."""
    with pytest.raises(models.BaseModelError, match="'local'.*'hub'"):
        models.load_model("gpt2", source="s3")


def test_a_built_read_only_cache_is_used_as_it_is(quick_cache, monkeypatch):
    """A cache that holds current builds is used without writing to it (a shared, read-only folder)."""
    folder = models.build("gpt2-mini")

    def refuse():
        raise AssertionError("cache_dir() checks that the folder is writable; a built cache needs no write")

    monkeypatch.setattr(models, "cache_dir", refuse)
    assert models.build("gpt2-mini") == folder


def test_cached_build_keeps_the_old_build_when_a_rebuild_fails(tmp_path):
    """A build that fails half-way leaves the previous build in place and no staging folder behind."""
    folder, lock = tmp_path / "thing", tmp_path / ".lock"

    def good(staging):
        (staging / "weights").write_text("v1")

    def broken(staging):
        (staging / "weights").write_text("half")
        raise KeyboardInterrupt  # as if the learner pressed Ctrl-C mid-build

    assert models.cached_build(folder, lock, lambda f: f.is_dir(), good) == folder
    with pytest.raises(KeyboardInterrupt):
        models.cached_build(folder, lock, lambda f: f.is_dir(), broken, force=True)
    assert (folder / "weights").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "thing"]
