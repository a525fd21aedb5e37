"""Check your understanding: notebook 02 (training an adapter with `datasets` and transformers' `Trainer`).

The hands-on exercises take the learner through a training run of their own, each step judged on what it
built: the dataset's rows, the batches the collator returns, the Trainer's model, data and log history, the
scores, the saved folder. Where the English tagging task is concerned, the reference rows are rebuilt here
from `adapterlab.tasks.split` and the `gpt2-mini` tokenizer, never taken from the learner's notebook.
"""

import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers.trainer_utils import TrainOutput

from adapterlab import tasks
from adapterlab.adapter_files import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME
from adapterlab.exercises import CodeQuestion, Slip, TaskQuestion, _Placeholder
from adapterlab.files import file_sizes, human_size
from adapterlab.models import load_model, load_tokenizer
from adapterlab.questions.nb01 import lora_settings_problem, wraps_problem
from adapterlab.workspace import MY_ADAPTER_TASK

IGNORE = -100  # the label PyTorch's cross-entropy skips


@cache
def _tokenizer():
    return load_tokenizer("gpt2-mini")


@cache
def _reference_rows(part: str) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """(prompt ids, answer ids + end of text) of each example of the notebook's task, 'train' or 'test'."""
    tokenizer = _tokenizer()
    train, test = tasks.split(MY_ADAPTER_TASK)
    eos = [tokenizer.eos_token_id]
    return tuple((tuple(tokenizer(e.prompt)["input_ids"]), tuple(tokenizer(e.answer)["input_ids"] + eos))
                 for e in (train if part == "train" else test))


# 1. The dataset -------------------------------------------------------------------------------------------

def _rows_of(split: Any) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    return [(tuple(row["prompt_ids"]), tuple(row["answer_ids"])) for row in split]


def diagnose_dataset(data: Any) -> tuple[str, str] | None:
    """q1: a DatasetDict (or any mapping of `datasets.Dataset`) 'train' and 'test', rows of prompt and answer ids."""
    import datasets

    if not isinstance(data, Mapping) or not {"train", "test"} <= set(data):
        return ("splits", f"Expected a DatasetDict with the splits 'train' and 'test', not {type(data).__name__}"
                          + (f" with {sorted(data)}" if isinstance(data, Mapping) else "") + ".")
    for name in ("train", "test"):
        split = data[name]
        if not isinstance(split, datasets.Dataset):
            return ("not_dataset", f"my_data[{name!r}] is a {type(split).__name__}; make each split a "
                                   "`datasets.Dataset` (`Dataset.from_list`), which Trainer reads and `.map` "
                                   "tokenizes.")
        missing = {"prompt_ids", "answer_ids"} - set(split.column_names)
        if missing:
            return ("no_ids", f"my_data[{name!r}] has the columns {split.column_names}, not {sorted(missing)}: "
                              "`.map` a function that returns the token ids of the prompt and of the answer.")
    train, test = _reference_rows("train"), _reference_rows("test")
    got = {name: _rows_of(data[name]) for name in ("train", "test")}
    if sorted(got["train"]) == sorted(test) and sorted(got["test"]) == sorted(train):
        return "swapped", "The splits are swapped: 'train' holds the 60 held-out examples and 'test' the 400 others."
    tokenizer, eos = _tokenizer(), _tokenizer().eos_token_id
    for name, reference in (("train", train), ("test", test)):
        rows = got[name]
        if len(rows) != len(reference):
            return ("sizes", f"my_data[{name!r}] has {len(rows)} rows; tasks.split gives {len(reference)} "
                             f"{'training' if name == 'train' else 'held-out'} examples.")
        if sorted(rows) == sorted(reference):
            continue
        if name == "test" and set(rows) <= set(train):
            return ("test_from_train", "Your 'test' rows are training examples: a score on them says how well the "
                                       "adapter remembers, not how it does on sentences it never saw. Use the "
                                       "held-out list of tasks.split.")
        prompt, answer = rows[0]
        if all(p and p[-1] == eos for p, _ in rows):
            return ("eos_on_prompt", "The end-of-text token is at the end of the prompt; it belongs after the "
                                     "answer (it says: the answer is over).")
        if all(not a or a[-1] != eos for _, a in rows):
            return ("no_eos", "The answers do not end with the end-of-text token (id "
                              f"{eos}): the model never learns to stop after its answer.")
        if sorted(p for p, _ in rows) == sorted(p for p, _ in reference):
            return ("answer_ids", f"The prompts are right, the answers are not: {tokenizer.decode(list(answer))!r} "
                                  f"is {list(answer)}; tokenize the answer as written, its leading space included "
                                  f"(' in' is one token, {tokenizer(' in')['input_ids']}), then add the end of text.")
        return ("prompt_ids", f"The prompt ids of my_data[{name!r}] are not the tokenizer's ids of the prompts "
                              f"(first row: {tokenizer.decode(list(prompt))!r}).")
    return None


# 2. The collator ------------------------------------------------------------------------------------------

def _probe_rows() -> list[dict]:
    """Three training rows of different lengths, as my_data's rows: the check's own batch."""
    rows = sorted(set(_reference_rows("train")), key=lambda r: len(r[0]))
    chosen = [rows[0], rows[len(rows) // 2], rows[-1]]
    return [{"prompt_ids": list(p), "answer_ids": list(a)} for p, a in (chosen[1], chosen[2], chosen[0])]


def collator_problem(collate: Any, rows: list[dict] | None = None) -> tuple[str, str] | None:
    """Runs `collate` on rows of prompt and answer ids and judges the batch it returns."""
    if not callable(collate):
        return "not_callable", f"Pass the function itself (no brackets), not {type(collate).__name__}."
    rows = rows or _probe_rows()
    try:
        batch = collate([dict(row) for row in rows])
    except Exception as exc:  # the learner's code may raise anything: say so
        return "raised", f"Your collator raised {type(exc).__name__} ({exc}) on a list of 3 rows of my_data."
    if not isinstance(batch, Mapping) or not {"input_ids", "attention_mask", "labels"} <= set(batch):
        keys = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
        return "keys", f"Return a dict with input_ids, attention_mask and labels; yours gives {keys}."
    if not all(isinstance(batch[k], torch.Tensor) for k in ("input_ids", "attention_mask", "labels")):
        return ("not_tensor", "Return tensors (torch.tensor(...)): the model takes tensors of shape (batch, "
                              "length), not lists.")
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    lengths = [len(r["prompt_ids"]) + len(r["answer_ids"]) for r in rows]
    if not (ids.shape == mask.shape == labels.shape and ids.dim() == 2 and ids.shape[0] == len(rows)
            and ids.shape[1] >= max(lengths)):
        return ("shape", f"input_ids, attention_mask and labels must all be ({len(rows)}, length) with length at "
                         f"least the longest row ({max(lengths)}); yours are {tuple(ids.shape)}, "
                         f"{tuple(mask.shape)}, {tuple(labels.shape)}.")
    width = ids.shape[1]
    for i, row in enumerate(rows):
        tokens = row["prompt_ids"] + row["answer_ids"]
        n, p = len(tokens), len(row["prompt_ids"])
        if ids[i, :n].tolist() != tokens:
            if ids[i, width - n:].tolist() == tokens and n < width:
                return ("left_padded", "The rows are padded on the left. GPT-2 numbers positions by column, pads "
                                       "included, so a left-padded prompt sits at other positions than when the "
                                       "model answers it alone: pad on the right.")
            return "ids", f"Row {i} of input_ids is not its prompt ids and then its answer ids."
        if mask[i, :n].tolist() != [1] * n or mask[i, n:].any():
            return ("attention", f"attention_mask must be 1 on the {n} tokens of row {i} and 0 on its padding; "
                                 f"yours is {mask[i].tolist()}.")
        expected = [IGNORE] * p + row["answer_ids"]
        if labels[i, :n - 1].tolist() in (tokens[1:], expected[1:]):
            return ("shifted", "Your labels are shifted by one token. Give the labels in the same positions as "
                               "input_ids: the model shifts them itself (it compares the logits at t with the "
                               "label at t+1).")
        answer = labels[i, p:n].tolist()
        if (labels[i, :p] != IGNORE).any():
            return ("labels_unmasked", "The prompt's labels are not -100, so the loss also trains the model to "
                                       "write the prompt. Set the labels of the prompt to -100.")
        if answer[:-1] != row["answer_ids"][:-1] or answer == [IGNORE] * len(answer):
            return "answer", f"The answer's labels must be its ids; row {i} has {answer}."
        if answer[-1] != row["answer_ids"][-1]:
            return ("eos_dropped", "The label of the end-of-text token after the answer is -100, so the model never "
                                   "learns to stop. That happens when the padding is masked by value (labels == the "
                                   "pad id) and the pad is the end-of-text token: mask the padding by position.")
        if (labels[i, n:] != IGNORE).any():
            return ("padding_unmasked", f"The labels of the padding of row {i} are {labels[i, n:].tolist()}, not -100: "
                                        "the loss would train the model on the filler.")
    return None


def diagnose_collator(collate: Any) -> tuple[str, str] | None:
    """q2: a function from rows of prompt and answer ids to a padded, masked batch."""
    return collator_problem(collate)


class _FunctionTask(TaskQuestion):
    """A hands-on question whose answer is a function: the stub `return ____` is not an attempt yet."""

    def _is_blank(self, answer: Any) -> bool:
        if not callable(answer):
            return super()._is_blank(answer)
        try:
            return isinstance(answer(_probe_rows()), _Placeholder)
        except Exception:  # a half-written function: let the check say what it raises
            return False


# 3. The Trainer -------------------------------------------------------------------------------------------

def _texts(trainer: Any, dataset: Any, n: int = 4) -> list[str]:
    """The first `n` rows of `dataset` as the trainer's collator batches them, decoded where the labels count."""
    rows = [dataset[i] for i in range(min(n, len(dataset)))]
    if getattr(trainer.args, "remove_unused_columns", False) and all(isinstance(row, Mapping) for row in rows):
        rows = [{k: v for k, v in row.items() if k in ("input_ids", "attention_mask", "labels")} for row in rows]
    batch = trainer.data_collator(rows)
    pairs = zip(batch["input_ids"], batch["attention_mask"], strict=True)
    return [_tokenizer().decode(ids[: int(mask.sum())]) for ids, mask in pairs]


def which_split(trainer: Any, dataset: Any) -> str:
    """'train', 'test' or 'other': which examples of the task `dataset` holds (by its first rows, decoded)."""
    train, test = tasks.split(MY_ADAPTER_TASK)
    texts = set(_texts(trainer, dataset))
    for name, examples in (("train", train), ("test", test)):
        if texts <= {e.prompt + e.answer + _tokenizer().eos_token for e in examples}:
            if len(dataset) == len(examples):
                return name
    return "other"


def diagnose_trainer(trainer: Any) -> tuple[str, str] | None:
    """q3: a Trainer that trained a PeftModel on the training split, logging the held-out loss as it went."""
    if isinstance(trainer, TrainOutput):
        return ("train_output", "That is what `train()` returns (a TrainOutput: the steps and the loss). Keep the "
                                "Trainer itself: `my_trainer = Trainer(...)`, then `my_trainer.train()`.")
    if not all(hasattr(trainer, name) for name in ("state", "model", "args", "data_collator")):
        return "not_trainer", f"Pass the Trainer (it has .model, .args and .state), not {type(trainer).__name__}."
    model, steps = trainer.model, trainer.state.global_step
    if not isinstance(model, PeftModel):
        if steps > 0:
            count = sum(p.numel() for p in model.parameters() if p.requires_grad)
            return ("full_finetune", f"Trainer trained the {type(model).__name__} itself: all {count:,} of its "
                                     "parameters, which is full fine-tuning. Wrap it with `get_peft_model` first; "
                                     "then Trainer trains only the adapter.")
        return ("not_peft", f"The Trainer's model is a {type(model).__name__}; give it the PeftModel "
                            "get_peft_model returns.")
    if steps == 0:
        return "not_trained", "It has not trained: global_step is 0. Call `my_trainer.train()`."
    problem = wraps_problem(model, "attn.c_attn") or lora_settings_problem(model, 4, 8)
    if problem:
        return problem
    if which_split(trainer, trainer.train_dataset) != "train":
        return ("train_data", "The Trainer did not train on the 400 training examples of tasks.split (its "
                              "train_dataset decodes to other sentences): pass my_data['train'].")
    evals = [log["eval_loss"] for log in trainer.state.log_history if "eval_loss" in log]
    if trainer.eval_dataset is None:
        return ("no_eval_dataset", "No eval_dataset: Trainer logged the training loss only, so there is no "
                                   "validation curve to draw. Pass `eval_dataset=my_data['test']`, and set "
                                   "eval_strategy in the arguments.")
    if not evals:
        return ("no_eval_strategy", f"The Trainer has an eval_dataset but logged no eval_loss: eval_strategy is "
                                    f"{trainer.args.eval_strategy.value!r}, the default. Set eval_strategy='steps' "
                                    "and eval_steps (or 'epoch').")
    where = which_split(trainer, trainer.eval_dataset)
    if where == "train":
        return ("eval_on_train", "The eval_dataset is the training split: its loss falls with the training loss "
                                 "whatever happens on new sentences. Evaluate on my_data['test'].")
    if where != "test":
        return "eval_data", "The eval_dataset is not the 60 held-out examples of tasks.split: pass my_data['test']."
    if len(evals) < 2:
        return ("one_eval", f"The held-out loss was logged {len(evals)} time: too few points for a curve. "
                            "Evaluate more often (eval_steps) than once per run.")
    return None


# 4. The evaluation ----------------------------------------------------------------------------------------

def _scores(model: Any, examples: list) -> tuple[float, float]:
    """(loss on the answers, exact-match accuracy) of `model` on `examples`, in eval mode, mode restored after."""
    was_training = model.training
    model.eval()
    try:
        batch = tasks.encode(_tokenizer(), examples)
        with torch.no_grad():
            loss = model(**batch).loss.item()
        return loss, tasks.accuracy(model, _tokenizer(), examples)
    finally:
        model.train(was_training)


def diagnose_scores(answer: Any) -> tuple[str, str] | None:
    """q4: (my_trainer, my_scores): my_scores holds the held-out loss and accuracy of my_trainer's model."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return "pair", "Pass the pair (my_trainer, my_scores)."
    trainer, scores = answer
    if not hasattr(trainer, "model"):
        return "not_trainer", f"The first of the pair must be your Trainer, not {type(trainer).__name__}."
    if not isinstance(scores, Mapping) or not {"loss", "accuracy"} <= set(scores):
        return "keys", "my_scores must be a dict with the keys 'loss' and 'accuracy'."
    try:
        loss, accuracy = float(scores["loss"]), float(scores["accuracy"])
    except (TypeError, ValueError):
        return "numbers", "my_scores['loss'] and my_scores['accuracy'] must be numbers."
    train, test = tasks.split(MY_ADAPTER_TASK)
    right_loss, right_accuracy = _scores(trainer.model, test)
    close = lambda a, b: math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-4)  # noqa: E731 - Trainer averages per batch
    if close(loss, right_loss) and close(accuracy, right_accuracy):
        return None
    if close(loss, _scores(trainer.model, train[:len(test)])[0]) or close(loss, _scores(trainer.model, train)[0]):
        return ("train_split", f"That loss ({loss:.4f}) is on training examples: it says how well the adapter "
                               "remembers. Score the held-out split (my_data['test']).")
    if close(loss, _scores(load_model("gpt2-mini"), test)[0]):
        return ("base", f"That loss ({loss:.4f}) is the base model's: no adapter in it. Score my_trainer.model.")
    batch = tasks.encode(_tokenizer(), test)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    was_training = trainer.model.training
    trainer.model.eval()
    with torch.no_grad():  # every token a label: pads counted, or masked out
        masked = ids.masked_fill(mask == 0, IGNORE)
        whole = [trainer.model(input_ids=ids, labels=ids).loss.item(),
                 trainer.model(input_ids=ids, attention_mask=mask, labels=masked).loss.item()]
    trainer.model.train(was_training)
    if any(close(loss, value) for value in whole):
        return ("whole_text", f"That loss ({loss:.4f}) counts every token of the text, the prompt too. Score the "
                              "answer only: the labels your collator masks (trainer.evaluate does it for you).")
    if not close(loss, right_loss):
        return ("loss", f"my_scores['loss'] is {loss:.4f}; my_trainer's model scores {right_loss:.4f} on the held-out "
                        "split (in eval mode: no dropout). Is it the model your Trainer trained?")
    return ("accuracy", f"The loss is right; my_scores['accuracy'] is {accuracy:.3f}, but your adapter writes "
                        f"{right_accuracy:.3f} of the held-out answers exactly (tasks.accuracy, in eval mode).")


# 5. The saved adapter -------------------------------------------------------------------------------------

def _lora_b_all_zero(tensors: dict) -> bool:
    b = [t for name, t in tensors.items() if "lora_B" in name]
    return bool(b) and all(not t.any() for t in b)


def diagnose_saved(answer: Any) -> tuple[str, str] | None:
    """q5: (my_trainer, my_folder): my_folder holds my_trainer's adapter, only it, loadable onto gpt2-mini."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return "pair", "Pass the pair (my_trainer, my_folder)."
    trainer, folder = answer
    if not isinstance(folder, (str, Path)):
        return "not_folder", f"Pass the folder you saved into (a Path or a str), not {type(folder).__name__}."
    folder = Path(folder)
    sizes = file_sizes(folder) if folder.is_dir() else {}
    if not sizes:
        return "nothing", "Nothing is saved in that folder: save into it, then pass it."
    full = [name for name in sizes if Path(name).name in ("model.safetensors", "pytorch_model.bin")]
    if full:
        return ("full_model", f"You saved the whole model: {full[0]} ({human_size(sizes[full[0]])}) holds every "
                              "weight of GPT-2, the LoRA layers inside them. The PeftModel's save_pretrained "
                              "writes only the adapter: `my_trainer.model.save_pretrained(folder)`.")
    pickles = [name for name in sizes if name.endswith((".pt", ".pth", ".bin")) and name != "training_args.bin"]
    if pickles:
        return ("pickle", f"You saved {pickles[0]} with torch.save: a pickle of the tensors (loading one can run "
                          "code, notebook 03) and no adapter_config.json for PEFT to rebuild the LoRA layers from. "
                          "`save_pretrained(folder)` writes both files.")
    if CONFIG_NAME not in sizes:
        nested = [name for name in sizes if name.endswith(f"/{CONFIG_NAME}")]
        if nested:
            return ("subfolder", f"The adapter is in the subfolder {nested[0].rsplit('/', 1)[0]}/: pass that folder.")
        return "no_config", "There is no adapter_config.json: PEFT needs it to rebuild the LoRA layers."
    if SAFETENSORS_WEIGHTS_NAME not in sizes:
        return "no_weights", "There is an adapter_config.json but no adapter_model.safetensors beside it."
    saved = load_file(folder / SAFETENSORS_WEIGHTS_NAME)
    if _lora_b_all_zero(saved):
        return ("untrained", "It saved an adapter that was never trained: every lora_B is zero, as right after "
                             "get_peft_model. Save the model your Trainer trained, my_trainer.model.")
    model = getattr(trainer, "model", None)
    if not isinstance(model, PeftModel):
        return "not_trainer", "The first of the pair must be your Trainer, whose model is a PeftModel."
    live = {name.replace(".default", ""): p.detach() for name, p in model.named_parameters() if ".lora_" in name}
    if saved.keys() != live.keys() or not all(torch.equal(saved[k], live[k]) for k in live):
        return ("not_yours", "The folder holds a trained adapter, but not my_trainer's: its tensors differ from "
                             "my_trainer.model's. Save the model your Trainer trained.")
    reloaded = PeftModel.from_pretrained(load_model("gpt2-mini"), folder)
    ids = torch.tensor([list(_reference_rows("test")[0][0])])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        same = torch.allclose(reloaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)
    model.train(was_training)
    if not same:
        return "reload", "PEFT loads the folder onto a fresh gpt2-mini, but the model it makes answers differently."
    return None


# The exercises --------------------------------------------------------------------------------------------

_TOKENIZE = ("def to_ids(row):\n"
             "    return {'prompt_ids': tokenizer(row['prompt'])['input_ids'],\n"
             "            'answer_ids': tokenizer(row['answer'])['input_ids'] + [tokenizer.eos_token_id]}\n\n\n"
             "def as_dataset(examples):\n"
             "    rows = [{'prompt': e.prompt, 'answer': e.answer} for e in examples]\n"
             "    return Dataset.from_list(rows).map(to_ids, remove_columns=['prompt', 'answer'])\n\n\n")


def _dataset_slip(body: str, train: str = "train_examples", test: str = "held_out") -> str:
    return f"{body}my_data = DatasetDict(train=as_dataset({train}), test=as_dataset({test}))"


q1 = TaskQuestion(
    id="02.dataset",
    prompt="Build `my_data`: a DatasetDict with the splits 'train' (train_examples) and 'test' (held_out), whose "
           "rows hold `prompt_ids` (the prompt's token ids) and `answer_ids` (the answer's, then end of text).",
    diagnose=diagnose_dataset,
    success="400 training and 60 held-out rows, each the prompt's ids and the answer's ids with the end of text: "
            "your collator can tell prompt from answer by the columns, so it can mask the prompt.",
    hints=["Section 2 built a Dataset with `Dataset.from_list(...).map(...)`; here the mapped function returns two "
           "columns, and `DatasetDict(train=..., test=...)` holds both splits.",
           "`tokenizer(example.answer)['input_ids'] + [tokenizer.eos_token_id]`: the answer and the stop."],
    solution_text="Keep prompt and answer apart, as ids: the collator masks by column, and the end of text goes "
                  "with the answer.",
    solution_code=_dataset_slip(_TOKENIZE),
    slips=[
        Slip(_dataset_slip(_TOKENIZE.replace(" + [tokenizer.eos_token_id]", "")), "no_eos"),
        Slip(_dataset_slip(_TOKENIZE, train="held_out", test="train_examples"), "swapped"),
        Slip(_dataset_slip(_TOKENIZE, test="train_examples[:60]"), "test_from_train"),
        Slip(_dataset_slip(_TOKENIZE.replace("(row['answer'])", "(row['answer'].strip())")), "answer_ids"),
        Slip(_dataset_slip(_TOKENIZE.replace("(row['prompt'])['input_ids']",
                                             "(row['prompt'])['input_ids'] + [tokenizer.eos_token_id]")
                           .replace(" + [tokenizer.eos_token_id]}", "}")), "eos_on_prompt"),
        Slip(_dataset_slip(_TOKENIZE.replace(".map(to_ids, remove_columns=['prompt', 'answer'])", "")), "no_ids"),
        Slip(_TOKENIZE + "ids = lambda examples: [to_ids({'prompt': e.prompt, 'answer': e.answer}) for e in examples]\n"
             "my_data = {'train': ids(train_examples), 'test': ids(held_out)}",
             "not_dataset"),
    ],
    alternatives=[
        "def batch_ids(batch):\n"
        "    eos = tokenizer.eos_token_id\n"
        "    return {'prompt_ids': tokenizer(batch['prompt'])['input_ids'],\n"
        "            'answer_ids': [ids + [eos] for ids in tokenizer(batch['answer'])['input_ids']]}\n\n\n"
        "columns = lambda examples: {'prompt': [e.prompt for e in examples], 'answer': [e.answer for e in examples]}\n"
        "my_data = DatasetDict({name: Dataset.from_dict(columns(examples)).map(batch_ids, batched=True)\n"
        "                       for name, examples in [('train', train_examples), ('test', held_out)]})",
        "eos = [tokenizer.eos_token_id]\n"
        "rows = lambda examples: [{'prompt_ids': tokenizer(e.prompt)['input_ids'],\n"
        "                          'answer_ids': tokenizer(e.answer)['input_ids'] + eos} for e in examples]\n"
        "my_data = DatasetDict(train=Dataset.from_list(rows(train_examples)),\n"
        "                      test=Dataset.from_list(rows(held_out)).shuffle(seed=0))",
    ],
)

_COLLATE = ("def my_collate(rows):\n"
            "    width = max(len(r['prompt_ids']) + len(r['answer_ids']) for r in rows)\n"
            "    ids, mask, labels = [], [], []\n"
            "    for r in rows:\n"
            "        tokens = r['prompt_ids'] + r['answer_ids']\n"
            "        pad = width - len(tokens)\n"
            "        ids.append(tokens + [tokenizer.eos_token_id] * pad)\n"
            "        mask.append([1] * len(tokens) + [0] * pad)\n"
            "        labels.append([-100] * len(r['prompt_ids']) + r['answer_ids'] + [-100] * pad)\n"
            "    return {'input_ids': torch.tensor(ids), 'attention_mask': torch.tensor(mask),\n"
            "            'labels': torch.tensor(labels)}")

q2 = _FunctionTask(
    id="02.collator",
    prompt="Write `my_collate(rows)` for rows of my_data: pad to the longest row, and return input_ids, "
           "attention_mask and labels as tensors, the labels -100 on the prompt and on the padding.",
    diagnose=diagnose_collator,
    success="Padded on the right, attention on the real tokens only, and labels on the answer and its end of "
            "text alone: the loss is the answer's.",
    hints=["Per row: the tokens are prompt_ids + answer_ids; the labels are -100 for each prompt token, then the "
           "answer ids; pad both to the longest row (any id for input_ids, -100 for labels).",
           "Leave the labels where the tokens are: the model shifts them by one itself."],
    solution_text="Mask by position, not by value: the pad is the end-of-text token, whose label after the answer "
                  "must stay.",
    solution_code=_COLLATE,
    slips=[
        Slip(_COLLATE.replace("[-100] * len(r['prompt_ids']) + r['answer_ids']", "tokens"), "labels_unmasked"),
        Slip(_COLLATE.replace("r['answer_ids'] + [-100] * pad", "r['answer_ids'] + [tokenizer.eos_token_id] * pad"),
             "padding_unmasked"),
        Slip(_COLLATE.replace("r['answer_ids'] + [-100] * pad", "r['answer_ids'] + [tokenizer.eos_token_id] * pad")
             .replace("    return {", "    labels = torch.tensor(labels)\n"
                                    "    labels[labels == tokenizer.eos_token_id] = -100\n    return {")
             .replace("'labels': torch.tensor(labels)}", "'labels': labels}"), "eos_dropped"),
        Slip(_COLLATE.replace("[-100] * len(r['prompt_ids']) + r['answer_ids'] + [-100] * pad",
                              "([-100] * len(r['prompt_ids']) + r['answer_ids'] + [-100] * pad)[1:] + [-100]"),
             "shifted"),
        Slip(_COLLATE.replace("[1] * len(tokens) + [0] * pad", "[1] * width"), "attention"),
        Slip(_COLLATE.replace("torch.tensor(ids)", "ids").replace("torch.tensor(mask)", "mask")
             .replace("torch.tensor(labels)", "labels"), "not_tensor"),
        Slip(_COLLATE.replace("tokens + [tokenizer.eos_token_id] * pad", "[tokenizer.eos_token_id] * pad + tokens")
             .replace("[1] * len(tokens) + [0] * pad", "[0] * pad + [1] * len(tokens)")
             .replace("[-100] * len(r['prompt_ids']) + r['answer_ids'] + [-100] * pad",
                      "[-100] * (pad + len(r['prompt_ids'])) + r['answer_ids']"), "left_padded"),
    ],
    alternatives=[
        "from torch.nn.utils.rnn import pad_sequence\n\n\n"
        "def my_collate(rows):\n"
        "    tokens = [torch.tensor(r['prompt_ids'] + r['answer_ids']) for r in rows]\n"
        "    labels = [torch.tensor([-100] * len(r['prompt_ids']) + r['answer_ids']) for r in rows]\n"
        "    ids = pad_sequence(tokens, batch_first=True, padding_value=tokenizer.eos_token_id)\n"
        "    mask = pad_sequence([torch.ones_like(t) for t in tokens], batch_first=True)\n"
        "    return {'input_ids': ids, 'attention_mask': mask,\n"
        "            'labels': pad_sequence(labels, batch_first=True, padding_value=-100)}",
        "seq2seq = DataCollatorForSeq2Seq(tokenizer, pad_to_multiple_of=8)  # pads labels with -100\n\n\n"
        "def my_collate(rows):\n"
        "    return seq2seq([{'input_ids': r['prompt_ids'] + r['answer_ids'],\n"
        "                     'labels': [-100] * len(r['prompt_ids']) + r['answer_ids']} for r in rows])",
    ],
)

_LORA = ("my_config = LoraConfig(r=4, lora_alpha=8, target_modules=['c_attn'], fan_in_fan_out=True,\n"
         "                       task_type='CAUSAL_LM')\n"
         "torch.manual_seed(0)\n"
         "my_model = get_peft_model(load_model('gpt2-mini'), my_config)\n")
_ARGS = ("my_args = TrainingArguments(output_dir=runs / 'mine', max_steps=30, learning_rate=3e-3,\n"
         "                            per_device_train_batch_size=16, eval_strategy='steps', eval_steps=10,\n"
         "                            logging_steps=10, save_strategy='no', remove_unused_columns=False,\n"
         "                            dataloader_pin_memory=False, report_to='none', disable_tqdm=True, seed=0)\n")
_TRAINER = ("my_trainer = Trainer(model=my_model, args=my_args, train_dataset=my_data['train'],\n"
            "                     eval_dataset=my_data['test'], data_collator=my_collate)\n")
_QUIET = "my_trainer.remove_callback(PrinterCallback)\n"


def _train_slip(lora: str = _LORA, args: str = _ARGS, trainer: str = _TRAINER,
                train: str = "my_trainer.train()") -> str:
    return lora + args + trainer + _QUIET + train


q3 = TaskQuestion(
    id="02.trainer",
    prompt="Train an adapter of your own, r=4 on `c_attn` only, on my_data with my_collate for 30 steps: "
           "write the TrainingArguments and the Trainer, with the held-out loss logged every 10 steps. Keep the "
           "Trainer in `my_trainer`.",
    diagnose=diagnose_trainer,
    success="Trainer trained only your adapter (r=4 on the 4 `c_attn` modules) on the 400 training examples and "
            "logged the held-out loss as it went: the two curves below come from my_trainer.state.log_history.",
    hints=["Section 3's arguments, plus `remove_unused_columns=False`: by default Trainer drops every column the "
           "model's forward does not take, and prompt_ids and answer_ids are not among them.",
           "`Trainer(model=..., args=..., train_dataset=my_data['train'], eval_dataset=my_data['test'], "
           "data_collator=my_collate)`, then `my_trainer.train()`: train() returns a summary, not the Trainer."],
    solution_text="A PeftModel, an eval_dataset and an eval_strategy: without the last two, no validation curve.",
    solution_code=_train_slip(),
    slips=[
        Slip(_train_slip(train="my_trainer = my_trainer.train()"), "train_output"),
        Slip(_train_slip(train="my_trainer.args.max_steps"), "not_trained"),
        Slip(_train_slip(lora="my_model = load_model('gpt2-mini')\n"), "full_finetune"),
        Slip(_train_slip(lora="torch.manual_seed(0)\nmy_model = get_peft_model(load_model('gpt2-mini'), recipe)\n"),
             "targets"),
        Slip(_train_slip(args=_ARGS.replace("eval_strategy='steps', ", "")), "no_eval_strategy"),
        Slip(_train_slip(args=_ARGS.replace("eval_strategy='steps', ", ""),
                         trainer=_TRAINER.replace("\n                     eval_dataset=my_data['test'],", "")),
             "no_eval_dataset"),
        Slip(_train_slip(trainer=_TRAINER.replace("eval_dataset=my_data['test']", "eval_dataset=my_data['train']")),
             "eval_on_train"),
        Slip(_train_slip(trainer=_TRAINER.replace("train_dataset=my_data['train']", "train_dataset=my_data['test']")),
             "train_data"),
    ],
    alternatives=[
        _train_slip(lora=_LORA.replace("target_modules=['c_attn']", r"target_modules=r'.*\.attn\.c_attn'"),
                    args=_ARGS.replace("max_steps=30", "num_train_epochs=2")
                    .replace("eval_strategy='steps', eval_steps=10", "eval_strategy='epoch'")),
        _train_slip(trainer="my_trainer = Trainer(model=my_model, args=my_args, train_dataset=train_ds,\n"
                            "                     eval_dataset=test_ds, data_collator=collate)\n"),
    ],
)

_SCORES = ("my_eval = my_trainer.evaluate(my_data['test'])\n"
           "my_trainer.model.eval()\n"
           "my_scores = {'loss': my_eval['eval_loss'],\n"
           "             'accuracy': tasks.accuracy(my_trainer.model, tokenizer, held_out)}")

q4 = TaskQuestion(
    id="02.evaluate",
    prompt="Score your adapter on the held-out split: `my_scores = {'loss': ..., 'accuracy': ...}`, the loss on "
           "the answers and the exact-match accuracy of my_trainer's model.",
    diagnose=diagnose_scores,
    success="Your adapter's held-out loss and accuracy, measured in eval mode: compare them with section 4's.",
    hints=["`my_trainer.evaluate(dataset)` returns a dict with 'eval_loss'; `tasks.accuracy(model, tokenizer, "
           "examples)` the exact-match rate.",
           "Trainer leaves the model in training mode (dropout on): `.eval()` before you measure by hand."],
    solution_text="evaluate() scores the loss your collator defines; accuracy asks whether greedy decoding writes "
                  "the answer and stops.",
    solution_code=_SCORES,
    slips=[
        Slip(_SCORES.replace("evaluate(my_data['test'])", "evaluate(my_data['train'])"), "train_split"),
        Slip("my_scores = {'loss': base(**tasks.encode(tokenizer, held_out)).loss.item(),\n"
             "             'accuracy': tasks.accuracy(base, tokenizer, held_out)}", "base"),
        Slip(_SCORES.replace("my_eval['eval_loss']", "model(**tasks.encode(tokenizer, held_out)).loss.item()"),
             "loss"),
        Slip("batch = tasks.encode(tokenizer, held_out)\nmy_trainer.model.eval()\n"
             "whole = my_trainer.model(input_ids=batch['input_ids'], labels=batch['input_ids'])\n"
             "my_scores = {'loss': whole.loss.item(),\n"
             "             'accuracy': tasks.accuracy(my_trainer.model, tokenizer, held_out)}", "whole_text"),
        Slip(_SCORES.replace("held_out)}", "train_examples)}") .replace("evaluate(my_data['test'])",
                                                                          "evaluate(my_data['train'])"),
             "train_split"),
    ],
    alternatives=[
        "my_trainer.model.eval()\n"
        "with torch.no_grad():\n"
        "    loss = my_trainer.model(**tasks.encode(tokenizer, held_out)).loss.item()\n"
        "my_scores = dict(loss=loss, accuracy=tasks.accuracy(my_trainer.model, tokenizer, held_out))",
        "my_scores = {'loss': my_trainer.evaluate()['eval_loss'],  # the eval_dataset is the held-out split\n"
        "             'accuracy': sum(tasks.exact_matches(my_trainer.model, tokenizer, held_out)) / len(held_out)}",
    ],
)

_SAVE = "my_folder = runs / 'my-adapter'\nmy_trainer.model.save_pretrained(my_folder)"

q5 = TaskQuestion(
    id="02.save_mine",
    prompt="Save your adapter (my_trainer's) into a new folder `my_folder` under `runs`, as a folder someone "
           "else can load onto gpt2-mini: pass (my_trainer, my_folder).",
    diagnose=diagnose_saved,
    success="The folder holds your adapter as PEFT writes it, and PEFT loads it onto a fresh gpt2-mini into a "
            "model that answers as yours does.",
    hints=["Which object's save_pretrained writes only the adapter: the PeftModel's, or the model inside it?",
           "Section 6 saved the notebook's adapter; save my_trainer's model the same way, into a folder of its own."],
    solution_text="The PeftModel's save_pretrained (or trainer.save_model, which adds training_args.bin) writes "
                  "adapter_config.json and adapter_model.safetensors.",
    solution_code=_SAVE,
    slips=[
        Slip("my_folder = runs / 'slip-full'\nmy_trainer.model.base_model.model.save_pretrained(my_folder)",
             "full_model"),
        Slip("my_folder = runs / 'slip-pickle'\nmy_folder.mkdir(exist_ok=True)\n"
             "torch.save(my_trainer.model.state_dict(), my_folder / 'adapter.pt')", "pickle"),
        Slip("my_folder = runs / 'slip-fresh'\ntorch.manual_seed(0)\n"
             "get_peft_model(load_model('gpt2-mini'), LoraConfig(r=4, target_modules=['c_attn'], "
             "fan_in_fan_out=True)).save_pretrained(my_folder)", "untrained"),
        Slip("my_folder = runs / 'slip-notebook'\nmodel.save_pretrained(my_folder)", "not_yours"),
        Slip("my_folder = runs / 'slip-config'\nmy_trainer.model.peft_config['default'].save_pretrained(my_folder)",
             "no_weights"),
    ],
    alternatives=[
        "my_folder = runs / 'my-adapter-2'\nmy_trainer.save_model(my_folder)",
        "my_folder = str(runs / 'my-adapter-3')\nmy_trainer.model.save_pretrained(my_folder, safe_serialization=True)",
    ],
)

q6 = CodeQuestion(
    id="02.scaling",
    prompt="Write `lora_scaling(r, lora_alpha, use_rslora=False)`: the factor PEFT multiplies B·A by.",
    cases=[((8, 16), 2.0), ((32, 16), 0.5), ((32, 16, True), 16 / math.sqrt(32)), ((4, 8, True), 4.0),
           ((1, 1), 1.0)],
    reference_function=lambda r, lora_alpha, use_rslora=False: lora_alpha / (math.sqrt(r) if use_rslora else r),
    wrong_functions=[lambda r, lora_alpha, use_rslora=False: lora_alpha / r,
                     lambda r, lora_alpha, use_rslora=False: lora_alpha / math.sqrt(r),
                     lambda r, lora_alpha, use_rslora=False: r / lora_alpha],
    hints=["Section 3 asserted PEFT's `scaling` for the recipe; deep dive 02a for four settings.",
           "Plain LoRA divides by r; rsLoRA by the square root of r."],
    solution_text="import math\n\ndef lora_scaling(r, lora_alpha, use_rslora=False):\n"
                  "    return lora_alpha / (math.sqrt(r) if use_rslora else r)",
    alternatives=["def lora_scaling(r, lora_alpha, use_rslora=False):\n"
                  "    if use_rslora:\n        return lora_alpha / r ** 0.5\n    return lora_alpha / r",
                  "import math\n\ndef lora_scaling(r, lora_alpha, use_rslora=False):\n"
                  "    return lora_alpha * (1 / math.sqrt(r) if use_rslora else 1 / r)"],
    other_wrong=["def lora_scaling(r, lora_alpha, use_rslora=False):\n    return lora_alpha / r / 2",
                 "def lora_scaling(r, lora_alpha, use_rslora=False):\n"
                 "    return lora_alpha / (r ** 2 if use_rslora else r)"],
)
