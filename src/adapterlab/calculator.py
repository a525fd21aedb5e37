"""The adapter-size calculator: pick a model, target modules, a rank r and a dtype; see the size.

`show_calculation(...)` is the plain call (prints the numbers, draws the plot) for places where
widgets do not draw; `calculator()` is the same thing with ipywidgets (`widgets.Calculator`),
redrawing on every change. The numbers come from `storage.estimate`, the figure from
`plots.draw_calculation`, the names a learner can target from `targets`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from IPython.display import display

from adapterlab.plots import draw_calculation
from adapterlab.storage import Estimate, estimate, format_estimate, model_shapes
from adapterlab.targets import default_targets
from adapterlab.widgets import Calculator

__all__ = ["Calculator", "calculator", "show_calculation"]


def show_calculation(model: str = "gpt2", targets: Sequence[str] | None = None, r: int = 8,
                     dtype: str = "float16", use_dora: bool = False) -> Estimate:
    """Prints the numbers of one setup, draws its plot, and returns the `Estimate` (the calculator without widgets)."""
    targets = list(targets) if targets else default_targets(model)
    est = estimate(model_shapes(model), targets, r, dtype, use_dora=use_dora)
    print(format_estimate(est))
    fig = draw_calculation(est, targets)
    display(fig)
    plt.close(fig)  # already shown; the inline backend would show it a second time
    return est


def calculator(model: str = "gpt2", targets: Sequence[str] | None = None, r: int = 8,
               dtype: str = "float16", use_dora: bool = False) -> Calculator:
    """Returns the interactive calculator (see `widgets.Calculator`); `show_calculation` is the same without widgets."""
    return Calculator(model, targets, r, dtype, use_dora)
