"""Tests of adapterlab.plots: the curves drawn are the storage formula's numbers."""

import matplotlib.pyplot as plt
import pytest

from adapterlab.plots import RANKS, mark_estimate, plot_fraction_vs_rank, plot_size_vs_rank
from adapterlab.storage import estimate

SETUPS = {"GPT-2": ("gpt2", ["c_attn"]), "Llama-2-7B": ("llama-2-7b", ["q_proj", "v_proj"])}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_size_curves_are_the_estimates():
    """Each solid line is estimate(...).bytes at every rank; each dashed line the full checkpoint."""
    ax = plot_size_vs_rank(SETUPS, dtype="float16")
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(solid) == len(dashed) == 2
    for line, (model, targets) in zip(solid, SETUPS.values(), strict=True):
        assert list(line.get_xdata()) == list(RANKS)
        assert list(line.get_ydata()) == [estimate(model, targets, r, "float16").bytes for r in RANKS]
    assert dashed[1].get_ydata()[0] == estimate("llama-2-7b", ["q_proj"], 1, "float16").full_bytes
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"


def test_fraction_curves_are_percentages_and_the_band_is_drawn():
    """The fraction plot draws 100 × params / full params, and shades the claimed band."""
    ax = plot_fraction_vs_rank(SETUPS, band=(1, 5))
    line = ax.get_lines()[0]
    assert line.get_ydata()[3] == pytest.approx(100 * estimate("gpt2", ["c_attn"], RANKS[3]).fraction)
    assert len(ax.patches) == 1


def test_mark_estimate_puts_a_star_at_the_rank():
    """The marked point sits at (r, bytes) of the estimate."""
    est = estimate("gpt2", ["c_attn"], r=16, dtype="float16")
    ax = mark_estimate(plot_size_vs_rank(SETUPS), est, "here")
    assert tuple(ax.collections[-1].get_offsets()[0]) == (16, est.bytes)
