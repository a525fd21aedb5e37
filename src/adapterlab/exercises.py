"""Exercises that answer back: the learntools pattern, offline.

Every question offers `check(answer)`, `hint()` (one more level per call) and `solution()`, each
returning an object the notebook displays. The placeholder `____` means "not attempted yet": its
check returns a friendly nudge instead of raising, so notebooks run top to bottom in CI untouched.

Three kinds: `ValueQuestion` (a value to compute, with a tolerance for floats), `CodeQuestion`
(a function to write, checked against cases) and `ChoiceQuestion` (multiple choice with an
explanation for every choice, drawn with ipywidgets, answerable as text where no widget shows).
Attempts are recorded in a local file outside the repository; `show_progress()` summarises them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapterlab import progress
from adapterlab.progress import show_progress

__all__ = ["____", "Feedback", "ValueQuestion", "CodeQuestion", "ChoiceQuestion", "show_progress"]


class _Placeholder:
    """The blank a learner replaces with an answer."""

    def __repr__(self) -> str:
        return "____"


____ = _Placeholder()

_STYLE = {
    "correct": ("#e6f4ea", "#1e7e34", "Correct"),
    "incorrect": ("#fdecea", "#b02a37", "Not quite"),
    "unattempted": ("#eef2f7", "#3d5a80", "Your turn"),
    "hint": ("#fff8e1", "#8a6d00", "Hint"),
    "solution": ("#f3eefc", "#5a3d99", "Solution"),
}


@dataclass(frozen=True)
class Feedback:
    """What a check, a hint or a solution says; displays as a coloured box, reads as text."""

    kind: str  # 'correct', 'incorrect', 'unattempted', 'hint' or 'solution'
    message: str
    question_id: str = ""

    @property
    def correct(self) -> bool:
        return self.kind == "correct"

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        return f"{_STYLE[self.kind][2]}: {self.message}"

    def _repr_html_(self) -> str:
        background, colour, title = _STYLE[self.kind]
        body = html.escape(self.message).replace("\n", "<br>")
        return (f'<div style="background:{background};border-left:4px solid {colour};padding:6px 10px">'
                f'<b style="color:{colour}">{title}:</b> {body}</div>')


@dataclass
class Question:
    """A question with hints and a solution; subclasses decide how an answer is graded."""

    id: str
    prompt: str
    hints: Sequence[str] = ()
    solution_text: str = ""
    _hints_shown: int = field(default=0, init=False, repr=False)

    def check(self, answer: Any) -> Feedback:
        """Grades `answer` and records the attempt; `____` returns a nudge instead."""
        if isinstance(answer, _Placeholder):
            return Feedback("unattempted", f"{self.prompt}\nReplace ____ with your answer, then run the cell "
                            "again. Stuck? Call .hint().", self.id)
        correct, message = self._grade(answer)
        feedback = Feedback("correct" if correct else "incorrect", message, self.id)
        progress.record(self.id, feedback.correct)
        return feedback

    def hint(self, level: int | None = None) -> Feedback:
        """Returns the next hint (or hint `level`, counting from 1); later hints say more."""
        if not self.hints:
            return Feedback("hint", "There is no hint for this one; try .solution().", self.id)
        if level is None:
            self._hints_shown = min(self._hints_shown + 1, len(self.hints))
            level = self._hints_shown
        level = max(1, min(level, len(self.hints)))
        more = f" (hint {level} of {len(self.hints)})" if len(self.hints) > 1 else ""
        return Feedback("hint", self.hints[level - 1] + more, self.id)

    def solution(self) -> Feedback:
        """Returns the worked solution."""
        progress.record(self.id, correct=False, peeked=True)
        return Feedback("solution", self.solution_text, self.id)

    def _grade(self, answer: Any) -> tuple[bool, str]:
        raise NotImplementedError

    # For the tests: the reference answer and answers a learner typically gives instead.
    @property
    def reference(self) -> Any:
        raise NotImplementedError

    @property
    def typical_wrong(self) -> Sequence[Any]:
        raise NotImplementedError


def _close(got: Any, expected: Any, rel_tol: float, abs_tol: float) -> bool:
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return got == expected
    try:
        got = float(got)
    except (TypeError, ValueError):
        return False
    return math.isclose(got, expected, rel_tol=rel_tol, abs_tol=abs_tol)


@dataclass
class ValueQuestion(Question):
    """A value to compute. Numbers are compared within `rel_tol`/`abs_tol`; other values with ==.

    `wrong` maps answers learners often give to a message that explains the slip.
    """

    answer: Any = None
    rel_tol: float = 0.0
    abs_tol: float = 0.0
    wrong: dict[Any, str] = field(default_factory=dict)
    explanation: str = ""

    def _grade(self, answer: Any) -> tuple[bool, str]:
        if _close(answer, self.answer, self.rel_tol, self.abs_tol):
            return True, self.explanation or f"{answer!r} is right."
        for value, message in self.wrong.items():
            if _close(answer, value, 1e-9, 0.0):
                return False, message
        if isinstance(self.answer, (int, float)) and not isinstance(answer, (int, float)):
            try:
                float(answer)
            except (TypeError, ValueError):
                return False, f"Expected a number, got {type(answer).__name__} {answer!r}."
        return False, f"{answer!r} is not it. Try .hint()."

    @property
    def reference(self) -> Any:
        return self.answer

    @property
    def typical_wrong(self) -> Sequence[Any]:
        return list(self.wrong)


@dataclass
class CodeQuestion(Question):
    """A function to write, checked against `cases`: (arguments tuple, expected result) pairs."""

    cases: Sequence[tuple[tuple, Any]] = ()
    reference_function: Callable | None = None
    wrong_functions: Sequence[Callable] = ()
    rel_tol: float = 1e-9

    def _grade(self, answer: Any) -> tuple[bool, str]:
        if not callable(answer):
            return False, f"Pass the function itself (no brackets), not {type(answer).__name__} {answer!r}."
        for args, expected in self.cases:
            shown = ", ".join(map(repr, args))
            try:
                got = answer(*args)
            except Exception as exc:  # the learner's code may raise anything; report it, don't crash
                return False, f"Your function raised {type(exc).__name__} ({exc}) for ({shown})."
            if not _close(got, expected, self.rel_tol, 0.0):
                return False, f"For ({shown}) your function returned {got!r}; expected {expected!r}."
        return True, f"All {len(self.cases)} cases pass."

    @property
    def reference(self) -> Any:
        return self.reference_function

    @property
    def typical_wrong(self) -> Sequence[Any]:
        return list(self.wrong_functions)


@dataclass
class ChoiceQuestion(Question):
    """Multiple choice. `choices` maps a key ('a', 'b', ...) to (text, why it is right or wrong)."""

    choices: dict[str, tuple[str, str]] = field(default_factory=dict)
    answer: str = ""

    def _grade(self, answer: Any) -> tuple[bool, str]:
        key = str(answer).strip().lower()
        if key not in self.choices:
            return False, f"Answer with one of {', '.join(map(repr, self.choices))}, not {answer!r}."
        return key == self.answer, self.choices[key][1]

    @property
    def reference(self) -> Any:
        return self.answer

    @property
    def typical_wrong(self) -> Sequence[Any]:
        return [key for key in self.choices if key != self.answer]

    def as_text(self) -> str:
        """The question and its choices as plain text, for places where no widget can show."""
        lines = [self.prompt] + [f"  ({key}) {text}" for key, (text, _) in self.choices.items()]
        lines.append("Pick a choice in the widget, or answer in code with .check('a').")
        return "\n".join(lines)

    def widget(self):
        """Returns an ipywidgets box: the choices, a Check button and the feedback."""
        from adapterlab.widgets import choice_widget

        return choice_widget(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        # The widget where a frontend can draw it; the question as text everywhere else.
        bundle = self.widget()._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = self.as_text()
        return bundle
