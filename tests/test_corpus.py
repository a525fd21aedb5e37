"""The generated corpus is deterministic, small, and bilingual."""

from adapterlab.corpus import generate_corpus


def test_same_seed_same_text_other_seed_other_text():
    """The corpus is a function of its seed."""
    assert generate_corpus(seed=0) == generate_corpus(seed=0) != generate_corpus(seed=1)


def test_size_and_languages():
    """The default corpus is a few hundred KB at most and about a fifth Spanish."""
    text = generate_corpus()
    assert 100_000 < len(text.encode()) < 400_000
    lines = text.splitlines()
    spanish = sum(" es " in line or " en " in line for line in lines)
    assert spanish > len(lines) // 4  # most paragraphs hold at least one Spanish sentence
