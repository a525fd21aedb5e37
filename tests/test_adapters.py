"""Tests of adapterlab.adapters: training, atomic caching and what the trained adapters learned."""

import json

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

import adapterlab  # noqa: F401  (offline before transformers)
from adapterlab import adapters, tasks
from adapterlab.models import generate, load_model, load_tokenizer


@pytest.fixture
def quick(tmp_path, monkeypatch):
    """Adapters built into a temporary cache folder with 3 training steps (the base models stay where they are)."""
    monkeypatch.setattr(adapters, "cache_dir", lambda: tmp_path)
    monkeypatch.setitem(adapters.TRAINING, "steps", 3)
    return tmp_path


def test_build_writes_a_loadable_adapter(quick):
    """A build leaves exactly the adapter folder (PEFT's two files and the stamp), and PEFT loads it."""
    folder = adapters.build("english_ner")
    assert folder == quick / "adapters" / "english_ner"
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "adapterlab_build.json"]
    assert [p.name for p in (quick / "adapters").iterdir() if not p.name.startswith(".adapters.lock")] \
        == ["english_ner"]  # no staging folder left behind
    model = PeftModel.from_pretrained(load_model("gpt2-mini"), folder)
    assert json.loads((folder / "adapter_config.json").read_text())["r"] == 8
    assert model.active_adapter == "default"


def test_build_is_cached_and_deterministic(quick):
    """A second call reuses the folder; a forced rebuild with the same seed writes the same weights."""
    folder = adapters.build("spanish_sentiment")
    first = load_file(folder / "adapter_model.safetensors")
    stamp_time = (folder / "adapterlab_build.json").stat().st_mtime_ns
    assert adapters.build("spanish_sentiment") == folder
    assert (folder / "adapterlab_build.json").stat().st_mtime_ns == stamp_time
    adapters.build("spanish_sentiment", force=True)
    again = load_file(folder / "adapter_model.safetensors")
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_stale_recipe_is_rebuilt(quick):
    """An adapter stamped with another recipe version is trained again."""
    folder = adapters.build("english_ner")
    stamp = json.loads((folder / "adapterlab_build.json").read_text())
    (folder / "adapterlab_build.json").write_text(json.dumps({**stamp, "recipe": -1}))
    adapters.build("english_ner")
    assert json.loads((folder / "adapterlab_build.json").read_text())["recipe"] == adapters.RECIPE_VERSION


def test_interrupted_build_leaves_nothing(quick, monkeypatch):
    """If training fails half-way, neither an adapter folder nor a staging folder is left."""
    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(adapters, "train", broken)
    with pytest.raises(KeyboardInterrupt):
        adapters.build("english_ner")
    assert [p.name for p in (quick / "adapters").iterdir()] == [".adapters.lock"]


def test_unknown_task_is_refused():
    """Asking for an adapter of a task that does not exist names the tasks that do."""
    with pytest.raises(ValueError, match="english_ner"):
        adapters.trained_adapter("french_poetry")


@pytest.fixture(scope="module")
def table():
    """The accuracy table of the real (cached) adapters: {row: {task: accuracy}}."""
    tokenizer = load_tokenizer("gpt2-mini")
    tests = {task: tasks.split(task)[1] for task in tasks.TASKS}
    rows = {"base": load_model("gpt2-mini")}
    for t in tasks.TASKS:
        rows[t] = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters.trained_adapter(t))
    return {row: {t: tasks.accuracy(m, tokenizer, tests[t]) for t in tasks.TASKS} for row, m in rows.items()}


@pytest.mark.parametrize("task", tasks.TASKS)
def test_each_adapter_learned_its_task_only(table, task):
    """Each trained adapter beats the base and the other adapter on its own task by a wide margin."""
    other = next(t for t in tasks.TASKS if t != task)
    assert table[task][task] >= 0.8
    assert table[task][task] - table["base"][task] >= 0.6
    assert table[task][task] - table[other][task] >= 0.6


def test_scoring_agrees_with_generation_on_trained_adapters():
    """exact_matches says True exactly when greedy generation writes the answer and then stops."""
    tokenizer = load_tokenizer("gpt2-mini")
    model = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters.trained_adapter("english_ner"))
    examples = tasks.split("english_ner")[1][:4] + tasks.split("spanish_sentiment")[1][:4]
    scored = tasks.exact_matches(model, tokenizer, examples)
    assert any(scored) and not all(scored)
    for example, match in zip(examples, scored, strict=True):
        written = generate(model, tokenizer, example.prompt, max_new_tokens=4)
        assert match == (written == example.prompt + example.answer)
