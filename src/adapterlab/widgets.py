"""ipywidgets front ends for the exercises.

Widgets only draw where a Jupyter frontend runs (JupyterLab, Notebook 7, VS Code). Everything a
widget does is also a plain call (`question.check('b')`), so nothing here is needed to learn.
"""

from __future__ import annotations

import html
import re

import ipywidgets as widgets


def choice_widget(question) -> widgets.VBox:
    """Returns the choices of a `ChoiceQuestion` as radio buttons, a Check button and its feedback."""
    options = [(f"({key}) {text}", key) for key, (text, _) in question.choices.items()]
    # Escaped, with `code` spans drawn as code, as a learner would read them in markdown.
    prompt_html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(question.prompt))
    prompt = widgets.HTML(f"<b>{prompt_html}</b>")
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
