"""The adapter-size calculator: pick a model, target modules, a rank r and a dtype; see the size.

`show_calculation(...)` is the plain call (prints the numbers, draws the plot) for places where
widgets do not draw; `calculator()` is the same thing with ipywidgets, redrawing on every change.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display
from matplotlib.figure import Figure

from adapterlab.files import human_size
from adapterlab.plots import RANKS, mark_estimate, plot_size_vs_rank
from adapterlab.storage import (
    ATTENTION_TARGETS,
    DTYPE_BYTES,
    KNOWN_MODELS,
    Estimate,
    estimate,
    format_estimate,
    model_shapes,
)


def target_names(model: str) -> list[str]:
    """Returns the names a learner can target in `model`: 'attn.c_attn', 'mlp.c_fc', 'wte', ..."""
    names = []
    for m in model_shapes(model).modules:
        name = m.name.rsplit("*.", 1)[-1] if "*." in m.name else m.name.rsplit(".", 1)[-1]
        names.append(name)
    return names


def default_targets(model: str) -> list[str]:
    """Returns the attention projections of `model` (all Linear/Conv1D modules if its type is not known)."""
    shapes = model_shapes(model)
    preset = ATTENTION_TARGETS.get(shapes.model_type)
    chosen = shapes.select(preset) if preset else [m for m in shapes.modules if m.kind != "Embedding"]
    return [n for n, m in zip(target_names(model), shapes.modules, strict=True) if m in chosen]


def draw_calculation(est: Estimate, targets: Sequence[str]) -> Figure:
    """Returns a figure: the size-against-rank curve of this setup, its full model, and `est` marked."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    ranks = sorted(set(RANKS) | {est.r})
    plot_size_vs_rank({f"{est.model}: {', '.join(targets)}": (model_shapes(est.model), targets)}, est.dtype, ranks,
                      ax=ax)
    mark_estimate(ax, est, f"r={est.r}: {human_size(est.bytes)}")
    return fig


def show_calculation(model: str = "gpt2", targets: Sequence[str] | None = None, r: int = 8,
                     dtype: str = "float16") -> Estimate:
    """Prints the numbers of one setup, draws its plot, and returns the `Estimate` (the calculator without widgets)."""
    targets = list(targets) if targets else default_targets(model)
    est = estimate(model_shapes(model), targets, r, dtype)
    print(format_estimate(est))
    fig = draw_calculation(est, targets)
    display(fig)
    plt.close(fig)  # already shown; the inline backend would show it a second time
    return est


def numbers_html(est: Estimate) -> str:
    """Returns the numbers of an estimate as a small HTML table."""
    rows = [("adapter parameters", f"{est.params:,}"), ("adapter size", human_size(est.bytes)),
            ("adapter file", f"{human_size(est.file_bytes)} ({est.file_bytes:,} bytes, header included)"),
            ("full model", f"{est.full_params:,} parameters, {human_size(est.full_bytes)}"),
            ("adapter / model", f"{est.fraction:.3%} of the parameters"),
            ("full model / adapter", f"{est.ratio:,.0f} times larger")]
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td><b>{html.escape(v)}</b></td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


class Calculator(widgets.VBox):
    """The calculator's widgets: dropdowns for model and dtype, a target list, a rank slider, numbers, a plot.

    Every change recomputes the estimate, rewrites the numbers and redraws the plot. Where widgets
    cannot draw, the box reads as its current numbers.
    """

    def __init__(self, model: str = "gpt2", targets: Sequence[str] | None = None, r: int = 8,
                 dtype: str = "float16"):
        self.model_box = widgets.Dropdown(options=list(KNOWN_MODELS), value=model, description="model")
        self.targets_box = widgets.SelectMultiple(options=target_names(model), description="targets", rows=6,
                                              value=tuple(targets or default_targets(model)))
        self.rank_slider = widgets.IntSlider(value=r, min=1, max=256, description="rank", continuous_update=False)
        self.dtype_box = widgets.Dropdown(options=list(DTYPE_BYTES), value=dtype, description="dtype")
        self.numbers = widgets.HTML()
        self.numbers.add_class("adapterlab-calculator-numbers")
        self.plot = widgets.Output()
        controls = widgets.HBox([widgets.VBox([self.model_box, self.dtype_box, self.rank_slider]), self.targets_box])
        super().__init__([controls, self.numbers, self.plot])
        self.add_class("adapterlab-calculator")
        self.model_box.observe(self._new_model, names="value")
        for box in (self.targets_box, self.rank_slider, self.dtype_box):
            box.observe(self.redraw, names="value")
        self.redraw()

    def current(self) -> Estimate | None:
        """Returns the estimate of the current settings (None while no target is picked)."""
        if not self.targets_box.value:
            return None
        return estimate(model_shapes(self.model_box.value), list(self.targets_box.value), self.rank_slider.value,
                        self.dtype_box.value)

    def redraw(self, _=None) -> None:
        """Recomputes the numbers and redraws the plot from the current settings."""
        est = self.current()
        if est is None:
            self.numbers.value = "<i>Pick at least one target module (Ctrl/Cmd-click picks several).</i>"
            return
        self.numbers.value = numbers_html(est)
        with self.plot:
            self.plot.clear_output(wait=True)
            fig = draw_calculation(est, list(self.targets_box.value))
            display(fig)
            plt.close(fig)  # shown once, in the Output widget, not again by the inline backend

    def _new_model(self, change) -> None:
        with self.hold_trait_notifications():
            self.targets_box.unobserve(self.redraw, names="value")
            self.targets_box.value = ()
            self.targets_box.options = target_names(change["new"])
            self.targets_box.value = tuple(default_targets(change["new"]))
            self.targets_box.observe(self.redraw, names="value")
        self.redraw()

    def __repr__(self) -> str:
        est = self.current()
        return "Adapter-size calculator (the widgets need a live kernel)" + ("\n" + format_estimate(est) if est else "")


def calculator(model: str = "gpt2", targets: Sequence[str] | None = None, r: int = 8,
               dtype: str = "float16") -> Calculator:
    """Returns the interactive calculator (see `Calculator`); `show_calculation` is the same without widgets."""
    return Calculator(model, targets, r, dtype)
