"""adapterlab.calculator and its widget (widgets.Calculator): it recomputes on every change; the plain call agrees."""

import matplotlib.pyplot as plt
import pytest

from adapterlab import calculator as calc
from adapterlab import widgets
from adapterlab.storage import estimate


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_widget_has_the_names_a_browser_test_looks_for():
    """The box, the rank slider and the numbers carry the CSS classes and label the browser test uses."""
    box = calc.calculator()
    assert "adapterlab-calculator" in box._dom_classes
    assert box.rank_slider.description == "rank"
    assert "adapterlab-calculator-numbers" in box.numbers._dom_classes


def test_moving_the_rank_rewrites_the_numbers_and_redraws(monkeypatch):
    """A new rank gives the new parameter count in the numbers, and one more plot."""
    drawn = []
    original = widgets.draw_calculation
    monkeypatch.setattr(widgets, "draw_calculation", lambda *a: drawn.append(a) or original(*a))
    box = calc.calculator("gpt2", ["attn.c_attn"], r=8)
    assert "294,912" in box.numbers.value
    assert f"({estimate('gpt2', ['c_attn'], 8, 'float16').file_bytes:,} bytes" in box.numbers.value  # the file
    box.rank_slider.value = 16
    assert f"{estimate('gpt2', ['c_attn'], 16).params:,}" in box.numbers.value
    assert len(drawn) == 2 and drawn[-1][0].r == 16


def test_changing_the_model_offers_its_own_targets():
    """Switching to Llama lists its modules and picks its attention projections."""
    box = calc.calculator("gpt2")
    box.model_box.value = "llama-2-7b"
    assert "self_attn.k_proj" in box.targets_box.options
    assert set(box.targets_box.value) == {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                          "self_attn.o_proj"}
    assert "16,777,216" not in box.numbers.value and "8,388,608" in box.numbers.value  # rank 8, not 16


def test_no_target_asks_for_one():
    """With nothing picked, the numbers say what to do instead of failing."""
    box = calc.calculator("gpt2")
    box.targets_box.value = ()
    assert "Pick at least one target" in box.numbers.value and box.current() is None


def test_text_fallback_shows_the_numbers():
    """Where widgets cannot draw, the box reads as its current estimate."""
    assert "294,912 parameters" in repr(calc.calculator("gpt2", ["attn.c_attn"], r=8, dtype="float32"))


def test_plain_call_prints_and_returns_the_estimate(capsys):
    """show_calculation is the calculator without widgets: it prints the numbers and returns them."""
    est = calc.show_calculation("mistral-7b", ["k_proj"], r=8, dtype="bfloat16")
    assert est.params == 32 * 8 * (4096 + 1024) and "1,310,720" in capsys.readouterr().out


def test_the_dora_box_adds_the_magnitudes():
    """Ticking DoRA adds one magnitude per output of every wrapped module: gpt2's c_attn, 12 × 2,304 more."""
    box = calc.calculator("gpt2", ["attn.c_attn"], r=8)
    box.dora_box.value = True
    est = box.current()
    assert est.use_dora and est.params == 294_912 + 12 * 2304
    assert f"{est.params:,}" in box.numbers.value
