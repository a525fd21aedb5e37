"""Two toy tasks for two adapters on one base: Spanish sentiment and English name tagging.

The seed's check-your-understanding question imagines a Spanish sentiment adapter and an English
named-entity adapter on one base model. These are those two tasks at toy scale, generated from
seeded templates over the words of `adapterlab.corpus`, so the `gpt2-mini` tokenizer knows every
word and the base model has read sentences like them (but never a prompt or an answer).

- `spanish_sentiment`: "Sentimiento: El viaje a Lima fue terrible." -> " malo" (or " bueno")
- `english_ner`: "Tag: Anna walked to Paris in the morning. Paris" -> " in" (a place; " with" for a person)

Why these answer words and not " positivo" or "PER"/"LOC": a LoRA adapter leaves the token embeddings
frozen, and GPT-2 ties them to the output layer. Tokens the base never saw in pretraining ("PER"
splits into " P", "E", "R", none of which occurs in the corpus) keep untrained output embeddings, and
an adapter could not learn to write them within the time budget. So the answers are corpus words:
" bueno"/" malo" (whatever the review's adjective agrees with: "La sopa es muy buena." -> " bueno"),
and for names the word that goes before them in the corpus ("with Anna", "in Paris"): `NER_ANSWERS`.
The question sits right after the word that decides it (the last word of the review, the name),
because a few dozen LoRA steps on a 4-layer model learn that, but not yet to look far back.

Each task's grammar has two parts that share no sentence template and no name (person or place): the
training part, `TEMPLATES[task]["train"]` over every name but `HELD_OUT_NAMES` (`train_names`), and the
held-out part, `TEMPLATES[task]["held_out"]` over the names of `HELD_OUT_NAMES` only. Every name is still
a corpus word, so the tokenizer and the base model know it; only the adapter never met it in its task.
Three sets, then:

- `split(task)` -> (train, test): training examples from the training part; test examples from the
  held-out part, so a test score says how well the adapter carries over to sentence shapes and
  names it never saw, which is harder than the training sentences (and the honest number).
- `validation(task)`: more examples of the training part, none a training sentence: how well the
  adapter fits the sentences of the kind it was shown (what a training loop watches, without ever
  touching the test set).

A model answers by greedy decoding. `accuracy` scores exact match of the whole answer, end of text
included, with one forward pass: greedy decoding writes the answer exactly when, at every answer
position, the answer's token is the arg-max given the tokens before it (teacher forcing).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from adapterlab.corpus import (
    ANIMALS,
    ES_ANIMALS,
    ES_BAD,
    ES_GOOD,
    ES_PEOPLE,
    ES_PLACES,
    FEELINGS,
    FOODS,
    MOVES,
    OBJECTS,
    PEOPLE,
    PLACES,
    TIMES,
    VERBS_PAST,
    agree,
    gender_of,
)

TASKS = ("spanish_sentiment", "english_ner")
PARTS = ("train", "held_out")
# The label, and the adjectives (masculine, feminine) that carry it.
LABELS = {"bueno": ES_GOOD, "malo": ES_BAD}
# What the NER task answers for each kind of name: the word that goes before it in the corpus.
NER_ANSWERS = {"PER": "with", "LOC": "in"}
# Names only the held-out part uses: people and places of both languages (Quito and Toledo are both).
HELD_OUT_NAMES = frozenset({"Clara", "Hugo", "Nadia", "Samir", "Oslo", "Dublin", "Quito", "Toledo",
                            "Lucía", "Javier"})

# A sentiment template's adjective agrees with the subject: "m" or "f" as written in the template, or
# "animal" for the gender of the {animal} drawn.
TEMPLATES = {
    "spanish_sentiment": {
        "train": [
            ("La comida en {place} es {word}.", "f"),
            ("El viaje a {place} fue {word}.", "m"),
            ("{p} dice que {animal} es {word}.", "animal"),
            ("{p} dice que el viaje a {place} fue {word}.", "m"),
            ("En {place}, {p} dice que la sopa es {word}.", "f"),
        ],
        "held_out": [
            ("{p} dice que la comida en {place} es {word}.", "f"),
            ("En {place}, el pescado es {word}.", "m"),
            ("En {place}, {p} dice que {animal} es {word}.", "animal"),
        ],
    },
    "english_ner": {
        "train": [
            "{p} {move} to {place} {time}.",
            "{p} and {q} {move} from {place} to {place2}.",
            "In {place}, {p} ate {food} with {q}.",
            "{p} {vpast} the {obj} in {place}.",
            "{p} wrote a letter to {q} about the {animal}.",
            "Every day {p} buys {food} in {place}.",
            "The {animal} from {place} slept near the {obj}.",
        ],
        "held_out": [
            "{p} felt {feel} when {q} {move} to {place}.",
            "{p} gave the {obj} to {q} in {place}.",
            "{time_cap}, {p} ate {food} in {place}.",
        ],
    },
}


def train_names(names: list[str]) -> list[str]:
    """Returns the names of `names` (a list of `adapterlab.corpus`) that the training part may use."""
    return [n for n in names if n not in HELD_OUT_NAMES]


def _names(names: list[str], part: str) -> list[str]:
    return train_names(names) if part == "train" else [n for n in names if n in HELD_OUT_NAMES]


@dataclass(frozen=True)
class Example:
    """One prompt and the answer a model should write after it (the end-of-text token follows)."""

    prompt: str
    answer: str
    sentence: str


def _sentiment(rng: random.Random, part: str) -> Example:
    label = rng.choice(list(LABELS))
    template, subject = rng.choice(TEMPLATES["spanish_sentiment"][part])
    animal = rng.choice(ES_ANIMALS)
    gender = gender_of(animal) if subject == "animal" else subject
    sentence = template.format(
        place=rng.choice(_names(ES_PLACES, part)), p=rng.choice(_names(ES_PEOPLE, part)), animal=animal,
        word=agree(rng.choice(LABELS[label]), gender))
    sentence = sentence[0].upper() + sentence[1:]
    return Example(f"Sentimiento: {sentence}", f" {label}", sentence)


def _ner(rng: random.Random, part: str) -> Example:
    template = rng.choice(TEMPLATES["english_ner"][part])
    p, q = rng.sample(_names(PEOPLE, part), 2)
    place, place2 = rng.sample(_names(PLACES, part), 2)
    time = rng.choice(TIMES)
    values = dict(p=p, q=q, place=place, place2=place2, time=time, time_cap=time[0].upper() + time[1:],
                  move=rng.choice(MOVES), food=rng.choice(FOODS), vpast=rng.choice(VERBS_PAST),
                  obj=rng.choice(OBJECTS), animal=rng.choice(ANIMALS), feel=rng.choice(FEELINGS))
    sentence = template.format(**values)
    key = rng.choice([k for k in ("p", "q", "place", "place2") if "{" + k + "}" in template])
    tag = "PER" if key in ("p", "q") else "LOC"
    return Example(f"Tag: {sentence} {values[key]}", f" {NER_ANSWERS[tag]}", sentence)


def make_examples(task: str, n: int, seed: int = 0, exclude: set[str] = frozenset(),
                  part: str = "train") -> list[Example]:
    """Returns `n` distinct examples of `task`, none of whose sentences is in `exclude`.

    Args:
        task: 'spanish_sentiment' or 'english_ner'.
        n: how many examples.
        seed: the seed of the template grammar; the same seed gives the same examples.
        exclude: sentences to leave out (the training sentences, when drawing validation ones).
        part: 'train' (the training templates and names) or 'held_out' (the others).
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}: the workbook has {' and '.join(map(repr, TASKS))}.")
    if part not in PARTS:
        raise ValueError(f"Unknown part {part!r}: a task's grammar has the parts 'train' and 'held_out'.")
    draw = _sentiment if task == "spanish_sentiment" else _ner
    rng = random.Random(f"{task}-{seed}" if part == "train" else f"{task}-{part}-{seed}")
    seen, examples = set(exclude), []
    for _ in range(100 * n):
        example = draw(rng, part)
        if example.sentence not in seen:
            seen.add(example.sentence)
            examples.append(example)
            if len(examples) == n:
                return examples
    raise ValueError(f"The {task} grammar has fewer than {n} sentences outside `exclude`; ask for fewer.")


def split(task: str, n_train: int = 400, n_test: int = 60) -> tuple[list[Example], list[Example]]:
    """Returns (training examples, held-out examples) of `task`: no template or name is in both."""
    return make_examples(task, n_train, seed=0), make_examples(task, n_test, seed=1, part="held_out")


def validation(task: str, n: int = 60, n_train: int = 400) -> list[Example]:
    """Returns `n` examples of `task`'s training part that are not among `split(task, n_train)`'s training ones."""
    train = make_examples(task, n_train, seed=0)
    return make_examples(task, n, seed=2, exclude={e.sentence for e in train})


def encode(tokenizer, examples: list[Example]) -> dict[str, torch.Tensor]:
    """Returns right-padded `input_ids`, `attention_mask` and `labels` (-100 except on answer + end of text)."""
    rows = []
    for example in examples:
        prompt = tokenizer(example.prompt)["input_ids"]
        answer = tokenizer(example.answer)["input_ids"] + [tokenizer.eos_token_id]
        rows.append((prompt + answer, [-100] * len(prompt) + answer))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.eos_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r, _ in rows])  # (B, T)
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])  # (B, T)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows])  # (B, T)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def exact_matches(model, tokenizer, examples: list[Example], **forward_kwargs) -> list[bool]:
    """Returns, per example, whether greedy decoding writes exactly its answer and then stops.

    `forward_kwargs` go to the model's forward (for instance PEFT's `adapter_names=`).
    """
    batch = encode(tokenizer, examples)
    labels = batch.pop("labels")
    with torch.no_grad():
        logits = model(**batch, **forward_kwargs).logits  # (B, T, V)
    predicted = logits[:, :-1].argmax(-1)  # (B, T-1): the token predicted for position t+1
    target = labels[:, 1:]
    scored = target != -100
    return ((predicted == target) | ~scored).all(dim=1).tolist()


def accuracy(model, tokenizer, examples: list[Example], **forward_kwargs) -> float:
    """Returns the fraction of `examples` whose answer greedy decoding writes exactly."""
    matches = exact_matches(model, tokenizer, examples, **forward_kwargs)
    return sum(matches) / len(matches)
