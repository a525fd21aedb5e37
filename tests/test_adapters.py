"""adapterlab.adapters: the shipped adapters load with PEFT, learned their tasks, and match their stamps."""

import json

import pytest
from peft import PeftModel

import adapterlab  # noqa: F401  (offline before transformers)
from adapterlab import adapters, recipes, tasks
from adapterlab.lora_configs import DEMO_LORA, TASK_LORA
from adapterlab.merging import lora_layers
from adapterlab.models import generate, load_model, load_tokenizer


@pytest.mark.parametrize("task", tasks.TASKS)
def test_task_adapter_is_what_peft_saves(task):
    """A shipped task adapter is PEFT's two files plus the stamp; its config is TASK_LORA, its base named portably."""
    folder = adapters.trained_adapter(task)
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "adapterlab_build.json"]
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == TASK_LORA["r"] and sorted(config["target_modules"]) == sorted(TASK_LORA["target_modules"])
    assert config["base_model_name_or_path"] is None  # never a path of the machine that made it


def test_demo_adapters_load_with_peft():
    """Both demo adapters load onto gpt2-mini with every block's four Conv1Ds wrapped, and carry no machine path."""
    folders = adapters.demo_adapters()
    assert sorted(folders) == ["english", "spanish"]
    model = PeftModel.from_pretrained(load_model("gpt2-mini"), folders["spanish"])
    assert len(lora_layers(model)) == 4 * load_model("gpt2-mini").config.n_layer
    for folder in folders.values():
        config = json.loads((folder / "adapter_config.json").read_text())
        assert config["r"] == DEMO_LORA["r"] and config["lora_dropout"] == DEMO_LORA["lora_dropout"]
        assert recipes.MINI_NAME in (folder / "README.md").read_text() and config["base_model_name_or_path"] is None


def test_saving_a_shipped_adapter_again_warns_of_nothing(tmp_path):
    """Loading a shipped adapter and saving it (what notebooks do) raises no warning about a base to look up."""
    import warnings

    model = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters.demo_adapters()["spanish"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save_pretrained(tmp_path)


def test_unknown_task_is_refused():
    """Asking for an adapter of a task that does not exist names the tasks that do."""
    with pytest.raises(ValueError, match="english_ner"):
        adapters.trained_adapter("french_poetry")


@pytest.fixture(scope="module")
def table():
    """The accuracy table of the shipped adapters: {row: {task: accuracy}}."""
    tokenizer = load_tokenizer("gpt2-mini")
    tests = {task: tasks.split(task)[1] for task in tasks.TASKS}
    rows = {"base": load_model("gpt2-mini")}
    for t in tasks.TASKS:
        rows[t] = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters.trained_adapter(t))
    return {row: {t: tasks.accuracy(m, tokenizer, tests[t]) for t in tasks.TASKS} for row, m in rows.items()}


@pytest.mark.parametrize("task", tasks.TASKS)
def test_each_adapter_learned_its_task_only(table, task):
    """Each adapter beats the base and the other adapter on its own task, and scores what its stamp recorded."""
    other = next(t for t in tasks.TASKS if t != task)
    assert table[task][task] == adapters.training_record(task)["held_out_accuracy"] >= 0.8
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


@pytest.mark.parametrize("task", tasks.TASKS)
def test_stamp_records_training_accuracy(task):
    """The stamp's train_accuracy is the shipped adapter's score on its training examples, at least its held-out one
    (the held-out examples use templates and names the training never did)."""
    tokenizer = load_tokenizer("gpt2-mini")
    model = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters.trained_adapter(task))
    record = adapters.training_record(task)
    assert record["train_accuracy"] == tasks.accuracy(model, tokenizer, tasks.split(task)[0])
    assert record["train_accuracy"] >= record["held_out_accuracy"]
