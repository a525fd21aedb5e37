"""Check your understanding: notebook 08 (the capstone: a new task end to end).

Every check judges what the learner built and the state it left (rows, a Trainer, a function's answers on
known models, a folder's files, a model's outputs), never how the code was spelled. The capstone's data is
`data/capstone.jsonl` beside the notebook (`DATA_FILE`, read relative to the kernel's folder), so a
learner who edits it is checked against their own rows.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import Trainer

from adapterlab import tasks
from adapterlab.adapter_files import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME, WEIGHTS_NAME, read_adapter_config
from adapterlab.adapters import trained_adapter
from adapterlab.exercises import ChoiceQuestion, Slip, TaskQuestion, ____
from adapterlab.models import MINI_DIR, load_model, load_tokenizer
from adapterlab.workspace import WORK_ENV

DATA_FILE = Path("data") / "capstone.jsonl"
BASE_NAME = "gpt2-mini"  # the name a colleague's `load_model` knows the base by
GOOD_ENOUGH = 0.8  # held-out exact match a trained capstone adapter reaches (100% in the notebook's run)
Problem = tuple[str, str] | None


# ------------------------------------------------------------------------------------------------- rows
def file_rows(path: str | Path = DATA_FILE) -> list[dict]:
    """Returns the rows of the capstone's JSON Lines file (one object per line; blank lines skipped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def as_rows(part: Any) -> list[dict] | None:
    """Returns `part` (a datasets.Dataset, a list of dicts, a pandas DataFrame) as a list of dicts with a
    'prompt' and an 'answer', or None when it is not rows of that kind."""
    if hasattr(part, "columns") and hasattr(part, "to_dict") and not hasattr(part, "features"):
        part = part.to_dict("records")  # pandas: iterating a DataFrame gives its column names
    if isinstance(part, (Mapping, str, bytes)) or not hasattr(part, "__len__") or not hasattr(part, "__iter__"):
        return None
    rows = list(part)
    if not all(isinstance(r, Mapping) and isinstance(r.get("prompt"), str) and isinstance(r.get("answer"), str)
               for r in rows):
        return None
    return [dict(r) for r in rows]


def _examples(rows: list[dict]) -> list[tasks.Example]:
    return [tasks.Example(r["prompt"], r["answer"], r["prompt"]) for r in rows]


@cache
def _tokenizer():
    return load_tokenizer(BASE_NAME)


def dropout_on(model: torch.nn.Module) -> bool:
    """True when a dropout layer of `model` is active: its outputs change from call to call. (A PeftModel's own
    `training` flag can be True while every layer inside it is in eval mode.)"""
    return any(m.training and m.p > 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))


def exact_matches(model, rows: list[dict], **forward_kwargs) -> list[bool]:
    """Per row, whether greedy decoding writes exactly its answer and then stops (`tasks.exact_matches` on
    dict rows), with dropout off; every module's training flag is put back as it was."""
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        return tasks.exact_matches(model, _tokenizer(), _examples(rows), **forward_kwargs)
    finally:
        for module, flag in flags.items():
            module.training = flag


def _share(matches: list[bool]) -> float:
    return sum(matches) / len(matches)


# ------------------------------------------------------------------------------------------- 1. split
def diagnose_split(parts: Any) -> Problem:
    """q1: (training rows, held-out rows): every row of the file in exactly one part, the held-out part
    holding every row the file marks held_out (when it marks any), no prompt in both."""
    if not isinstance(parts, tuple) or len(parts) != 2:
        return "not_pair", "Pass the two parts together: `q1.check((train_rows, held_out_rows))`."
    train, held = (as_rows(part) for part in parts)
    for name, part, rows in (("train_rows", parts[0], train), ("held_out_rows", parts[1], held)):
        if rows is None:
            return ("rows", f"`{name}` is a {type(part).__name__}, not rows with a 'prompt' and an 'answer' (a "
                            "datasets.Dataset or a list of dicts). `load_dataset` returns a DatasetDict: take "
                            "its 'train' (or pass `split='train'`).")
    if not train or not held:
        return "empty", f"One part is empty ({len(train)} training rows, {len(held)} held out)."
    everything = file_rows()
    train_prompts, held_prompts = {r["prompt"] for r in train}, {r["prompt"] for r in held}
    both = train_prompts & held_prompts
    if both:
        return ("overlap", f"{len(both)} prompts are in both parts (e.g. {sorted(both)[0]!r}): a held-out row "
                           "the training has seen measures memory, not what the adapter learned.")
    missing = [r for r in everything if r["prompt"] not in train_prompts | held_prompts]
    if missing:
        return ("missing", f"{len(missing)} of the file's {len(everything)} rows are in neither part: read the "
                           "whole file.")
    marked = {r["prompt"] for r in everything if r.get("split") == "held_out"}
    if marked and marked <= train_prompts:
        return ("swapped", f"Your training part holds all {len(marked)} rows the file marks held_out, and "
                           "your held-out part the training rows: the two are swapped.")
    leaked = marked & train_prompts
    if leaked:
        return ("ignored_split", f"{len(leaked)} of the {len(marked)} rows the file marks held_out are in your "
                                 "training part: a random split ignores the file's `split` field, and the "
                                 "sentence patterns kept for testing leak into training. Filter on it.")
    return None


_LOAD = 'ds = load_dataset("json", data_files=str(DATA_FILE), split="train")\n'
q1 = TaskQuestion(
    id="08.split",
    prompt="Load data/capstone.jsonl and split it into `train_rows` and `held_out_rows` as its `split` field says.",
    diagnose=diagnose_split,
    success="Every row in exactly one part, the held-out part exactly the rows the file keeps for testing "
            "(half of them sentence patterns the training never sees).",
    hints=["`load_dataset('json', data_files=..., split='train')` reads JSON Lines into one Dataset.",
           "`Dataset.filter(lambda row: row['split'] == 'train')`, and the same for 'held_out'."],
    solution_text="datasets reads JSON Lines; filter on the split field the file carries.",
    solution_code=_LOAD + 'train_rows = ds.filter(lambda row: row["split"] == "train")\n'
                          'held_out_rows = ds.filter(lambda row: row["split"] == "held_out")',
    alternatives=[
        'rows = [json.loads(line) for line in DATA_FILE.read_text(encoding="utf-8").splitlines()]\n'
        'train_rows = [row for row in rows if row["split"] == "train"]\n'
        'held_out_rows = [row for row in rows if row["split"] != "train"]',
        'ds = Dataset.from_json(str(DATA_FILE))\n'
        'train_rows, held_out_rows = (ds.filter(lambda row, s=s: row["split"] == s) for s in ("train", "held_out"))',
    ],
    slips=[
        Slip('train_rows = load_dataset("json", data_files=str(DATA_FILE))\n'
             'held_out_rows = train_rows["train"].filter(lambda row: row["split"] == "held_out")', "rows"),
        Slip(_LOAD + 'halves = ds.train_test_split(test_size=0.2, seed=0)\n'
                     'train_rows, held_out_rows = halves["train"], halves["test"]', "ignored_split"),
        Slip(_LOAD + 'train_rows = ds\nheld_out_rows = ds.filter(lambda row: row["split"] == "held_out")', "overlap"),
        Slip(_LOAD + 'train_rows = ds.filter(lambda row: row["split"] == "held_out")\n'
                     'held_out_rows = ds.filter(lambda row: row["split"] == "train")', "swapped"),
        Slip('ds = load_dataset("json", data_files=str(DATA_FILE), split="train[:250]")\n'
             'train_rows = ds.filter(lambda row: row["split"] == "train")\n'
             'held_out_rows = ds.filter(lambda row: row["split"] == "held_out")', "missing"),
    ],
)


# ------------------------------------------------------------------------------------------- 2. train
def _one_batch(trainer: Trainer) -> dict | None:
    """The first batch the Trainer's own dataloader makes (columns dropped and collated as in training), or None
    when the Trainer drops every column; the global random state is left as it was."""
    with torch.random.fork_rng():
        try:
            return next(iter(trainer.get_train_dataloader()))
        except ValueError as error:  # transformers: "No columns in the dataset match the model's forward ..."
            if "columns" in str(error):
                return None
            raise


def _labels_problem(trainer: Trainer, answers: set[str]) -> Problem:
    batch = _one_batch(trainer)
    if batch is None:
        return ("columns_dropped", "Training would stop at once: the Trainer drops the dataset's columns that the "
                                   "model's forward does not take ('prompt', 'answer'), so your collator gets "
                                   "nothing. Set `remove_unused_columns=False`.")
    if "labels" not in batch:
        return "no_labels", "The batches have no 'labels': the model computes no loss. The collator must add them."
    tok = _tokenizer()
    ids, labels = batch["input_ids"], batch["labels"]
    for row_ids, row_labels in zip(ids, labels, strict=True):
        scored = row_labels != -100
        if not scored.any():
            return "no_labels", "A batch row has every label at -100: nothing is learned from it."
        if not torch.equal(row_labels[scored], row_ids[scored]):
            return ("shifted", "The labels do not line up with input_ids: the model shifts them by one itself, so "
                               "label t must be the token at position t (or -100).")
        said = row_ids[scored].tolist()
        if said[-1] != tok.eos_token_id:
            return ("no_eos", f"The scored tokens of a row read {tok.decode(said)!r} with no end-of-text after "
                              "the answer: the model never learns to stop. Append the end-of-text token.")
        if tok.decode(said[:-1]) not in answers:
            return ("labels_unmasked", f"The loss counts {len(said)} tokens of a row, {tok.decode(said)!r}: not "
                                       "only the answer and the end of text. Set the prompt's (and the padding's) "
                                       "labels to -100.")
    return None


def diagnose_train(trainer: Any) -> Problem:
    """q2: a Trainer that trained a PeftModel, with an eval_dataset disjoint from training, evaluated while it
    trained, on batches whose labels are the answer and the end of text only, to a held-out score."""
    if not isinstance(trainer, Trainer):
        return "not_trainer", f"Pass the Trainer itself, not {type(trainer).__name__}."
    model = trainer.model
    if not isinstance(model, PeftModel):
        n = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return ("base_trained", f"The Trainer's model is a {type(model).__name__} with {n:,} trainable weights: "
                                "the whole base, not an adapter. Wrap it with `get_peft_model` first.")
    if trainer.eval_dataset is None:
        return "no_eval", "The Trainer has no eval_dataset: no validation loss can be drawn beside the training loss."
    train, held = as_rows(trainer.train_dataset), as_rows(trainer.eval_dataset)
    if train is None or held is None:
        return "rows", "The Trainer's datasets are not rows with a 'prompt' and an 'answer' (keep those columns)."
    if {r["prompt"] for r in train} & {r["prompt"] for r in held}:
        return ("eval_is_train", "The eval_dataset shares prompts with the training data: its loss says how well "
                                 "the model remembers, not how it does on rows it never saw.")
    if str(getattr(trainer.args.eval_strategy, "value", trainer.args.eval_strategy)) == "no":
        return ("no_eval_strategy", "eval_strategy is 'no' (the default): the Trainer never evaluates, whatever "
                                    "eval_dataset holds. Set eval_strategy='steps' and eval_steps.")
    problem = _labels_problem(trainer, {r["answer"] for r in train})
    if problem:
        return problem
    steps = trainer.state.global_step
    if steps == 0:
        return "not_trained", "The Trainer has not trained yet (global_step 0): call `.train()`."
    if not any("eval_loss" in log for log in trainer.state.log_history):
        return ("no_eval_loss", f"It trained {steps} steps and never logged an eval_loss: eval_steps is larger "
                                "than the run.")
    score = _share(exact_matches(model, held))
    if score < GOOD_ENOUGH:
        return ("undertrained", f"It trained {steps} steps, but greedy decoding answers {score:.0%} of the held-out "
                                f"rows exactly (at least {GOOD_ENOUGH:.0%} is within reach): train longer or with a "
                                "larger learning rate.")
    return None


_COLLATE = '''def collate(rows):
    ids, labels = [], []
    for row in rows:
        prompt = tokenizer(row["prompt"])["input_ids"]
        answer = tokenizer(row["answer"])["input_ids"] + [tokenizer.eos_token_id]
        ids.append(prompt + answer)
        labels.append([-100] * len(prompt) + answer)
    width = max(len(x) for x in ids)
    pad = tokenizer.eos_token_id
    return {"input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids]),
            "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids]),
            "labels": torch.tensor([x + [-100] * (width - len(x)) for x in labels])}

'''
_WRAP = ('torch.manual_seed(0)\n'
         'lora = LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True,\n'
         '                  task_type="CAUSAL_LM")\n'
         'my_model = get_peft_model(load_model("gpt2-mini"), lora)\n')
_ARGS = ('args = TrainingArguments(output_dir=workdir / "{folder}", max_steps={steps},\n'
         '                         per_device_train_batch_size=16, learning_rate={lr},\n'
         '                         eval_strategy="{strategy}", eval_steps=20, logging_steps=20,\n'
         '                         save_strategy="no", remove_unused_columns=False, report_to="none",\n'
         '                         disable_tqdm=True, dataloader_pin_memory=False, seed=0)\n')


def _args(folder, steps=60, lr="3e-3", strategy="steps"):
    return _ARGS.format(folder=folder, steps=steps, lr=lr, strategy=strategy)


_TRAINER = ('my_trainer = Trainer(model=my_model, args=args, train_dataset=train_rows, eval_dataset=held_out_rows,\n'
            '                     data_collator=collate)\n')
_SLIP_COLLATE_UNMASKED = _COLLATE.replace('labels.append([-100] * len(prompt) + answer)',
                                          'labels.append(prompt + answer)')
_SLIP_COLLATE_NO_EOS = _COLLATE.replace(' + [tokenizer.eos_token_id]', '')
q2 = TaskQuestion(
    id="08.train",
    prompt="Write the collator, wrap a fresh gpt2-mini with LoRA of your choice, and train it with a `Trainer` "
           "that evaluates on `held_out_rows` while it trains. Keep the Trainer in `my_trainer`.",
    diagnose=diagnose_train,
    success="A PeftModel trained on the answer tokens only, its validation loss logged beside the training loss, "
            "and it answers the held-out rows.",
    hints=["Notebook 02's collator: prompt labels -100, then the answer and the end-of-text token.",
           "TrainingArguments: `eval_strategy='steps'`, `eval_steps`, and `remove_unused_columns=False` (the "
           "Trainer otherwise drops the 'prompt' and 'answer' columns your collator reads)."],
    solution_text="A collator that masks the prompt, a PeftModel, eval_dataset with an eval_strategy, then train.",
    solution_code=_COLLATE + _WRAP + _args("run") + _TRAINER + "my_trainer.train()",
    alternatives=[
        # another collator (the tokenizer pads) and another LoRA (attention only, a larger rank and rate)
        '''def collate(rows):
    prompts = [tokenizer(row["prompt"])["input_ids"] for row in rows]
    texts = [row["prompt"] + row["answer"] + tokenizer.eos_token for row in rows]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for i, prompt in enumerate(prompts):
        batch["labels"][i, :len(prompt)] = -100
    return dict(batch)

tokenizer.pad_token = tokenizer.eos_token
torch.manual_seed(0)
my_model = get_peft_model(load_model("gpt2-mini"), LoraConfig(r=16, lora_alpha=32, target_modules=r".*attn\\.c_attn",
                                                              fan_in_fan_out=True))
''' + _args("run-alt1", lr="5e-3") + _TRAINER + "my_trainer.train()",
        # evaluation once per epoch instead of every N steps
        _COLLATE + _WRAP + _args("run-alt2", steps=60).replace('eval_strategy="steps", eval_steps=20',
                                                               'eval_strategy="epoch"') + _TRAINER
        + "my_trainer.train()",
    ],
    slips=[
        Slip(_COLLATE + 'my_model = load_model("gpt2-mini")\n' + _args("slip-base") + _TRAINER, "base_trained"),
        Slip(_COLLATE + _WRAP + _args("slip-noeval", strategy="no")
             + _TRAINER.replace(" eval_dataset=held_out_rows,", ""),
             "no_eval"),
        Slip(_COLLATE + _WRAP + _args("slip-strategy", strategy="no") + _TRAINER, "no_eval_strategy"),
        Slip(_SLIP_COLLATE_UNMASKED + _WRAP + _args("slip-unmasked") + _TRAINER, "labels_unmasked"),
        Slip(_SLIP_COLLATE_NO_EOS + _WRAP + _args("slip-eos") + _TRAINER, "no_eos"),
        Slip(_COLLATE + _WRAP + _args("slip-untrained") + _TRAINER, "not_trained"),
        Slip(_COLLATE + _WRAP + _args("slip-columns").replace(" remove_unused_columns=False,", "") + _TRAINER,
             "columns_dropped"),
        Slip(_COLLATE + _WRAP + _args("slip-lr", steps=10, lr="5e-5") + _TRAINER + "my_trainer.train()",
             "undertrained"),
    ],
)


# ------------------------------------------------------------------------------------------- 3. accuracy
@cache
def _accuracy_cases() -> tuple[tuple[str, Any, list[dict], float], ...]:
    """(what, model, rows, exact-match share by tasks.exact_matches): the models a learner's function is tried on."""
    base = load_model(BASE_NAME)
    tagger = PeftModel.from_pretrained(load_model(BASE_NAME), trained_adapter("english_ner"))
    ner = [{"prompt": e.prompt, "answer": e.answer} for e in tasks.split("english_ner")[1][:24]]
    mixed = ner[:12] + [{"prompt": e.prompt, "answer": e.answer} for e in tasks.split("spanish_sentiment")[1][:12]]
    # Rows whose answer is the word the base writes next: it writes it, and never stops (its corpus has no
    # end-of-text), so exact match is 0 for each.
    tok = _tokenizer()
    with torch.no_grad():
        nexts = [base(**tok(r["prompt"], return_tensors="pt")).logits[0, -1].argmax().item() for r in ner]
    own = [{"prompt": r["prompt"], "answer": tok.decode([i])} for r, i in zip(ner, nexts, strict=True)
           if tok(tok.decode([i]))["input_ids"] == [i]]
    cases = [("the shipped english_ner adapter on its held-out rows", tagger, ner),
             ("the english_ner adapter on English and Spanish rows", tagger, mixed),
             ("the base model on rows whose answer is the word it writes next (and it never stops)", base, own)]
    return tuple((what, model, rows, _share(exact_matches(model, rows))) for what, model, rows in cases)


def diagnose_accuracy(accuracy: Any) -> Problem:
    """q3: a function accuracy(model, rows) -> the share of rows whose answer greedy decoding writes exactly,
    then stops; tried on shipped models whose answers are known."""
    if not callable(accuracy):
        return "not_function", f"Pass your function itself, `accuracy` (no brackets), not {type(accuracy).__name__}."
    for what, model, rows, expected in _accuracy_cases():
        got = accuracy(model, rows)
        try:
            value = float(got)
        except (TypeError, ValueError):
            return "not_number", f"It returned a {type(got).__name__}, not a number: return the share of rows."
        if value > 1:
            return "not_fraction", f"It returned {value:g} for {len(rows)} rows: return a share (0 to 1), not a count."
        if not math.isclose(value, expected, abs_tol=1e-6):
            if expected == 0 and "never stops" in what:
                return ("no_stop", f"On {what}, it gives {value:.0%}; exact match is 0%: the answer must be followed "
                                   "by the end-of-text token, or greedy decoding goes on writing.")
            return ("disagrees", f"On {what} ({len(rows)} rows), it gives {value:.0%}; greedy decoding writes "
                                 f"{expected:.0%} of the answers exactly. Remember that logits at position t "
                                 "predict the token at t + 1.")
    return None


@dataclass
class FunctionTask(TaskQuestion):
    """A hands-on question whose answer is a function: its stub `return ____` (called with anything) is blank."""

    def _is_blank(self, answer: Any) -> bool:
        if not callable(answer):
            return super()._is_blank(answer)
        try:
            return answer(None, []) is ____
        except Exception:  # a real function fails on (None, []): it is an attempt
            return False


_ACCURACY = '''def accuracy(model, rows):
    batch = collate(list(rows))
    labels = batch.pop("labels")
    model.eval()
    with torch.no_grad():
        predicted = model(**batch).logits[:, :-1].argmax(-1)  # the token each position predicts next
    target = labels[:, 1:]
    right = (predicted == target) | (target == -100)
    return right.all(dim=1).float().mean().item()
'''
_SCORES = ('\nprint(f"held-out exact match: base {accuracy(load_model(\'gpt2-mini\'), held_out_rows):.0%}, "\n'
           '      f"adapter {accuracy(my_trainer.model, held_out_rows):.0%}")')
q3 = FunctionTask(
    id="08.accuracy",
    prompt="Write `accuracy(model, rows)`: the share of rows whose answer greedy decoding writes exactly and then "
           "stops. The check tries it on the shipped adapters, whose answers it knows.",
    diagnose=diagnose_accuracy,
    success="It agrees with greedy decoding on the shipped adapters, and counts an answer only when the model "
            "stops after it.",
    hints=["One forward pass is enough: with teacher forcing, greedy decoding writes the answer exactly when the "
           "arg-max at each answer position is the answer's token.",
           "Logits at position t predict token t + 1: compare `logits[:, :-1].argmax(-1)` with `labels[:, 1:]`, "
           "every scored position of a row, the end of text included."],
    solution_text="Collate the rows, one forward pass, arg-max shifted by one, every scored label of a row right.",
    solution_code=_ACCURACY + _SCORES,
    alternatives=[
        'from types import SimpleNamespace\n\n'
        'def accuracy(model, rows):\n'
        '    model.eval()\n'
        '    return tasks.accuracy(model, tokenizer, [SimpleNamespace(**row) for row in rows])\n' + _SCORES,
        'def accuracy(model, rows):\n'
        '    model.eval()  # `generate` hides the end of text: "then stops" means nothing more is written\n'
        '    said = [generate(model, tokenizer, row["prompt"], max_new_tokens=3)[len(row["prompt"]):]\n'
        '            for row in rows]\n'
        '    return sum(s == row["answer"] for s, row in zip(said, rows)) / len(rows)\n',
    ],
    slips=[
        Slip(_ACCURACY.replace("logits[:, :-1]", "logits").replace("labels[:, 1:]", "labels"), "disagrees"),
        Slip(_ACCURACY.replace("    right = (predicted == target) | (target == -100)\n"
                               "    return right.all(dim=1).float().mean().item()",
                               "    first = (target != -100).int().argmax(dim=1)  # the answer's first token\n"
                               "    rows_ = torch.arange(len(target))\n"
                               "    return (predicted[rows_, first] == target[rows_, first]).float().mean().item()"),
             "no_stop"),
        Slip(_ACCURACY.replace(".float().mean().item()", ".sum().item()"), "not_fraction"),
        Slip(_ACCURACY.replace("return right.all(dim=1).float().mean().item()", "return right.all(dim=1).tolist()"),
             "not_number"),
        Slip('def accuracy(model, rows):\n'
             '    said = [generate(model, tokenizer, row["prompt"], max_new_tokens=3)[len(row["prompt"]):]\n'
             '            for row in rows]\n'
             '    return sum(s.startswith(row["answer"]) for s, row in zip(said, rows)) / len(rows)\n', "no_stop"),
    ],
)


# ------------------------------------------------------------------------------------------- 4. size
def _peft_model(obj: Any) -> PeftModel | None:
    model = getattr(obj, "model", obj) if isinstance(obj, Trainer) else obj
    return model if isinstance(model, PeftModel) else None


def diagnose_size(answer: Any) -> Problem:
    """q4: (predicted bytes, the trained Trainer or its PeftModel): the prediction equals the size of the
    adapter_model.safetensors that `save_pretrained` writes for it, to the byte."""
    if not isinstance(answer, tuple) or len(answer) != 2:
        return "not_pair", "Pass your prediction and the Trainer together: `q4.check((my_size, my_trainer))`."
    predicted, trained = answer
    model = _peft_model(trained)
    if model is None:
        return "no_model", f"The second item is a {type(trained).__name__}: pass `my_trainer` (or its PeftModel)."
    try:
        predicted = int(predicted)
    except (TypeError, ValueError):
        return "not_number", f"Your prediction is a {type(predicted).__name__}: give a number of bytes."
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder, selected_adapters=[model.active_adapter], save_embedding_layers=False)
        found = next(Path(folder).rglob(SAFETENSORS_WEIGHTS_NAME))
        real = found.stat().st_size
        params = sum(t.numel() for t in load_file(found).values())
    if predicted == real:
        return None
    header = real - 4 * params
    if predicted == 4 * params:
        return ("no_header", f"{predicted:,} bytes are the tensors alone; the file adds a header of {header:,} bytes "
                             "(`Estimate.file_bytes`, not `.bytes`).")
    if predicted == params:
        return "params", f"{predicted:,} is the number of parameters; each float32 one takes 4 bytes, plus the header."
    if predicted == 2 * params or abs(predicted - (2 * params + header)) <= 64:  # the header's offsets: other digits
        return "dtype", "That is the size in float16 (2 bytes a number); the adapter is saved in float32."
    return ("off", f"The file will be {abs(predicted - real):,} bytes {'larger' if real > predicted else 'smaller'} "
                   "than that: are the targets, r and dtype those of your LoraConfig?")


_EST = 'my_size = estimate(model_dir("gpt2-mini"), ["c_attn", "c_proj", "c_fc"], r=8, dtype="float32")'
q4 = TaskQuestion(
    id="08.size",
    prompt="Before you save: predict the size of your adapter's adapter_model.safetensors, to the byte, in "
           "`my_size`. The check saves a copy and compares.",
    diagnose=diagnose_size,
    success="To the byte: the LoRA tensors (r x d_in + d_out x r each, 4 bytes a number) plus the safetensors header.",
    hints=["`adapterlab.storage.estimate(model, targets, r, dtype)` returns an Estimate (notebook 07).",
           "Its `.file_bytes` is the header plus the tensors; `.bytes` is the tensors alone."],
    solution_text="estimate(...) with your LoraConfig's targets and r, float32, then .file_bytes.",
    solution_code=_EST + ".file_bytes",
    alternatives=[
        'lora = my_trainer.model.peft_config["default"]  # the config you trained with, read back\n'
        'my_size = estimate(my_trainer.model.config, list(lora.target_modules), r=lora.r).file_bytes',
        'from safetensors.torch import save as to_bytes\nfrom peft import get_peft_model_state_dict\n\n'
        'my_size = len(to_bytes(get_peft_model_state_dict(my_trainer.model), metadata={"format": "pt"}))',
    ],
    slips=[
        Slip(_EST + ".bytes", "no_header"),
        Slip(_EST + ".params", "params"),
        Slip(_EST.replace("float32", "float16") + ".file_bytes", "dtype"),
        Slip(_EST.replace('"c_attn", "c_proj", "c_fc"', '"c_attn"') + ".file_bytes", "off"),
        Slip(_EST.replace("r=8", "r=16") + ".file_bytes", "off"),
    ],
)


# ------------------------------------------------------------------------------------------- 5. share
def machine_paths() -> dict[str, str]:
    """{path: what it is} of the places on this machine a saved file may name by accident."""
    found = {}
    places = [("the base model's folder", MINI_DIR), ("your home folder", Path.home()),
              ("the notebook's folder", Path.cwd()), ("the temporary folder", Path(tempfile.gettempdir())),
              ("Python's folder", Path(sys.prefix))]
    if os.environ.get(WORK_ENV):  # read, not created: a check makes no folder
        places.append(("your work folder", Path(os.environ[WORK_ENV])))
    for what, path in places:
        for form in {str(path), str(path.resolve())}:
            if len(form) > 1:
                found.setdefault(form, what)
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))  # the most specific first


def named_paths(folder: str | Path) -> list[tuple[str, str]]:
    """[(file, what it names)]: every file of `folder` (text or not; of a safetensors file, its header) whose
    bytes hold a path of this machine."""
    found = []
    for file in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        data = file.read_bytes()
        if file.suffix == ".safetensors":  # its JSON header only: tensor bytes may spell anything by chance
            data = data[8:8 + int.from_bytes(data[:8], "little")]
        for path, what in machine_paths().items():
            if path.encode() in data:
                found.append((file.relative_to(folder).as_posix(), what))
                break
    return found


def _adapter_folder(folder: Path) -> Path | None:
    """The folder itself when it holds an adapter, or its one subfolder that does (an adapter saved by name)."""
    if (folder / CONFIG_NAME).is_file():
        return folder
    inner = [p for p in folder.iterdir() if p.is_dir() and (p / CONFIG_NAME).is_file()]
    return inner[0] if len(inner) == 1 else None


def diagnose_share(folder: Any) -> Problem:
    """q5: a folder a colleague can load: one adapter (at the top or one level down), safetensors weights that
    were trained, base_model_name_or_path 'gpt2-mini', and no file that names a path of this machine."""
    if not isinstance(folder, (str, Path)):
        return "not_folder", f"Pass the folder you saved into (a Path), not {type(folder).__name__}."
    folder = Path(folder)
    if not folder.is_dir():
        return "missing", "There is no folder at that path: save into it first."
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if any(name.endswith("model.safetensors") and not name.endswith(SAFETENSORS_WEIGHTS_NAME) for name in names):
        return ("full_model", f"The folder holds a whole model ({names}): save the PeftModel, which writes the "
                              "adapter only.")
    adapter = _adapter_folder(folder)
    if adapter is None:
        return "files", f"No adapter_config.json at the top or in one subfolder; the folder holds {names}."
    if (adapter / WEIGHTS_NAME).is_file():
        return ("legacy", "The weights are adapter_model.bin, a pickle: whoever loads it must trust it. Leave "
                          "`safe_serialization` at its default.")
    if not (adapter / SAFETENSORS_WEIGHTS_NAME).is_file():
        return "files", f"No adapter_model.safetensors beside adapter_config.json; the folder holds {names}."
    tensors = load_file(adapter / SAFETENSORS_WEIGHTS_NAME)
    if not any(t.abs().sum() > 0 for name, t in tensors.items() if "lora_B" in name):
        return ("untrained", "Every lora_B in the file is zero: this adapter changes nothing (a new one, never "
                             "trained). Save the model you trained.")
    base = read_adapter_config(adapter).get("base_model_name_or_path")
    named = named_paths(folder)
    if base != BASE_NAME and not (base and os.path.isabs(str(base))):
        return ("base_name", f"adapter_config.json names its base {base!r}; name it {BASE_NAME!r}, the model it was "
                             "trained on.")
    if named:
        which = "; ".join(f"{file} names {what}" for file, what in named)
        return ("machine_path", f"{which}, by its path on this machine: on a colleague's machine that points "
                                "nowhere. Name the base 'gpt2-mini' in the config before saving, and delete or "
                                "rewrite what else names a path.")
    return None


_SAVE_SETUP = 'my_trainer.model.peft_config["default"].base_model_name_or_path = "gpt2-mini"\n'
_SAVE = 'my_trainer.model.save_pretrained(my_folder, save_embedding_layers=False)\n'
q5 = TaskQuestion(
    id="08.share",
    prompt="Save your adapter into `my_folder`, a new folder in `workdir` to send to a colleague: safetensors "
           "weights, a config naming its base 'gpt2-mini', and no file naming a path of this machine.",
    diagnose=diagnose_share,
    success="The adapter's two files, its base named 'gpt2-mini', nothing that names this machine: it loads anywhere "
            "`load_model('gpt2-mini')` does.",
    hints=["Notebook 03: which files does `save_pretrained` write, and which of them name the base by its path?",
           "Set `peft_config['default'].base_model_name_or_path` before saving; PEFT's README.md card still names "
           "the path: delete it or write your own."],
    solution_text="Name the base in the config, save (save_embedding_layers=False: the vocabulary is the base's), "
                  "then delete PEFT's generated README.md.",
    solution_code=_SAVE_SETUP + 'my_folder = workdir / "share"\n' + _SAVE + '(my_folder / "README.md").unlink()',
    alternatives=[
        'my_folder = workdir / "share-card"\n' + _SAVE_SETUP + _SAVE
        + '(my_folder / "README.md").write_text("# Topic adapter\\n\\nLoRA on gpt2-mini: the topic of an English '
          'sentence, comida or viaje.\\n")',
        'my_folder = workdir / "share-named"\n'
        'my_trainer.model.save_pretrained(my_folder, save_embedding_layers=False)\n'
        'config = json.loads((my_folder / "adapter_config.json").read_text())\n'
        'config["base_model_name_or_path"] = "gpt2-mini"\n'
        '(my_folder / "adapter_config.json").write_text(json.dumps(config))\n'
        '(my_folder / "README.md").unlink()',
    ],
    slips=[
        Slip('my_folder = workdir / "slip-plain"\nmy_trainer.model.save_pretrained(my_folder)', "machine_path"),
        Slip(_SAVE_SETUP + 'my_folder = workdir / "slip-card"\n' + _SAVE, "machine_path"),
        Slip('my_folder = workdir / "slip-trainer"\nmy_trainer.save_model(my_folder)', "machine_path"),
        Slip(_SAVE_SETUP + 'my_folder = workdir / "slip-pickle"\n'
                           'my_trainer.model.save_pretrained(my_folder, safe_serialization=False)', "legacy"),
        Slip('my_folder = workdir / "slip-base"\nmy_trainer.model.get_base_model().save_pretrained(my_folder)',
             "full_model"),
        Slip('my_folder = workdir / "slip-fresh"\n'
             'fresh = get_peft_model(load_model("gpt2-mini"), LoraConfig(r=8, target_modules=["c_attn"], '
             'fan_in_fan_out=True))\n'
             'fresh.peft_config["default"].base_model_name_or_path = "gpt2-mini"\n'
             'fresh.save_pretrained(my_folder, save_embedding_layers=False)\n(my_folder / "README.md").unlink()',
             "untrained"),
    ],
)


# ------------------------------------------------------------------------------------------- 6. reload
def _logits(model, rows: list[dict]) -> torch.Tensor:
    batch = tasks.encode(_tokenizer(), _examples(rows))
    batch.pop("labels")
    with torch.no_grad():
        return model(**batch).logits


def diagnose_reload(answer: Any) -> Problem:
    """q6: (the shared folder, the reloaded model): on the held-out prompts the model gives the logits that the
    folder's adapter, loaded onto a fresh gpt2-mini, gives; in eval mode, the adapter on and active."""
    if not isinstance(answer, tuple) or len(answer) != 2:
        return "not_pair", "Pass the folder and the model together: `q6.check((my_folder, my_reloaded))`."
    folder, model = answer
    if not isinstance(folder, (str, Path)) or _adapter_folder(Path(folder)) is None:
        return "not_folder", "The first item is not the folder you saved in the previous step."
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        return "not_model", f"The second item is a {type(model).__name__}, not a model."
    rows = [r for r in file_rows() if r.get("split") == "held_out"][:8] or file_rows()[:8]
    with torch.no_grad():
        expected = _logits(PeftModel.from_pretrained(load_model(BASE_NAME), _adapter_folder(Path(folder))), rows)
        base = _logits(load_model(BASE_NAME), rows)
    if dropout_on(model):
        return ("train_mode", "The model is in training mode: dropout changes its outputs at every call. "
                              "`model.eval()` (PeftModel.from_pretrained leaves it so unless is_trainable=True).")
    got = _logits(model, rows)
    if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4):
        return None
    if isinstance(model, PeftModel):
        saved = load_file(_adapter_folder(Path(folder)) / SAFETENSORS_WEIGHTS_NAME)
        for name in model.peft_config:
            mine = get_peft_model_state_dict(model, adapter_name=name)
            if mine.keys() == saved.keys() and all(torch.equal(mine[k], saved[k]) for k in saved):
                if name != model.active_adapter:
                    return ("not_active", f"Your adapter is loaded as {name!r}, but {model.active_adapter!r} "
                                          "computes: `load_adapter` adds an adapter without switching to it. "
                                          f"`set_adapter({name!r})`.")
    if got.shape == base.shape and torch.allclose(got, base, atol=1e-5):
        return ("base_outputs", "It gives the base model's outputs exactly: no adapter computes (none loaded, a new "
                                "one never trained, or the adapters disabled or unloaded).")
    return ("other_adapter", "Its outputs are neither the base model's nor your saved adapter's: another adapter, "
                             "or another base.")


_RELOAD = 'my_reloaded = PeftModel.from_pretrained(load_model("gpt2-mini"), my_folder)'
q6 = TaskQuestion(
    id="08.reload",
    prompt="Load your shared folder onto a fresh gpt2-mini, as your colleague would, into `my_reloaded`.",
    diagnose=diagnose_reload,
    success="The same logits as your saved adapter on a fresh base: what you send is what they run.",
    hints=["Notebook 04: `PeftModel.from_pretrained(base, folder)`; transformers' `model.load_adapter(folder)` "
           "works too.",
           "A fresh base: `load_model('gpt2-mini')`, not the model you trained."],
    solution_text="PeftModel.from_pretrained on a fresh load_model('gpt2-mini'), in eval mode as it returns it.",
    solution_code=_RELOAD,
    alternatives=[
        'my_reloaded = load_model("gpt2-mini")\nmy_reloaded.load_adapter(my_folder, adapter_name="topic")',
        _RELOAD.replace("my_folder)", 'my_folder, adapter_name="topic")')
        + "\nmy_reloaded = my_reloaded.merge_and_unload()",
    ],
    slips=[
        Slip('my_reloaded = get_peft_model(load_model("gpt2-mini"), LoraConfig(r=8, lora_alpha=16, '
             'target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True))', "base_outputs"),
        Slip(_RELOAD.replace("my_folder)", "my_folder, is_trainable=True)") + "\nmy_reloaded.train()", "train_mode"),
        Slip('my_reloaded = PeftModel.from_pretrained(load_model("gpt2-mini"), trained_adapter("english_ner"))',
             "other_adapter"),
        Slip('my_reloaded = PeftModel.from_pretrained(load_model("gpt2-mini"), trained_adapter("english_ner"))\n'
             'my_reloaded.load_adapter(my_folder, adapter_name="topic")', "not_active"),
        Slip(_RELOAD + "\nmy_reloaded.base_model.disable_adapter_layers()", "base_outputs"),
        Slip(_RELOAD + "\nmy_reloaded = my_reloaded.unload()", "base_outputs"),
    ],
)


# ------------------------------------------------------------------------------------------- 7. serve
def _task_of(prompt: str) -> str:
    return ("spanish_sentiment" if prompt.startswith("Sentimiento:") else "english_ner" if prompt.startswith("Tag:")
            else "yours")


def _which_adapters(server: PeftModel) -> dict[str, str]:
    """{adapter name: 'spanish_sentiment' or 'english_ner' (the shipped weights), or 'yours' (an adapter that
    answers the capstone's held-out rows)}; other adapters are left out."""
    shipped = {task: load_file(trained_adapter(task) / SAFETENSORS_WEIGHTS_NAME) for task in tasks.TASKS}
    held = [r for r in file_rows() if r.get("split") == "held_out"] or file_rows()
    found = {}
    for name in server.peft_config:
        mine = get_peft_model_state_dict(server, adapter_name=name)
        for task, saved in shipped.items():
            if mine.keys() == saved.keys() and all(torch.equal(mine[k], saved[k]) for k in saved):
                found[name] = task
                break
        else:
            if _share(exact_matches(server, held, adapter_names=[name] * len(held))) >= GOOD_ENOUGH:
                found[name] = "yours"
    return found


def diagnose_serve(answer: Any) -> Problem:
    """q7: (server, inputs, logits): a PeftModel holding your adapter and both shipped task adapters, and the
    logits of one mixed batch in which each row went through the adapter of its own task, as running that
    adapter alone gives them. The server's active adapter is put back afterwards."""
    if not isinstance(answer, tuple) or len(answer) != 3:
        return "not_triple", "Pass the server, the inputs and the logits: `q7.check((my_server, inputs, my_logits))`."
    server, inputs, logits = answer
    if not isinstance(server, PeftModel):
        return "not_peft", f"`my_server` is a {type(server).__name__}: load the adapters into one PeftModel."
    if not isinstance(logits, torch.Tensor) or logits.shape[:2] != inputs["input_ids"].shape:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        return "not_logits", f"`my_logits` is {shape}; expected the logits of the batch `inputs`, one row per request."
    kinds = _which_adapters(server)
    missing = [t for t in (*tasks.TASKS, "yours") if t not in kinds.values()]
    if missing:
        wanted = " or ".join("an adapter that answers the capstone's held-out rows" if m == "yours"
                             else f"the shipped {m} adapter" for m in missing)
        return "missing_adapter", f"The server holds {sorted(server.peft_config)}; none of them is {wanted}."
    tok = _tokenizer()
    prompts = [tok.decode(ids[mask.bool()]) for ids, mask in zip(inputs["input_ids"], inputs["attention_mask"],
                                                                                 strict=True)]
    active, grads = server.active_adapter, {n: p.requires_grad for n, p in server.named_parameters()}
    alone = {}
    try:
        with torch.no_grad():
            for name in kinds:
                server.set_adapter(name)
                alone[name] = server(**inputs).logits
            with server.disable_adapter():
                alone["__base__"] = server(**inputs).logits
    finally:
        server.set_adapter(active)
        for n, p in server.named_parameters():
            p.requires_grad_(grads[n])
    routes = []
    for i in range(len(prompts)):
        went = next((name for name, out in alone.items() if torch.allclose(out[i], logits[i], atol=1e-5)), None)
        routes.append(went)
        if went is None:
            return ("not_alone", f"Row {i} matches no adapter run alone on `inputs`: were the logits computed on "
                                 "another batch, or another model?")
    if len(set(routes)) == 1:
        return ("one_adapter", f"Every row went through {routes[0]!r}: pass `adapter_names=[...]`, one name per "
                               "row, to serve each request with its own adapter in one call.")
    for i, (prompt, went) in enumerate(zip(prompts, routes, strict=True)):
        wanted = _task_of(prompt)
        if kinds.get(went) != wanted:
            return ("wrong_route", f"Row {i} ({prompt[:24]!r}...) went through {went!r}, not the "
                                   f"{'adapter you trained' if wanted == 'yours' else wanted + ' adapter'}.")
    return None


_SERVER = ('my_server = PeftModel.from_pretrained(load_model("gpt2-mini"), my_folder, adapter_name="topic")\n'
           'my_server.load_adapter(trained_adapter("spanish_sentiment"), adapter_name="sentiment")\n'
           'my_server.load_adapter(trained_adapter("english_ner"), adapter_name="ner")\n')
_MIXED = ('with torch.no_grad():\n'
          '    my_logits = my_server(**inputs, adapter_names=["sentiment", "ner", "topic"]).logits\n')
q7 = TaskQuestion(
    id="08.serve",
    prompt="Load your adapter and the two shipped task adapters into one PeftModel, `my_server`, and answer the "
           "three `requests` in one forward call, each through its own adapter: keep the logits in `my_logits`.",
    diagnose=diagnose_serve,
    success="Three adapters on one base, three requests in one call, each row exactly what its adapter alone gives.",
    hints=["Notebook 05: `PeftModel.from_pretrained(..., adapter_name=...)`, then `load_adapter(folder, "
           "adapter_name=...)`.",
           "`model(**inputs, adapter_names=[...])`: one adapter name per row, in the order of the rows."],
    solution_text="One PeftModel, three named adapters, adapter_names in the order of the requests.",
    solution_code=_SERVER + _MIXED + """for row, name in enumerate(["sentiment", "ner", "topic"]):  # and switching
    my_server.set_adapter(name)
    with torch.no_grad():
        assert torch.allclose(my_server(**inputs).logits[row], my_logits[row], atol=1e-5)""",
    alternatives=[
        'my_server = PeftModel.from_pretrained(load_model("gpt2-mini"), trained_adapter("english_ner"),\n'
        '                                      adapter_name="en")\n'
        'my_server.load_adapter(my_folder, adapter_name="mine")\n'
        'my_server.load_adapter(trained_adapter("spanish_sentiment"), adapter_name="es")\n'
        'my_server.set_adapter("mine")\n'
        'with torch.no_grad():\n'
        '    my_logits = my_server(**inputs, adapter_names=["es", "en", "mine"]).logits',
        _SERVER + 'names = {"Sentimiento:": "sentiment", "Tag:": "ner"}\n'
        'routes = [next((n for p, n in names.items() if r.startswith(p)), "topic") for r in requests]\n'
        'my_logits = my_server(**inputs, adapter_names=routes).logits.detach()',
    ],
    slips=[
        Slip(_SERVER + 'my_server.set_adapter("topic")\nwith torch.no_grad():\n'
                       '    my_logits = my_server(**inputs).logits', "one_adapter"),
        Slip(_SERVER + _MIXED.replace('["sentiment", "ner", "topic"]', '["ner", "sentiment", "topic"]'),
             "wrong_route"),
        Slip(_SERVER.replace('my_folder, adapter_name="topic"', 'trained_adapter("english_ner"), adapter_name="topic"'),
             "missing_adapter"),
        Slip(_SERVER + _MIXED.replace('"topic"]', '"__base__"]'), "wrong_route"),
        Slip(_SERVER + _MIXED.replace(").logits", ").logits[:, -1]  # the next word of each request"),
             "not_logits"),
    ],
)


# ------------------------------------------------------------------------------------------- 8. merge?
q8 = ChoiceQuestion(
    id="08.merge",
    prompt="Your topic adapter will be served beside the two shipped ones, requests of all three tasks mixed in "
           "each batch. From the numbers measured above, what do you ship?",
    choices={
        "a": ("The merged model: it answers faster.",
              "No: unmerged takes longer per forward pass (the ratio above), but the merged model is one task "
              "only: the other two requests of each batch would need a model of their own, and each such model "
              "on disk is the whole base again."),
        "b": ("The adapter, unmerged: a mixed batch needs the adapters separate.",
              "Right: `adapter_names=` refuses merged adapters; the adapter file is a small fraction of a merged "
              "model's, and switching stays instant. Merge when one task alone is served and latency is all."),
        "c": ("Both merged into one model with `merge_and_unload` of all three adapters.",
              "No: merging several adapters adds their updates into one set of weights: each task's answers "
              "change, and no request can choose its adapter any more."),
        "d": ("It makes no difference: the merged model gives the same outputs.",
              "The same outputs for your task, yes (within float rounding), but the choice changes what you "
              "store and what one batch can serve."),
    },
    answer="b",
    alternatives=["B", " b "],
    hints=["Look at what `adapter_names=` does with a merged adapter (notebook 05, section 6).",
           "Compare the file sizes and the latency ratio printed above."],
    solution_text="(b): mixed batches need unmerged adapters; the merge saves some time per call and costs a whole "
                  "model on disk per task.",
)
