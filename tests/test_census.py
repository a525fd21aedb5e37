"""The census adds up to the library's own count, with tied weights counted once."""

from tests.common import tiny_gpt2

from adapterlab.census import parameters_by_module_type


def test_census_sums_to_num_parameters():
    """The per-type counts add up to transformers' num_parameters(), so the tied lm_head is not counted twice."""
    model = tiny_gpt2(n_embd=32, vocab_size=100)
    census = parameters_by_module_type(model)
    assert sum(census.values()) == model.num_parameters()
    assert "Linear" not in census  # lm_head's only parameter is the embedding's
    assert census["Embedding"] == (100 + 16) * 32

