"""ipywidgets front ends: the multiple-choice box of a `ChoiceQuestion` and the adapter-size calculator.

Widgets only draw where a Jupyter frontend runs (JupyterLab, Notebook 7, VS Code). Everything a
widget does is also a plain call (`question.check('b')`, `show_calculation(...)`), so nothing here
is needed to learn. Each front end takes what it shows as an argument and imports no exercise code.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from adapterlab.feedback import inline_html
from adapterlab.files import human_size
from adapterlab.plots import draw_calculation
from adapterlab.storage import DTYPE_BYTES, KNOWN_MODELS, Estimate, estimate, format_estimate, model_shapes
from adapterlab.targets import default_targets, target_names


def choice_widget(question) -> widgets.VBox:
    """Returns the choices of a `ChoiceQuestion` as radio buttons, a Check button and its feedback."""
    options = [(f"({key}) {text}", key) for key, (text, _) in question.choices.items()]
    prompt = widgets.HTML(f"<b>{inline_html(question.prompt)}</b>")  # escaped, `code` drawn as code
    radio = widgets.RadioButtons(options=options, value=None, layout=widgets.Layout(width="auto"))
    button = widgets.Button(description="Check", button_style="primary")
    feedback = widgets.HTML("")

    def on_click(_):
        if radio.value is None:
            feedback.value = "Pick one of the choices first."
            return
        feedback.value = question.check(radio.value)._repr_html_()

    button.on_click(on_click)
    box = widgets.VBox([prompt, radio, button, feedback])
    box.add_class("adapterlab-choice")
    return box


def numbers_html(est: Estimate) -> str:
    """Returns the numbers of an estimate as a small HTML table (the calculator's readout)."""
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
                 dtype: str = "float16", use_dora: bool = False):
        self.model_box = widgets.Dropdown(options=list(KNOWN_MODELS), value=model, description="model")
        self.targets_box = widgets.SelectMultiple(options=target_names(model), description="targets", rows=6,
                                                  value=tuple(targets or default_targets(model)))
        self.rank_slider = widgets.IntSlider(value=r, min=1, max=256, description="rank", continuous_update=False)
        self.dtype_box = widgets.Dropdown(options=list(DTYPE_BYTES), value=dtype, description="dtype")
        self.dora_box = widgets.Checkbox(value=use_dora, description="DoRA (use_dora)")
        self.numbers = widgets.HTML()
        self.numbers.add_class("adapterlab-calculator-numbers")
        self.plot = widgets.Output()
        controls = widgets.HBox([widgets.VBox([self.model_box, self.dtype_box, self.rank_slider, self.dora_box]),
                                 self.targets_box])
        super().__init__([controls, self.numbers, self.plot])
        self.add_class("adapterlab-calculator")
        self.model_box.observe(self._new_model, names="value")
        for box in (self.targets_box, self.rank_slider, self.dtype_box, self.dora_box):
            box.observe(self.redraw, names="value")
        self.redraw()

    def current(self) -> Estimate | None:
        """Returns the estimate of the current settings (None while no target is picked)."""
        if not self.targets_box.value:
            return None
        return estimate(model_shapes(self.model_box.value), list(self.targets_box.value), self.rank_slider.value,
                        self.dtype_box.value, use_dora=self.dora_box.value)

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
