"""Claims notebook 00 states and does not compute in the learner's kernel (it would cost them 500 MB)."""

import math

import torch

from adapterlab.models import load_model, load_tokenizer


def test_random_gpt2_scores_uniform_guessing_over_gpt2s_vocabulary():
    """The workbook's random gpt2 scores ln(50,257) ≈ 10.8 nats on a corpus sentence, as notebook 00 says."""
    gpt2, tokenizer = load_model("gpt2"), load_tokenizer("gpt2")
    ids = tokenizer("Anna walked to Lisbon in the morning.", return_tensors="pt").input_ids
    with torch.no_grad():
        loss = gpt2(ids, labels=ids).loss.item()
    assert gpt2.config.vocab_size == 50_257 and round(math.log(50_257), 1) == 10.8
    assert abs(loss - math.log(50_257)) < 0.2, loss
