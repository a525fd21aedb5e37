"""Tests of adapterlab.tasks: the two toy tasks, their encoding and exact-match scoring."""

import collections

import pytest
from tests.common import tiny_gpt2

import adapterlab  # noqa: F401  (offline before transformers)
from adapterlab import tasks
from adapterlab.corpus import ES_BAD, ES_GOOD, PEOPLE, PLACES, generate_corpus
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


def test_sentiment_answer_follows_the_word():
    """A review answers ' bueno' exactly when it ends with a word of corpus.ES_GOOD, ' malo' with ES_BAD."""
    for example in tasks.make_examples("spanish_sentiment", 200):
        good = any(example.sentence.endswith(f" {w}.") for w in ES_GOOD)
        bad = any(example.sentence.endswith(f" {w}.") for w in ES_BAD)
        assert good != bad
        assert example.answer == (" bueno" if good else " malo")
    answers = collections.Counter(e.answer for e in tasks.make_examples("spanish_sentiment", 200))
    assert min(answers.values()) > 60  # both labels well represented


def test_ner_answer_follows_the_name():
    """The queried name ends the prompt, appears in the sentence, and is answered ' with' (person) or ' in' (place)."""
    kinds = collections.Counter()
    for example in tasks.make_examples("english_ner", 200):
        name = example.prompt.rsplit(" ", 1)[1]
        assert name in example.sentence
        assert (name in PEOPLE, name in PLACES) in {(True, False), (False, True)}
        assert example.answer == (" with" if name in PEOPLE else " in")
        kinds[example.answer] += 1
    assert min(kinds.values()) > 60


def test_answers_are_single_corpus_tokens(tokenizer):
    """Every answer word is one token that occurs in the pretraining corpus (so its output embedding was trained)."""
    corpus_ids = set(tokenizer(generate_corpus())["input_ids"])
    for task in tasks.TASKS:
        for answer in {e.answer for e in tasks.make_examples(task, 100)}:
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


def test_unknown_task_is_refused():
    """A task name that does not exist says which ones do."""
    with pytest.raises(ValueError, match="spanish_sentiment"):
        tasks.make_examples("french_poetry", 3)
