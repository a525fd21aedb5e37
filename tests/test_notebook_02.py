"""Claims notebook 02 (training an adapter) states about datasets, transformers and PEFT, and its checks.

The notebook tells the learner what `Trainer` does with a dataset's columns, a missing `eval_dataset`,
`disable_tqdm` and dropout, what `DataCollatorForSeq2Seq` pads with, why a collator pads on the right, and how
big `datasets` is; those facts are asserted here, not in a learner's cell. The exercises' slips and alternatives
run in the notebook's own state in the solved run (tools/solved_run.py); the fast ones run here too.
"""

import importlib.metadata
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset, DatasetDict
from tests.common import tiny_gpt2, tiny_lora
from transformers import (
    DataCollatorForSeq2Seq,
    PrinterCallback,
    ProgressCallback,
    Trainer,
    TrainingArguments,
)
from transformers.trainer_utils import TrainOutput

from adapterlab import tasks
from adapterlab.models import load_tokenizer
from adapterlab.questions import nb02

ROWS = [{"input_ids": [1, 2, 3, 4], "labels": [-100, -100, 3, 4]}, {"input_ids": [5, 6], "labels": [-100, 6]}]


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = load_tokenizer("gpt2-mini")
    tokenizer.pad_token = tokenizer.eos_token  # as the notebook does
    return tokenizer


def _args(tmp_path, **changes):
    return TrainingArguments(output_dir=tmp_path, max_steps=1, per_device_train_batch_size=2, report_to="none",
                             save_strategy="no", dataloader_pin_memory=False, **changes)


def test_datasets_with_pyarrow_and_pandas_take_about_260_mb():
    """The notebook says `datasets` 5.2.0, with `pyarrow` and `pandas` beneath it, takes about 260 MB installed."""
    size = sum(f.locate().stat().st_size for name in ("datasets", "pyarrow", "pandas")
               for f in importlib.metadata.distribution(name).files if f.locate().is_file())
    assert importlib.metadata.version("datasets") == "5.2.0"
    assert 230e6 < size < 300e6, size


def test_seq2seq_collator_pads_ids_with_the_pad_token_and_labels_with_minus_100(tokenizer):
    """`DataCollatorForSeq2Seq` pads `input_ids` with the tokenizer's pad id, `labels` with -100, and makes an
    `attention_mask` that is 0 on the padding: section 2's collator, for rows whose labels come ready-made."""
    batch = DataCollatorForSeq2Seq(tokenizer)(ROWS)
    assert batch["input_ids"][1].tolist() == [5, 6, tokenizer.pad_token_id, tokenizer.pad_token_id]
    assert batch["labels"][1].tolist() == [-100, 6, -100, -100]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


def test_disable_tqdm_swaps_the_progress_bar_for_a_printer(tmp_path):
    """With `disable_tqdm=True`, Trainer adds a `PrinterCallback` (it prints each log) instead of a progress bar;
    `trainer.remove_callback(PrinterCallback)` leaves it silent."""
    callbacks = lambda trainer: {type(c) for c in trainer.callback_handler.callbacks}  # noqa: E731
    quiet = Trainer(model=tiny_lora(), args=_args(tmp_path, disable_tqdm=True))
    assert PrinterCallback in callbacks(quiet) and ProgressCallback not in callbacks(quiet)
    quiet.remove_callback(PrinterCallback)
    assert PrinterCallback not in callbacks(quiet)
    bar = Trainer(model=tiny_lora(), args=_args(tmp_path, disable_tqdm=False))
    assert PrinterCallback not in callbacks(bar)


def test_unused_columns_are_dropped_and_none_left_is_an_error(tmp_path):
    """By default Trainer drops the dataset columns the model's forward does not take (for a PeftModel, the base
    model's forward); rows of only `prompt_ids` and `answer_ids` leave none, and the error names
    `remove_unused_columns=False`, which 02.trainer's hint gives."""
    kept = Dataset.from_list([{**row, "note": "x"} for row in ROWS])
    trainer = Trainer(model=tiny_lora(), args=_args(tmp_path), train_dataset=kept, data_collator=lambda rows: rows)
    assert next(iter(trainer.get_train_dataloader()))[0].keys() == {"input_ids", "labels"}
    apart = Dataset.from_list([{"prompt_ids": [1, 2], "answer_ids": [3, 0]}] * 2)
    trainer = Trainer(model=tiny_lora(), args=_args(tmp_path), train_dataset=apart, data_collator=lambda rows: rows)
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        trainer.get_train_dataloader()
    trainer = Trainer(model=tiny_lora(), args=_args(tmp_path, remove_unused_columns=False), train_dataset=apart,
                      data_collator=lambda rows: rows)
    assert next(iter(trainer.get_train_dataloader()))[0].keys() == {"prompt_ids", "answer_ids"}


def test_an_eval_strategy_without_eval_dataset_is_refused(tmp_path):
    """`eval_strategy='steps'` without an `eval_dataset` raises when the Trainer is built, so the only silent way
    to have no held-out curve is no eval_strategy (02.trainer's slips no_eval_strategy and no_eval_dataset)."""
    with pytest.raises(ValueError, match="eval_dataset"):
        Trainer(model=tiny_lora(), args=_args(tmp_path, eval_strategy="steps", eval_steps=1))


def test_train_leaves_dropout_on_and_evaluate_switches_it_off(tmp_path, tokenizer):
    """After `train()` the model is in training mode (GPT-2's dropout on): the notebook calls `.eval()` before it
    measures; `evaluate()` switches to eval mode itself and leaves the model there."""
    data = Dataset.from_list(ROWS)
    model = tiny_lora()
    trainer = Trainer(model=model, args=_args(tmp_path, disable_tqdm=True), train_dataset=data, eval_dataset=data,
                      data_collator=DataCollatorForSeq2Seq(tokenizer))
    trainer.train()
    assert model.training
    trainer.evaluate()
    assert not model.training


def test_gpt2_numbers_positions_by_column_so_left_padding_moves_the_prompt():
    """Without position_ids, GPT-2 gives position t to column t, pads included: a left-padded row is not scored as
    the same row alone (02.collator's left_padded message); on the right the real tokens keep their positions."""
    model, ids = tiny_gpt2(), torch.tensor([[5, 6, 7]])
    alone = model(input_ids=ids).logits[0, -1]
    left = model(input_ids=torch.tensor([[0, 5, 6, 7]]), attention_mask=torch.tensor([[0, 1, 1, 1]])).logits[0, -1]
    right = model(input_ids=torch.tensor([[5, 6, 7, 0]]), attention_mask=torch.tensor([[1, 1, 1, 0]])).logits[0, 2]
    assert not torch.allclose(alone, left, atol=1e-4) and torch.allclose(alone, right, atol=1e-5)


# The checks, on the notebook's own definitions where those are cheap to run here.
def _namespace(tokenizer):
    train, test = tasks.split("english_ner")
    return {"tokenizer": tokenizer, "torch": torch, "Dataset": Dataset, "DatasetDict": DatasetDict,
            "DataCollatorForSeq2Seq": DataCollatorForSeq2Seq, "train_examples": train, "held_out": test}


@pytest.mark.parametrize("question", [nb02.q1, nb02.q2], ids=["02.dataset", "02.collator"])
def test_dataset_and_collator_checks_name_each_slip_and_accept_each_spelling(question, tokenizer):
    """02.dataset and 02.collator: every slip is named with its mistake, the solution and every right answer
    spelled another way (map with batched=True, from_dict, a shuffled split; pad_sequence, DataCollatorForSeq2Seq
    padding to a multiple of 8) are accepted."""
    name = "my_data" if question is nb02.q1 else "my_collate"
    for slip in question.slips:
        namespace = _namespace(tokenizer)
        exec(slip.code, namespace)
        assert question.check(namespace[name]).mistake == slip.mistake, slip.code
    for code in [*question.alternatives, question.solution_code]:
        namespace = _namespace(tokenizer)
        exec(code, namespace)
        assert question.check(namespace[name]).correct, code


def test_collator_stub_is_not_an_attempt():
    """A `my_collate` whose body still returns ____ is a nudge, not a wrong answer."""
    from adapterlab.exercises import ____

    assert nb02.q2.check(lambda rows: ____).kind == "unattempted"


def _stand_in(model, steps, **fields):
    state = SimpleNamespace(global_step=steps, log_history=fields.pop("log_history", []))
    args = SimpleNamespace(eval_strategy=SimpleNamespace(value="no"), remove_unused_columns=False)
    return SimpleNamespace(model=model, state=state, args=args, data_collator=lambda rows: rows, **fields)


def test_trainer_check_reads_the_model_and_the_steps_first():
    """02.trainer: a TrainOutput, a base model that trained (full fine-tuning) and a PeftModel never trained are
    named before the data is looked at (a stand-in Trainer: the check is duck-typed)."""
    assert nb02.q3.check(TrainOutput(10, 2.0, {})).mistake == "train_output"
    assert nb02.q3.check(_stand_in(tiny_gpt2(), 10)).mistake == "full_finetune"
    assert nb02.q3.check(_stand_in(tiny_lora(), 0)).mistake == "not_trained"
    assert nb02.q3.check("trainer").mistake == "not_trainer"


def test_save_check_names_each_wrong_folder(tmp_path):
    """02.save_mine: a path that is not a folder, an empty folder, a whole model, a pickle, an untrained adapter
    and a config alone are each named before any model is loaded."""
    trainer = SimpleNamespace(model=tiny_lora())
    assert nb02.q5.check((trainer, 42)).mistake == "not_folder"
    assert nb02.q5.check((trainer, tmp_path / "nowhere")).mistake == "nothing"
    tiny_lora().base_model.model.save_pretrained(tmp_path / "full")
    assert nb02.q5.check((trainer, tmp_path / "full")).mistake == "full_model"
    (tmp_path / "pickle").mkdir()
    torch.save(tiny_lora().state_dict(), tmp_path / "pickle" / "adapter.pt")
    assert nb02.q5.check((trainer, tmp_path / "pickle")).mistake == "pickle"
    tiny_lora().save_pretrained(tmp_path / "fresh")
    assert nb02.q5.check((trainer, tmp_path / "fresh")).mistake == "untrained"
    tiny_lora().peft_config["default"].save_pretrained(tmp_path / "config")
    assert nb02.q5.check((trainer, tmp_path / "config")).mistake == "no_weights"
    assert nb02.q5.check((trainer, str(tmp_path / "config"))).mistake == "no_weights"
