"""The workbook's own text corpus: a small, seeded, generated world in English and Spanish.

Nothing may be downloaded at run time, so the small base model learns language from this
corpus instead of WebText. Sentences come from a template grammar (people, places, objects and
what they do), which is enough for a few-layer GPT-2 to produce recognisable text within a
minute of training, and gives later notebooks a vocabulary for their adapter tasks.
"""

from __future__ import annotations

import random

PEOPLE = [
    "Anna", "Ben", "Clara", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kira", "Leo", "Maria", "Nadia", "Oscar", "Paula", "Quentin", "Rosa", "Samir", "Tomas",
]
PLACES = [
    "Lisbon", "Madrid", "Paris", "Berlin", "Oslo", "Rome", "Vienna", "Dublin", "Seville", "Porto",
    "Lima", "Quito", "Bogota", "Valencia", "Granada", "Toledo",
]
ANIMALS = ["cat", "dog", "horse", "bird", "fox", "goat", "rabbit", "owl"]
OBJECTS = ["book", "letter", "basket", "lamp", "map", "guitar", "kettle", "coat", "key", "boat"]
ADJECTIVES = ["old", "small", "quiet", "bright", "warm", "heavy", "green", "careful", "clever", "tired"]
FOODS = ["bread", "soup", "apples", "cheese", "rice", "fish", "cake", "tea"]
VERBS_PAST = ["found", "carried", "painted", "lost", "fixed", "opened", "sold", "bought", "read", "cleaned"]
MOVES = ["walked", "travelled", "ran", "sailed", "drove", "rode"]
TIMES = ["in the morning", "at night", "after lunch", "on Sunday", "before dawn", "in the spring"]
FEELINGS = ["happy", "sad", "calm", "angry", "proud", "afraid"]

# A small Spanish side of the world, so the tokenizer and the small model have seen Spanish
# words before notebook 05 trains a Spanish task on top of them. Spanish adjectives agree with their
# noun's gender: every noun phrase carries its article (el: masculine, la: feminine, `gender_of`), and
# every adjective is a pair (masculine, feminine) from which `agree` picks. Spelling is Spanish's own
# (pequeño, rápido, Lucía): the tokenizer is byte-level, so any UTF-8 text is encodable, and each
# word is frequent enough in the corpus to become a token of its own.
ES_PEOPLE = ["Ana", "Carlos", "Lucía", "Diego", "Sofía", "Pablo", "Marta", "Javier"]
ES_ANIMALS = ["el gato", "el perro", "el caballo", "el pájaro", "la cabra", "el zorro", "la oveja"]
ES_FOODS = ["el pan", "la sopa", "el queso", "el arroz", "el pescado", "la fruta"]
ES_PLACES = ["Madrid", "Sevilla", "Lima", "Quito", "Bogotá", "Granada", "Toledo", "Valencia"]
ES_ADJ = [("pequeño", "pequeña"), ("grande", "grande"), ("tranquilo", "tranquila"), ("viejo", "vieja"),
          ("rápido", "rápida"), ("feliz", "feliz")]
ES_GOOD = [("muy bueno", "muy buena"), ("excelente", "excelente"), ("maravilloso", "maravillosa"),
           ("delicioso", "deliciosa"), ("genial", "genial"), ("precioso", "preciosa")]
ES_BAD = [("muy malo", "muy mala"), ("terrible", "terrible"), ("horrible", "horrible"),
          ("aburrido", "aburrida"), ("triste", "triste"), ("feo", "fea")]


def gender_of(noun_phrase: str) -> str:
    """Returns 'm' or 'f', the gender of a Spanish noun phrase, read from its article ('el gato', 'la sopa')."""
    article = noun_phrase.split(" ", 1)[0].lower()
    if article not in ("el", "la"):
        raise ValueError(f"{noun_phrase!r} has no article; write Spanish nouns with theirs ('el gato', 'la sopa').")
    return "m" if article == "el" else "f"


def agree(adjective: tuple[str, str], gender: str) -> str:
    """Returns the form of `adjective` (masculine, feminine) that agrees with a noun of `gender` ('m' or 'f')."""
    return adjective[gender == "f"]


def bare(noun_phrase: str) -> str:
    """Returns the noun without its article ('el pan' -> 'pan'), as after a verb: 'Ana come pan'."""
    return noun_phrase.split(" ", 1)[1]


_TEMPLATES_EN = [
    "{p} {move} to {place} {time}.",
    "The {adj} {animal} sat beside {p}.",
    "{p} {vpast} the {adj} {obj} in {place}.",
    "In {place}, {p} ate {food} with {q}.",
    "{p} felt {feel} when the {animal} {vpast2} the {obj}.",
    "{p} and {q} {move} from {place} to {place2}.",
    "The {obj} was {adj}, so {p} gave it to {q}.",
    "Every day {p} buys {food} in {place}.",
    "{p} wrote a letter to {q} about the {adj} {animal}.",
    "{time_cap}, the {animal} slept near the {obj}.",
]
# Each adjective slot names what it agrees with: {eanimal_adj} with {eanimal}, {efood_good} with {efood},
# {egood_f} with a feminine noun written in the template (la comida), {ebad_m} with a masculine one (el viaje).
# Good words describe meals and bad words journeys, in both genders: as in real text, the contexts a word
# is read in tell good from bad, which the sentiment adapter builds on (`adapterlab.tasks`). The masculine
# slots also make " bueno" and " malo" (in "muy bueno", "muy malo"), the task's answers, frequent words.
_TEMPLATES_ES = [
    "{ep} vive en {eplace}.",
    "{eanimal} es {eanimal_adj}.",
    "{ep} come {efood_bare} en {eplace}.",
    "La comida en {eplace} es {egood_f}.",
    "El almuerzo en {eplace} es {egood_m}.",
    "{efood} en {eplace} es {efood_good}.",
    "El viaje a {eplace} fue {ebad_m}.",
    "El camino a {eplace} fue {ebad_m}.",
    "La visita a {eplace} fue {ebad_f}.",
    "{ep} dice que {eanimal} es {eanimal_adj}.",
]


def _fill(template: str, rng: random.Random) -> str:
    p, q = rng.sample(PEOPLE, 2)
    place, place2 = rng.sample(PLACES, 2)
    time = rng.choice(TIMES)
    eanimal, efood = rng.choice(ES_ANIMALS), rng.choice(ES_FOODS)
    good, bad = rng.choice(ES_GOOD), rng.choice(ES_BAD)
    return template.format(
        p=p, q=q, place=place, place2=place2, time=time, time_cap=time[0].upper() + time[1:],
        move=rng.choice(MOVES), adj=rng.choice(ADJECTIVES), animal=rng.choice(ANIMALS),
        obj=rng.choice(OBJECTS), food=rng.choice(FOODS), feel=rng.choice(FEELINGS),
        vpast=rng.choice(VERBS_PAST), vpast2=rng.choice(VERBS_PAST),
        ep=rng.choice(ES_PEOPLE), eplace=rng.choice(ES_PLACES), eanimal=eanimal, efood=efood,
        efood_bare=bare(efood), eanimal_adj=agree(rng.choice(ES_ADJ), gender_of(eanimal)),
        egood_f=agree(good, "f"), egood_m=agree(good, "m"), ebad_f=agree(bad, "f"), ebad_m=agree(bad, "m"),
        efood_good=agree(good, gender_of(efood)),
    )


def generate_corpus(n_sentences: int = 6000, seed: int = 0, spanish_share: float = 0.25) -> str:
    """Returns the corpus: short paragraphs of generated sentences, one paragraph per line.

    Args:
        n_sentences: how many sentences to write (6,000 is about 250 KB).
        seed: the seed of the template grammar; the same seed gives the same text.
        spanish_share: fraction of sentences drawn from the Spanish templates.
    """
    rng = random.Random(seed)
    sentences = []
    for _ in range(n_sentences):
        templates = _TEMPLATES_ES if rng.random() < spanish_share else _TEMPLATES_EN
        sentence = _fill(rng.choice(templates), rng)
        sentences.append(sentence[0].upper() + sentence[1:])
    lines, i = [], 0
    while i < len(sentences):
        k = rng.randint(3, 6)
        lines.append(" ".join(sentences[i : i + k]))
        i += k
    return "\n".join(lines) + "\n"
