"""adapterlab.recipes: re-running the recipes of the shipped files gives models of the shipped quality.

Training on another CPU (or another torch) need not give the same bits, so these compare quality,
within stated tolerances, not bytes. Every test that retrains is marked slow (the gpt2-mini recipe takes a
minute or two, an adapter a few seconds): `make check` leaves them out, `make test` runs them.
"""

import json
import math

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from adapterlab import adapters, recipes, tasks
from adapterlab.corpus import generate_corpus
from adapterlab.models import MINI_DIR, load_model, load_tokenizer

# A re-made gpt2-mini may differ from the shipped one by at most this much held-out loss (nats/token).
MINI_LOSS_TOLERANCE = 0.05
# A re-trained task adapter may score at most this much below the shipped one on held-out examples.
ACCURACY_TOLERANCE = 0.05


def held_out_loss(model, tokenizer) -> float:
    """Mean next-token loss on text the model never trained on (another seed of the corpus grammar)."""
    ids = torch.tensor(tokenizer(generate_corpus(n_sentences=400, seed=12345))["input_ids"])
    windows = ids[: len(ids) // 64 * 64].view(-1, 64)  # (B, 64)
    with torch.no_grad():
        return model(input_ids=windows, labels=windows).loss.item()


@pytest.mark.slow
def test_remade_gpt2_mini_reaches_the_shipped_quality(tmp_path):
    """make_gpt2_mini, re-run, gives a model whose held-out loss is the shipped model's within tolerance."""
    losses = recipes.make_gpt2_mini(tmp_path)
    tokenizer = load_tokenizer("gpt2-mini")
    remade = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert AutoTokenizer.from_pretrained(tmp_path).get_vocab() == tokenizer.get_vocab()
    shipped, again = held_out_loss(load_model("gpt2-mini"), tokenizer), held_out_loss(remade, tokenizer)
    assert abs(again - shipped) <= MINI_LOSS_TOLERANCE, (shipped, again)
    assert shipped < math.log(len(tokenizer)) / 2  # far below guessing among its ~800 tokens
    assert len(losses) == len(json.loads((MINI_DIR / "training_losses.json").read_text()))


@pytest.mark.slow
@pytest.mark.parametrize("task", tasks.TASKS)
def test_retrained_task_adapter_reaches_the_shipped_accuracy(tmp_path, task):
    """make_task_adapter, re-run on the shipped gpt2-mini, scores the shipped adapter's accuracy within tolerance."""
    stamp = recipes.make_task_adapter(task, tmp_path)
    shipped = adapters.training_record(task)["held_out_accuracy"]
    assert stamp["held_out_accuracy"] >= shipped - ACCURACY_TOLERANCE
    reloaded = PeftModel.from_pretrained(load_model("gpt2-mini"), tmp_path)
    tokenizer = load_tokenizer("gpt2-mini")
    assert tasks.accuracy(reloaded, tokenizer, tasks.split(task)[1]) == stamp["held_out_accuracy"]


@pytest.mark.slow
def test_retrained_demo_adapters_move_the_model_towards_their_language(tmp_path):
    """Each re-made demo adapter lowers the loss on its own language's sentences, as the shipped one does."""
    recipes.make_demo_adapters(tmp_path)
    tokenizer = load_tokenizer("gpt2-mini")
    base = load_model("gpt2-mini")
    for name in adapters.DEMO_ADAPTERS:
        ids = torch.tensor(tokenizer(" ".join(recipes.demo_texts(name)[:200]))["input_ids"])
        windows = ids[: len(ids) // 48 * 48].view(-1, 48)
        with torch.no_grad():
            before = base(input_ids=windows, labels=windows).loss.item()
            remade = PeftModel.from_pretrained(load_model("gpt2-mini"), tmp_path / name).eval()
            shipped = PeftModel.from_pretrained(load_model("gpt2-mini"), adapters.demo_adapters()[name]).eval()
            after = remade(input_ids=windows, labels=windows).loss.item()
            ship = shipped(input_ids=windows, labels=windows).loss.item()
        assert after < before and abs(after - ship) < 0.05, (name, before, after, ship)


def test_demo_texts_split_the_corpus_by_language():
    """The Spanish set has a Spanish marker word in every sentence, the English set in none; both are large."""
    spanish, english = recipes.demo_texts("spanish"), recipes.demo_texts("english")
    assert len(spanish) > 500 and len(english) > 2000
    assert all(any(m in f" {s} " for m in recipes._SPANISH_MARKERS) for s in spanish)
    assert not any(any(m in f" {s} " for m in recipes._SPANISH_MARKERS) for s in english)
    with pytest.raises(ValueError, match="pick one of"):
        recipes.demo_texts("french")
