"""The generated corpus is deterministic, small, bilingual, and its Spanish is grammatical."""

import re

import pytest

from adapterlab import tasks
from adapterlab.corpus import ES_ADJ, ES_BAD, ES_GOOD, agree, bare, gender_of, generate_corpus


def test_same_seed_same_text_other_seed_other_text():
    """The corpus is a function of its seed."""
    assert generate_corpus(seed=0) == generate_corpus(seed=0) != generate_corpus(seed=1)


def test_size_and_languages():
    """The default corpus is a few hundred KB at most and about a quarter Spanish."""
    text = generate_corpus()
    assert 100_000 < len(text.encode()) < 400_000
    lines = text.splitlines()
    spanish = sum(" es " in line or " en " in line for line in lines)
    assert spanish > len(lines) // 4  # most paragraphs hold at least one Spanish sentence


# Gender of every Spanish noun and adjective form the workbook writes, from a dictionary, not from the code
# under test: m(asculine), f(eminine), or mf (one form for both: "grande", "feliz").
M, F, MF = "m", "f", "mf"
NOUNS = {"gato": M, "perro": M, "caballo": M, "pájaro": M, "zorro": M, "cabra": F, "oveja": F, "pan": M, "sopa": F,
         "queso": M, "arroz": M, "pescado": M, "fruta": F, "comida": F, "almuerzo": M, "viaje": M, "camino": M,
         "visita": F}
ADJECTIVES = {
    "pequeño": M, "pequeña": F, "grande": MF, "tranquilo": M, "tranquila": F, "viejo": M, "vieja": F, "rápido": M,
    "rápida": F, "feliz": MF, "bueno": M, "buena": F, "excelente": MF, "maravilloso": M, "maravillosa": F,
    "delicioso": M, "deliciosa": F, "genial": MF, "precioso": M, "preciosa": F, "malo": M, "mala": F,
    "terrible": MF, "horrible": MF, "aburrido": M, "aburrida": F, "triste": MF, "feo": M, "fea": F,
}
ARTICLES = {"el": M, "la": F}
SPANISH_VERBS = re.compile(r" (es|fue|vive|come|dice) ")
# "<article> <noun> [en|a <Place>] es|fue [muy] <adjective>." at the end of the sentence.
PREDICATE = re.compile(r"\b(el|la) (\w+)(?: (?:en|a) \w+)? (?:es|fue) (?:muy )?(\w+)\.$", re.IGNORECASE)


def disagreements(sentence: str) -> list[str]:
    """Returns the gender disagreements of a Spanish sentence: article and noun, noun and predicate adjective.

    Raises AssertionError for a sentence with a predicate ('es', 'fue') this checker cannot read, or a word
    missing from its tables, so a new template cannot slip past unchecked.
    """
    found = []
    for article, noun in re.findall(r"\b(el|la) (\w+)", sentence, flags=re.IGNORECASE):
        assert noun in NOUNS, f"{noun!r} ({sentence!r}) is not in the test's table of nouns"
        if ARTICLES[article.lower()] != NOUNS[noun]:
            found.append(f"{article} {noun}")
    if re.search(r" (es|fue) ", sentence):
        match = PREDICATE.search(sentence)
        assert match, f"the test cannot read the predicate of {sentence!r}"
        _, noun, adjective = match.groups()
        assert adjective in ADJECTIVES, f"{adjective!r} ({sentence!r}) is not in the test's table of adjectives"
        if NOUNS[noun] not in ADJECTIVES[adjective]:
            found.append(f"{noun} ... {adjective}")
    return found


@pytest.mark.parametrize("sentence", [
    "La comida en Lima es muy bueno.", "El viaje a Quito fue aburrida.", "Ana dice que la cabra es pequeño.",
    "La gato es feliz.", "En Quito, el pescado es deliciosa."])
def test_the_checker_finds_a_disagreement(sentence):
    """The agreement check below can fail: it flags each of these ungrammatical sentences."""
    assert disagreements(sentence)


def _spanish_sentences() -> list[str]:
    corpus = [s.strip() + "." for line in generate_corpus().splitlines() for s in line.split(".") if s.strip()]
    spanish = [s for s in corpus if SPANISH_VERBS.search(f" {s} ")]
    reviews = [e.sentence for part in tasks.PARTS for e in tasks.make_examples("spanish_sentiment", 300, part=part)]
    return spanish + reviews


def test_every_spanish_sentence_agrees_in_gender():
    """Every Spanish sentence of the corpus and of the sentiment task, both parts, agrees in gender."""
    sentences = _spanish_sentences()
    assert len(sentences) > 1500 and sum(bool(PREDICATE.search(s)) for s in sentences) > 1000
    wrong = {s: d for s in sentences if (d := disagreements(s))}
    assert not wrong, list(wrong.items())[:5]
    # Both genders are written, with the forms that differ: the check is not passed by masculine text alone.
    text = " ".join(sentences)
    assert all(re.search(rf"\b{form}\b", text) for pair in ES_ADJ + ES_GOOD + ES_BAD for form in pair)


def test_gender_helpers():
    """gender_of reads the article; agree picks the masculine or feminine form; bare drops the article."""
    assert gender_of("el pájaro") == "m" and gender_of("La sopa") == "f"
    assert agree(("pequeño", "pequeña"), "f") == "pequeña" and agree(("feo", "fea"), "m") == "feo"
    assert bare("el pan") == "pan"
    with pytest.raises(ValueError, match="article"):
        gender_of("pan")
