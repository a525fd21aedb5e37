"""Exercises that answer back: the learntools pattern, offline.

Every question offers `check(answer)`, `hint()` (one more level per call) and `solution()`, each
returning an object the notebook displays. The placeholder `____` means "not attempted yet": its
check returns a friendly nudge instead of raising, so notebooks run top to bottom in CI untouched
(a function whose body still returns `____` counts as not attempted too).

Four kinds: `ValueQuestion` (a value to compute, with a tolerance for floats), `CodeQuestion`
(a function to write, checked against cases), `ChoiceQuestion` (multiple choice with an
explanation for every choice, drawn with ipywidgets, answerable as text where no widget shows) and
`TaskQuestion` (something to build: its check diagnoses the learner's live object, a model, a
trainer or a folder, and names the typical mistake it finds). Attempts are recorded in a local file
outside the repository; `show_progress()` summarises them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from adapterlab import progress
from adapterlab.feedback import Feedback

# Notebooks take everything an exercise cell needs from this one module (d2l's one import line), so the
# progress summary is re-exported here; it lives in progress.py with the attempts it reads.
from adapterlab.progress import show_progress

__all__ = ["____", "Feedback", "Question", "ValueQuestion", "CodeQuestion", "ChoiceQuestion", "TaskQuestion", "Slip",
           "show_progress"]


class _Placeholder:
    """The blank a learner replaces with an answer."""

    def __repr__(self) -> str:
        return "____"


____ = _Placeholder()

class Verdict(NamedTuple):
    """What grading an answer found: right or not, what to say, and which typical mistake it was (if known)."""

    correct: bool
    message: str
    mistake: str = ""


@dataclass
class Question:
    """A question with hints and a solution; subclasses decide how an answer is graded."""

    id: str
    prompt: str
    hints: Sequence[str] = ()
    solution_text: str = ""
    # For the solved run (tools/solved_run.py), which asserts each: right answers spelled another way than the
    # reference (a value written "2,359,296", a choice "B", another function body, other code for a task), all
    # accepted; and plausible wrong answers beyond the typical ones (values, or function source code), all
    # rejected. A TaskQuestion's wrong answers are its slips.
    alternatives: Sequence[Any] = ()
    other_wrong: Sequence[Any] = ()
    _hints_shown: int = field(default=0, init=False, repr=False)

    def check(self, answer: Any) -> Feedback:
        """Grades `answer` and records the attempt; `____` (not answered yet) returns a nudge instead."""
        if isinstance(answer, _Placeholder) or self._is_blank(answer):
            return Feedback("unattempted", f"{self.prompt}\nReplace ____ with your answer, then run the cell "
                            "again. Stuck? Call .hint().", self.id)
        verdict = Verdict(*self._grade(answer))
        feedback = Feedback("correct" if verdict.correct else "incorrect", verdict.message, self.id,
                            mistake=verdict.mistake)
        progress.record(self.id, feedback.correct)
        return feedback

    def _is_blank(self, answer: Any) -> bool:
        """True if `answer` still holds the placeholder (a kind may look inside it, as CodeQuestion does)."""
        return False

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
        """Returns the worked solution, and records that the learner looked at it."""
        progress.record(self.id, correct=False, peeked=True)
        message, code = self._worked_solution()
        return Feedback("solution", message, self.id, code=code)

    def _worked_solution(self) -> tuple[str, str]:
        """Returns (what to notice, code to show) of the solution; a kind shows its solution as it suits it."""
        return self.solution_text, ""

    def _grade(self, answer: Any) -> tuple[bool, str] | Verdict:
        raise NotImplementedError

    # For the tests: the reference answer and answers a learner typically gives instead.
    @property
    def reference(self) -> Any:
        """The answer the solved run and the tests give the check: it must be accepted."""
        raise NotImplementedError

    @property
    def typical_wrong(self) -> Sequence[Any]:
        """Answers learners often give: each must be rejected with its own message."""
        raise NotImplementedError


def _as_number(answer: Any) -> Any:
    """'2,359,296', '2_359_296' and ' 2359296 ' read as the number they spell; anything else is unchanged."""
    if isinstance(answer, str):
        return answer.strip().replace(",", "").replace("_", "")
    return answer


def _close(got: Any, expected: Any, rel_tol: float, abs_tol: float) -> bool:
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return got == expected
    got = _as_number(got)
    try:
        got = float(got)
    except (TypeError, ValueError):
        return False
    return math.isclose(got, expected, rel_tol=rel_tol, abs_tol=abs_tol)


def _reads_as_number(answer: Any) -> bool:
    """True for a number, or anything float() reads as one (a numeric string, a 0-d tensor)."""
    try:
        float(_as_number(answer))
    except (TypeError, ValueError):
        return False
    return True


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
        if isinstance(self.answer, (int, float)) and not _reads_as_number(answer):
            return False, f"Expected a number, got {type(answer).__name__} {answer!r}."
        return False, f"{answer!r} is not it. Try .hint()."

    reference = property(lambda self: self.answer)
    typical_wrong = property(lambda self: list(self.wrong))


@dataclass
class CodeQuestion(Question):
    """A function to write, checked against `cases`: (arguments tuple, expected result) pairs."""

    cases: Sequence[tuple[tuple, Any]] = ()
    reference_function: Callable | None = None
    wrong_functions: Sequence[Callable] = ()
    rel_tol: float = 1e-9
    reference = property(lambda self: self.reference_function)
    typical_wrong = property(lambda self: list(self.wrong_functions))

    def _is_blank(self, answer: Any) -> bool:
        # The notebook's stub `def f(...): return ____`, run before the learner has written anything.
        if not callable(answer) or not self.cases:
            return False
        try:
            return isinstance(answer(*self.cases[0][0]), _Placeholder)
        except Exception:  # a half-written function: let grading report what it raises
            return False

    def _worked_solution(self) -> tuple[str, str]:
        return "", self.solution_text  # the solution is a function: shown as code, indentation kept

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

    reference = property(lambda self: self.answer)
    typical_wrong = property(lambda self: [key for key in self.choices if key != self.answer])

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


@dataclass(frozen=True)
class Slip:
    """A typical wrong answer to a `TaskQuestion`: the code a learner writes, and the mistake its check names.

    The solved run (tests/test_solutions.py) runs `code` in the notebook in place of the learner's lines
    and asserts that the check answers with `mistake`.
    """

    code: str
    mistake: str


@dataclass
class TaskQuestion(Question):
    """Something to build. `check(obj)` diagnoses the learner's live object: a model, a trainer, a folder.

    `diagnose(obj)` returns None when `obj` is what the task asks for, or (mistake, message): the name
    of the typical mistake it found and what to tell the learner; (None, note) is right too, the note added
    to the success message (which of several right ways it found: an adapter one folder deeper). Many such
    mistakes run without an error (a silent failure); the check is how the learner finds out. `solution_code`,
    `alternatives` and `slips` are code for the notebook's own state: the solved run runs each in place of the
    learner's lines.
    `alternatives` are right answers spelled another way than the solution (a regex or a longer suffix in
    `target_modules`, another save call, transformers' own loader): the check must accept each, because it
    judges the result and the state left behind, never the spelling.
    """

    diagnose: Callable[[Any], tuple[str | None, str] | None] | None = None
    success: str = ""
    solution_code: str = ""
    slips: Sequence[Slip] = ()

    def _is_blank(self, answer: Any) -> bool:
        # `q.check((served, my_merged))`: a check that looks at two objects is not attempted while either is ____.
        return isinstance(answer, tuple) and any(isinstance(part, _Placeholder) for part in answer)

    def _grade(self, answer: Any) -> Verdict:
        try:
            found = self.diagnose(answer)
        except Exception as exc:  # a learner's object can be anything; say what happened instead of crashing
            return Verdict(False, f"Checking it raised {type(exc).__name__} ({exc}); is it the object the task "
                                  "asks for? Try .hint().", "check_raised")
        if found is None:
            return Verdict(True, self.success)
        mistake, message = found
        if mistake is None:
            return Verdict(True, f"{self.success} {message}")
        return Verdict(False, message, mistake)

    def _worked_solution(self) -> tuple[str, str]:
        return self.solution_text, self.solution_code  # what to notice, then the code

    @property
    def mistakes(self) -> set[str]:
        """The names of the typical mistakes its slips demonstrate."""
        return {slip.mistake for slip in self.slips}
