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
# words before notebook 05 trains a Spanish task on top of them.
ES_PEOPLE = ["Ana", "Carlos", "Lucia", "Diego", "Sofia", "Pablo", "Marta", "Javier"]
ES_ANIMALS = ["el gato", "el perro", "el caballo", "el pajaro", "la cabra", "el zorro"]
ES_ADJ = ["pequeno", "grande", "tranquilo", "viejo", "rapido", "feliz"]
ES_FOODS = ["pan", "sopa", "queso", "arroz", "pescado", "fruta"]
ES_PLACES = ["Madrid", "Sevilla", "Lima", "Quito", "Bogota", "Granada", "Toledo", "Valencia"]
ES_GOOD = ["muy bueno", "excelente", "maravilloso", "delicioso", "genial", "precioso"]
ES_BAD = ["muy malo", "terrible", "horrible", "aburrido", "triste", "feo"]

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
_TEMPLATES_ES = [
    "{ep} vive en {eplace}.",
    "{eanimal} es {eadj}.",
    "{ep} come {efood} en {eplace}.",
    "La comida en {eplace} es {egood}.",
    "El viaje a {eplace} fue {ebad}.",
    "{ep} dice que {eanimal} es {eadj}.",
]


def _fill(template: str, rng: random.Random) -> str:
    p, q = rng.sample(PEOPLE, 2)
    place, place2 = rng.sample(PLACES, 2)
    time = rng.choice(TIMES)
    return template.format(
        p=p, q=q, place=place, place2=place2, time=time, time_cap=time[0].upper() + time[1:],
        move=rng.choice(MOVES), adj=rng.choice(ADJECTIVES), animal=rng.choice(ANIMALS),
        obj=rng.choice(OBJECTS), food=rng.choice(FOODS), feel=rng.choice(FEELINGS),
        vpast=rng.choice(VERBS_PAST), vpast2=rng.choice(VERBS_PAST),
        ep=rng.choice(ES_PEOPLE), eplace=rng.choice(ES_PLACES), eanimal=rng.choice(ES_ANIMALS),
        eadj=rng.choice(ES_ADJ), efood=rng.choice(ES_FOODS), egood=rng.choice(ES_GOOD),
        ebad=rng.choice(ES_BAD),
    )


def generate_corpus(n_sentences: int = 6000, seed: int = 0, spanish_share: float = 0.2) -> str:
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
