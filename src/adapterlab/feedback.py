"""What a check, a hint or a solution says: a `Feedback` that reads as text and displays as a coloured box.

The grading lives in `exercises.py`; this module only decides how its answer looks, in a terminal
(`repr`) and in a notebook (`_repr_html_`, IPython's rich display hook).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

# kind: (background, accent colour, title)
STYLE = {
    "correct": ("#e6f4ea", "#1e7e34", "Correct"),
    "incorrect": ("#fdecea", "#b02a37", "Not quite"),
    "unattempted": ("#eef2f7", "#3d5a80", "Your turn"),
    "hint": ("#fff8e1", "#8a6d00", "Hint"),
    "solution": ("#f3eefc", "#5a3d99", "Solution"),
}


def inline_html(text: str) -> str:
    """Escapes `text` for HTML, drawing `code` spans as code and line breaks as breaks (as markdown would)."""
    return re.sub(r"`([^`\n]+)`", r"<code>\1</code>", html.escape(text)).replace("\n", "<br>")


@dataclass(frozen=True)
class Feedback:
    """What a check, a hint or a solution says; displays as a coloured box, reads as text."""

    kind: str  # 'correct', 'incorrect', 'unattempted', 'hint' or 'solution'
    message: str
    question_id: str = ""
    code: str = ""  # code to show as code, indentation kept (a worked solution)
    mistake: str = ""  # the name of the typical mistake a TaskQuestion's check recognised

    @property
    def correct(self) -> bool:
        return self.kind == "correct"

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        text = f"{STYLE[self.kind][2]}: {self.message}".rstrip()
        return f"{text}\n{self.code}" if self.code else text

    def _repr_html_(self) -> str:
        background, colour, title = STYLE[self.kind]
        code = (f'<pre style="margin:6px 0 0;padding:6px 8px;background:rgba(255,255,255,0.6);white-space:pre-wrap">'
                f"<code>{html.escape(self.code)}</code></pre>") if self.code else ""
        return (f'<div style="background:{background};border-left:4px solid {colour};padding:6px 10px">'
                f'<b style="color:{colour}">{title}:</b> {inline_html(self.message)}{code}</div>')
