"""The capstone (notebook 08): its data file, how the libraries behave where it states it in a sentence, and
what its checks observe on small objects made here (the solved run answers each exercise in the notebook)."""

import json
import shutil
import warnings
from pathlib import Path

import datasets
import pytest
from peft import LoraConfig, get_peft_model
from tests.common import save_tiny_adapter, tiny_gpt2, tiny_lora
from transformers import Trainer, TrainingArguments

from adapterlab import progress
from adapterlab.corpus import generate_corpus
from adapterlab.exercises import ____
from adapterlab.models import load_tokenizer
from adapterlab.questions import nb08

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
DATA = NOTEBOOKS / nb08.DATA_FILE


@pytest.fixture
def in_notebooks(monkeypatch):
    """The kernel's folder as the notebook has it: the checks read data/capstone.jsonl relative to it."""
    monkeypatch.chdir(NOTEBOOKS)


def test_the_data_file_is_what_the_notebook_says():
    """300 rows of prompt, answer and split; 240 train and 60 held out, no prompt in both; every answer one token
    of gpt2-mini's tokenizer that occurs in its pretraining corpus (so a LoRA adapter can learn to write it)."""
    rows = nb08.file_rows(DATA)
    assert len(rows) == 300 and all(set(row) == {"prompt", "answer", "split"} for row in rows)
    splits = {s: {r["prompt"] for r in rows if r["split"] == s} for s in ("train", "held_out")}
    assert (len(splits["train"]), len(splits["held_out"])) == (240, 60) and not splits["train"] & splits["held_out"]
    tokenizer = load_tokenizer("gpt2-mini")
    seen = set(tokenizer(generate_corpus())["input_ids"])
    for answer in {r["answer"] for r in rows}:
        ids = tokenizer(answer)["input_ids"]
        assert len(ids) == 1 and ids[0] in seen, answer


def test_half_the_held_out_rows_use_patterns_no_training_row_uses():
    """Section 1's claim: with the corpus words in a sentence (names, places, foods, ways of moving, times) put
    back to their kind, 30 of the 60 held-out rows have a sentence pattern that no training row has."""
    from adapterlab import corpus

    words = {w: kind for kind, ws in [("P", corpus.PEOPLE), ("L", corpus.PLACES), ("F", corpus.FOODS),
                                      ("M", corpus.MOVES), ("T", corpus.TIMES)] for w in ws}
    words |= {t[0].upper() + t[1:]: "T" for t in corpus.TIMES}

    def pattern(prompt):
        for word in sorted(words, key=len, reverse=True):
            prompt = prompt.replace(word, "{" + words[word] + "}")
        return prompt

    rows = nb08.file_rows(DATA)
    seen = {pattern(r["prompt"]) for r in rows if r["split"] == "train"}
    assert sum(pattern(r["prompt"]) not in seen for r in rows if r["split"] == "held_out") == 30


def test_trainer_drops_the_columns_a_collator_reads():
    """transformers 5.23: with remove_unused_columns=True (the default) Trainer drops the dataset's columns that
    the model's forward does not take, and refuses a dataset left with none (section 2's advice)."""
    rows = datasets.Dataset.from_list([{"prompt": "a", "answer": " b"}] * 4)
    args = dict(output_dir="unused", report_to="none", per_device_train_batch_size=2, use_cpu=True)
    dropping = Trainer(model=tiny_gpt2(), args=TrainingArguments(**args), train_dataset=rows,
                       data_collator=lambda batch: batch)
    with pytest.raises(ValueError, match="No columns in the dataset match"):
        next(iter(dropping.get_train_dataloader()))
    keeping = Trainer(model=tiny_gpt2(), args=TrainingArguments(**args, remove_unused_columns=False),
                      train_dataset=rows, data_collator=lambda batch: batch)
    assert next(iter(keeping.get_train_dataloader())) == [{"prompt": "a", "answer": " b"}] * 2


def test_a_renamed_base_stays_in_the_config_but_not_in_the_card(tmp_path):
    """peft 0.21.2: a base_model_name_or_path set before saving is kept in adapter_config.json, while README.md
    names the base model's own path; offline, the name makes PEFT warn that it found no config.json, and
    save_embedding_layers=False (the vocabulary was not resized) skips that look-up (section 5)."""
    base = tiny_gpt2()
    base.save_pretrained(tmp_path / "base")
    model = tiny_lora(type(base).from_pretrained(tmp_path / "base"))
    model.peft_config["default"].base_model_name_or_path = "gpt2-mini"
    with pytest.warns(UserWarning, match="Could not find a config file in gpt2-mini"):
        model.save_pretrained(tmp_path / "warned")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save_pretrained(tmp_path / "quiet", save_embedding_layers=False)
    config = json.loads((tmp_path / "quiet" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "gpt2-mini"
    assert str(tmp_path / "base") in (tmp_path / "quiet" / "README.md").read_text()
    assert [file for file, _ in nb08.named_paths(tmp_path / "quiet")] == ["README.md"]


def test_trainer_save_model_leaves_a_pickle_that_names_this_machine(tmp_path):
    """Trainer.save_model on a PeftModel writes the adapter and training_args.bin, the pickled arguments, whose
    output_dir is a path of this machine: the share check reads every file, not only the text ones."""
    args = TrainingArguments(output_dir=str(tmp_path / "run"), report_to="none", use_cpu=True)
    Trainer(model=tiny_lora(), args=args).save_model(tmp_path / "saved")
    assert "training_args.bin" in {p.name for p in (tmp_path / "saved").iterdir()}
    assert "training_args.bin" in [file for file, _ in nb08.named_paths(tmp_path / "saved")]


def test_rows_of_every_shape_a_learner_keeps(in_notebooks):
    """A Dataset, a list of dicts and a pandas DataFrame are rows; a DatasetDict, a string or None are not."""
    rows = nb08.file_rows()[:3]
    dataset = datasets.Dataset.from_list(rows)
    assert nb08.as_rows(dataset) == nb08.as_rows(rows) == nb08.as_rows(dataset.to_pandas()) == rows
    assert nb08.as_rows(datasets.DatasetDict(train=dataset)) is None
    assert nb08.as_rows("rows") is None and nb08.as_rows(None) is None


def test_split_check_names_what_it_sees(in_notebooks):
    """The split check accepts the file's split in any container and names each way of getting it wrong."""
    rows = nb08.file_rows()
    train = [r for r in rows if r["split"] == "train"]
    held = [r for r in rows if r["split"] == "held_out"]
    mistake = lambda parts: (nb08.diagnose_split(parts) or ("correct",))[0]  # noqa: E731
    assert mistake((train, held)) == "correct"
    assert mistake((datasets.Dataset.from_list(train), held)) == "correct"
    assert mistake((rows, held)) == "overlap"
    assert mistake((held, train)) == "swapped"
    assert mistake((train[:200], held)) == "missing"
    assert mistake((train[:200] + held[:40], train[200:] + held[40:])) == "ignored_split"
    assert mistake(train) == "not_pair"


def test_a_file_without_a_split_field_is_split_any_way(tmp_path, monkeypatch):
    """A learner's own data with no `split` field: any split of its rows into two disjoint parts is accepted."""
    (tmp_path / "data").mkdir()
    rows = [{"prompt": f"p{i}", "answer": " a"} for i in range(10)]
    (tmp_path / nb08.DATA_FILE).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    monkeypatch.chdir(tmp_path)
    assert nb08.diagnose_split((rows[:8], rows[8:])) is None


def test_machine_paths_are_found_in_any_file_and_folder_nesting_is_accepted(tmp_path):
    """A file naming the home folder is caught whatever its kind; an adapter saved by name (one level down) is
    found; two adapters side by side are not one adapter."""
    folder = save_tiny_adapter(tmp_path / "share" / "topic")
    assert nb08._adapter_folder(tmp_path / "share") == folder
    (folder / "notes.bin").write_bytes(b"\x00" + str(Path.home()).encode() + b"\x00")
    assert ("topic/notes.bin", "your home folder") in nb08.named_paths(tmp_path / "share")
    shutil.copytree(folder, tmp_path / "share" / "other")
    assert nb08._adapter_folder(tmp_path / "share") is None


def test_share_check_wants_a_trained_adapter(tmp_path):
    """A folder whose every lora_B is zero (a new adapter, never trained) is refused as such."""
    folder = save_tiny_adapter(tmp_path / "fresh")
    assert nb08.diagnose_share(folder)[0] == "untrained"


def test_a_function_stub_is_blank_and_records_nothing():
    """The accuracy exercise's stub (`return ____`) gets the nudge and records no attempt; a real function that
    fails on the probe is an attempt."""
    def stub(model, rows):
        return ____

    assert nb08.q3.check(stub).kind == "unattempted" and progress.load() == {}
    assert not nb08.q3._is_blank(lambda model, rows: len(rows) / model.n)  # fails on (None, []): an attempt


def test_exact_matches_leave_the_training_flag_as_it_was():
    """The checks score a model in eval mode (dropout off) and put its training flag back."""
    tokenizer = load_tokenizer("gpt2-mini")
    model = tiny_lora(tiny_gpt2(vocab_size=len(tokenizer), n_positions=32)).train()
    flags = [m.training for m in model.modules()]
    assert nb08.exact_matches(model, [{"prompt": "Tema: Ana", "answer": " comida"}]) == [False]
    assert [m.training for m in model.modules()] == flags and nb08.dropout_on(model)


def test_a_new_peft_model_is_in_training_mode_outside_only():
    """peft 0.21.2: `get_peft_model` on a model in eval mode returns a PeftModel whose own flag says training
    while every layer inside stays in eval mode, so the reload check asks the dropout layers, not `.training`."""
    fresh = get_peft_model(tiny_gpt2(), LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    assert fresh.training and not fresh.get_base_model().training and not nb08.dropout_on(fresh)
