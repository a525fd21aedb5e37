"""Tests of adapterlab.tasks: the two toy tasks, their encoding and exact-match scoring."""

import collections
import re

import pytest
from tests.common import tiny_gpt2

import adapterlab  # noqa: F401  (offline before transformers)
from adapterlab import tasks
from adapterlab.corpus import (
    ANIMALS,
    ES_ANIMALS,
    ES_BAD,
    ES_GOOD,
    ES_PEOPLE,
    ES_PLACES,
    PEOPLE,
    PLACES,
    generate_corpus,
)
from adapterlab.models import generate, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("gpt2-mini")


@pytest.mark.parametrize("task", tasks.TASKS)
def test_examples_are_seeded(task):
    """The same seed gives the same examples; another seed gives others."""
    assert tasks.make_examples(task, 20, seed=3) == tasks.make_examples(task, 20, seed=3)
    assert tasks.make_examples(task, 20, seed=3) != tasks.make_examples(task, 20, seed=4)


@pytest.mark.parametrize("task", tasks.TASKS)
def test_split_holds_out_sentences(task):
    """No held-out sentence is a training sentence, and the sizes are the ones asked for."""
    train, test = tasks.split(task, n_train=300, n_test=50)
    assert len(train) == 300 and len(test) == 50
    assert not {e.sentence for e in train} & {e.sentence for e in test}


# What may fill a template's slot, as a regular expression: a name is one word, an animal one of the corpus's.
_SLOT = {"p": r"(?P<p>\w+)", "q": r"(?P<q>\w+)", "place": r"(?P<place>\w+)", "place2": r"(?P<place2>\w+)",
         "animal": "|".join(ANIMALS + ES_ANIMALS).join("()"), "word": r"(?:muy )?\w+", "time": r"[\w ]+",
         "time_cap": r"[\w ]+"}


def _template_of(task: str, sentence: str) -> tuple[str, str, dict[str, str]]:
    """Returns (part, template, names) of the one template of `task` that can write `sentence`."""
    found = []
    for part in tasks.PARTS:
        for template in tasks.TEMPLATES[task][part]:
            text = template[0] if isinstance(template, tuple) else template
            written = re.escape(text[0].upper() + text[1:])  # a sentence starts with a capital
            match = re.fullmatch(re.sub(r"\\\{(\w+)\\\}", lambda m: _SLOT.get(m.group(1), r"\w+"), written), sentence)
            if match:
                found.append((part, text, {k: v for k, v in match.groupdict().items() if v}))
    assert len(found) == 1, (sentence, found)
    return found[0]


@pytest.mark.parametrize("task", tasks.TASKS)
def test_held_out_examples_share_no_template_and_no_name_with_training(task):
    """Every training sentence comes from a training template and names; every test sentence from a held-out
    template and held-out names; so no template and no name (person, place) is in both, and each part uses
    more than one of each."""
    train, test = tasks.split(task)
    validation = tasks.validation(task)
    used = {}
    for part, examples in (("train", train + validation), ("held_out", test)):
        templates, names = set(), set()
        for example in examples:
            found_part, template, slots = _template_of(task, example.sentence)
            assert found_part == part, (example.sentence, part)
            templates.add(template)
            names |= set(slots.values())
        assert len(templates) > 1 and len(names) > 2
        used[part] = templates, names
    assert not used["train"][0] & used["held_out"][0]
    assert not used["train"][1] & used["held_out"][1]
    assert used["held_out"][1] <= tasks.HELD_OUT_NAMES
    # The names' other occurrences in the words of the sentence: a held-out name never appears in training text.
    train_words = {w.strip(".,") for e in train + validation for w in e.sentence.split()}
    assert not train_words & tasks.HELD_OUT_NAMES


def test_held_out_names_are_corpus_names_of_both_kinds():
    """Every held-out name is a person or place of the corpus (so the tokenizer and the base know it), and
    each task keeps at least two of each kind on each side."""
    assert tasks.HELD_OUT_NAMES <= set(PEOPLE + PLACES + ES_PEOPLE + ES_PLACES)
    text = generate_corpus()
    assert all(name in text for name in tasks.HELD_OUT_NAMES)
    for names in (PEOPLE, PLACES, ES_PEOPLE, ES_PLACES):
        held = [n for n in names if n in tasks.HELD_OUT_NAMES]
        assert len(held) >= 2 and len(tasks.train_names(names)) >= 2 * len(held)


@pytest.mark.parametrize("task", tasks.TASKS)
def test_validation_is_the_training_part_without_training_sentences(task):
    """validation() draws from the training templates and names, and none of its sentences is a training one."""
    train, test = tasks.split(task)
    validation = tasks.validation(task, 40)
    assert len(validation) == 40
    assert not {e.sentence for e in validation} & {e.sentence for e in train + test}


def test_sentiment_answer_follows_the_word():
    """A review answers ' bueno' exactly when it ends with a form of corpus.ES_GOOD, ' malo' with ES_BAD."""
    examples = [e for part in tasks.PARTS for e in tasks.make_examples("spanish_sentiment", 200, part=part)]
    for example in examples:
        good = any(example.sentence.endswith(f" {w}.") for pair in ES_GOOD for w in pair)
        bad = any(example.sentence.endswith(f" {w}.") for pair in ES_BAD for w in pair)
        assert good != bad
        assert example.answer == (" bueno" if good else " malo")
    answers = collections.Counter(e.answer for e in tasks.make_examples("spanish_sentiment", 200))
    assert min(answers.values()) > 60  # both labels well represented


def test_ner_answer_follows_the_name():
    """The queried name ends the prompt, appears in the sentence, and is answered ' with' (person) or ' in' (place)."""
    kinds = collections.Counter()
    for example in tasks.make_examples("english_ner", 200) + tasks.make_examples("english_ner", 200, part="held_out"):
        name = example.prompt.rsplit(" ", 1)[1]
        assert name in example.sentence
        assert (name in PEOPLE, name in PLACES) in {(True, False), (False, True)}
        assert example.answer == (" with" if name in PEOPLE else " in")
        kinds[example.answer] += 1
    assert min(kinds.values()) > 120


def test_answers_are_single_corpus_tokens(tokenizer):
    """Every answer word is one token that occurs in the pretraining corpus (so its output embedding was trained)."""
    corpus_ids = set(tokenizer(generate_corpus())["input_ids"])
    for task in tasks.TASKS:
        for answer in {e.answer for part in tasks.PARTS for e in tasks.make_examples(task, 100, part=part)}:
            ids = tokenizer(answer)["input_ids"]
            assert len(ids) == 1 and ids[0] in corpus_ids, answer
    assert not set(tokenizer(" PER")["input_ids"]) & corpus_ids  # what the module docstring says


def test_encode_masks_the_prompt(tokenizer):
    """Labels are -100 on the prompt and padding, and the answer's ids then end-of-text elsewhere."""
    examples = tasks.make_examples("english_ner", 2) + tasks.make_examples("spanish_sentiment", 1)
    batch = tasks.encode(tokenizer, examples)
    for row, example in enumerate(examples):
        n_prompt = len(tokenizer(example.prompt)["input_ids"])
        answer = tokenizer(example.answer)["input_ids"] + [tokenizer.eos_token_id]
        labels = batch["labels"][row].tolist()
        assert labels[:n_prompt] == [-100] * n_prompt
        assert labels[n_prompt:n_prompt + len(answer)] == answer
        assert set(labels[n_prompt + len(answer):]) <= {-100}
        assert batch["attention_mask"][row].sum().item() == n_prompt + len(answer)


def _tiny_model(tokenizer, seed):
    return tiny_gpt2(seed, vocab_size=len(tokenizer), n_layer=1, n_positions=64,
                     eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)


def test_exact_match_agrees_with_greedy_generation(tokenizer):
    """exact_matches is True exactly when greedy generation writes the answer and then end-of-text."""
    model = _tiny_model(tokenizer, seed=0)
    examples = tasks.make_examples("spanish_sentiment", 6)
    # Make the tiny model right on some examples: give it the answers as its own greedy continuations.
    fake = [tasks.Example(e.prompt, generate(model, tokenizer, e.prompt, 2)[len(e.prompt):], e.sentence)
            for e in examples[:3]]
    model.generation_config.eos_token_id = None  # continue past end-of-text, to see what follows it
    scored = tasks.exact_matches(model, tokenizer, fake + examples[3:])
    for example, match in zip(fake + examples[3:], scored, strict=True):
        written = tokenizer(generate(model, tokenizer, example.prompt, 3))["input_ids"]
        wanted = tokenizer(example.prompt + example.answer)["input_ids"] + [tokenizer.eos_token_id]
        assert match == (written[:len(wanted)] == wanted)


def test_unknown_task_or_part_is_refused():
    """A task name, or a part of its grammar, that does not exist says which ones do."""
    with pytest.raises(ValueError, match="spanish_sentiment"):
        tasks.make_examples("french_poetry", 3)
    with pytest.raises(ValueError, match="'train' and 'held_out'"):
        tasks.make_examples("english_ner", 3, part="test")
