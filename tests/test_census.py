"""The census adds up to the library's own count, with tied weights counted once."""

from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

from adapterlab.census import parameters_by_module_type, trainable_and_total

TINY = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=16)


def test_census_sums_to_num_parameters():
    """The per-type counts add up to transformers' num_parameters(), so the tied lm_head is not counted twice."""
    model = GPT2LMHeadModel(TINY)
    census = parameters_by_module_type(model)
    assert sum(census.values()) == model.num_parameters()
    assert "Linear" not in census  # lm_head's only parameter is the embedding's
    assert census["Embedding"] == (100 + 16) * 32


def test_trainable_and_total_match_peft():
    """trainable_and_total agrees with PEFT's get_nb_trainable_parameters on a wrapped model."""
    model = get_peft_model(GPT2LMHeadModel(TINY), LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    assert trainable_and_total(model) == model.get_nb_trainable_parameters()
