"""adapterlab.quantize: the simulated low-bit grid, and weights mapped in nn.Linear's layout."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.common import TINY_GPT2, tiny_lora

from adapterlab import merging, quantize


@settings(max_examples=40, deadline=None)
@given(bits=st.sampled_from([4, 8]), block=st.sampled_from([None, 4, 8]), seed=st.integers(0, 10_000))
def test_fake_quantize_is_a_grid_of_at_most_2_to_the_bits_levels(bits, block, seed):
    """Each block keeps its absmax, takes at most 2**bits - 1 values, and errs by at most half a step."""
    w = torch.randn(6, 16, generator=torch.Generator().manual_seed(seed))
    q = quantize.fake_quantize(w, bits, block)
    rows = w.reshape(-1, block or 16)
    qrows = q.reshape(-1, block or 16)
    step = rows.abs().amax(dim=1, keepdim=True) / (2 ** (bits - 1) - 1)
    assert torch.allclose(qrows.abs().amax(dim=1), rows.abs().amax(dim=1), rtol=1e-5)
    assert all(len(torch.unique(r)) <= 2**bits - 1 for r in qrows)
    assert ((qrows - rows).abs() <= step / 2 + 1e-6).all()


def test_fake_quantize_explains_bad_arguments():
    """A block size that does not divide the row, a 1-D tensor or 1 bit are refused with the reason."""
    with pytest.raises(ValueError, match="does not divide"):
        quantize.fake_quantize(torch.ones(2, 10), 4, block_size=3)
    with pytest.raises(ValueError, match="2-D weight"):
        quantize.fake_quantize(torch.ones(10), 4)
    with pytest.raises(ValueError, match="2 to 16 bits"):
        quantize.fake_quantize(torch.ones(2, 2), 1)


def test_map_weights_shows_conv1d_weights_in_linear_layout():
    """map_weights_ hands a Conv1D weight (in, out) to fn as (out, in), and stores fn's result back in place."""
    model = tiny_lora(init_lora_weights=False)  # on c_attn
    name = next(iter(merging.lora_layers(model)))
    seen = []

    def fn(w):
        seen.append(tuple(w.shape))
        return torch.arange(w.numel(), dtype=w.dtype).reshape(w.shape)

    quantize.map_weights_(model, [name], fn)
    weight = model.get_submodule(name).get_base_layer().weight
    n_embd = TINY_GPT2["n_embd"]
    assert seen == [(3 * n_embd, n_embd)] and weight.shape == (n_embd, 3 * n_embd)
    assert weight[0, 1].item() == 16.0  # element (out=1, in=0) of the (out, in) view
