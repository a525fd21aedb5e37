"""The solved run: every exercise of a notebook answered, wrong and then right, in the notebook's own state.

Kaggle's learntools calls these testing notebooks. An exercise cell carries, in its metadata,
`"tags": ["exercise"]` and `"adapterlab": {"question": "<id>"}`; its last line is the check
(`q4.check(my_trainer)`) or, for a multiple-choice question, the question itself (`q3`). Right after
each such cell (which must only nudge: no attempt recorded) the solved notebook runs one more cell:

- for each typical wrong answer the question names, the wrong answer and an assert that the check
  rejects it with that answer's message: a `TaskQuestion`'s slips (code run in place of the learner's
  lines; the check must name the slip's mistake), a `ValueQuestion`'s `wrong` values, a
  `ChoiceQuestion`'s other choices;
- a `TaskQuestion`'s `alternatives`, right answers spelled differently from the solution, each with an
  assert that the check accepts it;
- for every kind, its `alternatives` (right answers spelled another way: accepted) and `other_wrong`
  (plausible wrong values or functions beyond the typical ones: rejected);
- then the reference solution (a `TaskQuestion`'s `solution_code`, a `CodeQuestion`'s `solution_text`,
  a value or a choice) and an assert that the check accepts it.

`make test` writes every notebook, solved, to build/solved/ (`--write`) and runs them under nbval: each
notebook once, every original cell and every solved cell in one fresh kernel. A solution that drifted
from its check, or a slip its check no longer recognises, fails that cell's assert. Run without
`--write`, the tool executes the solved notebooks itself (nbclient), for one notebook at a time:

    .venv/bin/python -m tools.solved_run --write build/solved       # what make test runs under nbval
    .venv/bin/python -m tools.solved_run notebooks/02_training_adapters.ipynb
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Question, TaskQuestion, ValueQuestion
from adapterlab.questions import all_questions

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TAG = "exercise"
CHECK_LINE = re.compile(r"^(?P<name>\w+)\.check\((?P<arg>.*)\)\s*(#.*)?$")
SHOW_LINE = re.compile(r"^(?P<name>\w+)\s*(#.*)?$")


class SolvedRunError(AssertionError):
    """An exercise cell cannot be solved, or its solved version failed; the message names the question."""


@dataclass(frozen=True)
class Exercise:
    """A tagged exercise cell: where it is, which question it checks, and how its last line calls the check."""

    index: int
    question_id: str
    name: str  # the notebook's variable holding the question, e.g. 'q4'
    arg: str | None  # what the cell passes to check; None for a question that is only displayed


def exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """Returns the tagged exercise cells of `nb`, in order."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or TAG not in cell.metadata.get("tags", []):
            continue
        question_id = cell.metadata.get("adapterlab", {}).get("question")
        lines = cell.source.rstrip().splitlines()
        last = lines[-1].strip() if lines else ""
        check, show = CHECK_LINE.match(last), SHOW_LINE.match(last)
        if not question_id or not (check or show):
            raise SolvedRunError(f"cell {index + 1} is tagged '{TAG}' but needs metadata adapterlab.question and a "
                                 f"last line `qN.check(...)` or `qN`; it has {question_id!r} and {last!r}")
        match = check or show
        found.append(Exercise(index, question_id, match["name"], check["arg"] if check else None))
    return found


def _assert_rejected(name: str, answer: str, message: str) -> str:
    return (f"_feedback = {name}.check({answer})\n"
            f"assert not _feedback.correct and _feedback.message == {message!r}, _feedback\n")


def _assert_accepted(name: str, answer: str) -> str:
    return f"_feedback = {name}.check({answer})\nassert _feedback.correct, _feedback\n"


def solved_source(question: Question, exercise: Exercise) -> str:
    """Returns the code of the solved cell: each typical wrong answer rejected, then the solution accepted."""
    name, arg = exercise.name, exercise.arg
    parts = [f"from adapterlab import progress as _progress\n"
             f"assert {name}.id == {question.id!r}, f'this cell checks {{{name}.id}}, not {question.id}'\n"
             f"assert {question.id!r} not in _progress.load(), 'the blank exercise recorded an attempt'\n"]
    if isinstance(question, TaskQuestion):
        if arg is None:
            raise SolvedRunError(f"{question.id}: a hands-on exercise cell must end with `{name}.check(...)`")
        for slip in question.slips:
            parts.append(f"# typical wrong answer: {slip.mistake}\n{slip.code}\n"
                         f"_feedback = {name}.check({arg})\n"
                         f"assert _feedback.mistake == {slip.mistake!r}, _feedback\n")
        for number, code in enumerate(question.alternatives, 1):
            parts.append(f"# a right answer spelled another way ({number})\n{code}\n" + _assert_accepted(name, arg))
        parts.append(f"# the solution\n{question.solution_code}\n" + _assert_accepted(name, arg))
    elif isinstance(question, CodeQuestion):
        defined = re.search(r"^def (\w+)", question.solution_text, re.MULTILINE)
        if not defined or arg != defined[1]:
            raise SolvedRunError(f"{question.id}: the cell must end with `{name}.check(f)`, f being the function "
                                 f"its solution defines ({defined[1] if defined else 'none'}), not {arg!r}")
        for code in question.other_wrong:
            parts.append(f"# a wrong function\n{code}\n_feedback = {name}.check({arg})\n"
                         "assert not _feedback.correct, _feedback\n")
        for number, code in enumerate(question.alternatives, 1):
            parts.append(f"# a right function written another way ({number})\n{code}\n" + _assert_accepted(name, arg))
        parts.append(f"# the solution\n{question.solution_text}\n" + _assert_accepted(name, arg))
    elif isinstance(question, ValueQuestion):
        for value, message in question.wrong.items():
            parts.append(_assert_rejected(name, repr(value), message))
        for value in question.other_wrong:
            parts.append(f"_feedback = {name}.check({value!r})\nassert not _feedback.correct, _feedback\n")
        parts += [_assert_accepted(name, repr(value)) for value in question.alternatives]
        parts.append(_assert_accepted(name, repr(question.answer)))
    elif isinstance(question, ChoiceQuestion):
        for key, (_, why) in question.choices.items():
            if key != question.answer:
                parts.append(_assert_rejected(name, repr(key), why))
        parts += [_assert_accepted(name, repr(value)) for value in question.alternatives]
        parts.append(_assert_accepted(name, repr(question.answer)))
    else:
        raise SolvedRunError(f"{question.id}: no solved run for a {type(question).__name__}")
    return "\n".join(parts)


def solved_notebook(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[int, str]]:
    """Returns a copy of `nb` with a solved cell after each exercise, and {solved cell index: question id}."""
    questions = {question.id: question for question in all_questions()}
    solved = nbformat.from_dict(nb)
    found = exercises(nb)
    at = {}
    for exercise in reversed(found):
        if exercise.question_id not in questions:
            raise SolvedRunError(f"cell {exercise.index + 1} names question {exercise.question_id!r}, which "
                                 "adapterlab.questions does not have")
        cell = nbformat.v4.new_code_cell(solved_source(questions[exercise.question_id], exercise))
        solved.cells.insert(exercise.index + 1, cell)
    for before, exercise in enumerate(found):  # `before` solved cells were inserted above this exercise
        at[exercise.index + before + 1] = exercise.question_id
    return solved, at


def run(path: Path, timeout: int = 300) -> float:
    """Runs the solved version of notebook `path` in a fresh kernel; returns the seconds it took.

    The kernel inherits this process's environment: point ADAPTERLAB_PROGRESS and ADAPTERLAB_WORK at
    scratch folders first (`scratch_environment`). Raises `SolvedRunError` naming the failing cell.
    """
    nb = nbformat.read(path, as_version=4)
    solved, questions = solved_notebook(nb)
    if not questions:
        raise SolvedRunError(f"{path.name} has no cell tagged '{TAG}'")
    client = NotebookClient(solved, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(solved.cells):
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                what = f"the solved cell of {questions[index]}" if index in questions else f"cell {index + 1}"
                raise SolvedRunError(f"{path.name}, {what}:\n{error}") from None
    return time.perf_counter() - started


def scratch_environment(folder: Path) -> dict[str, str]:
    """The variables that keep a solved run's progress and saved adapters out of the learner's folders."""
    return {"ADAPTERLAB_PROGRESS": str(folder / "progress.json"), "ADAPTERLAB_WORK": str(folder / "work")}


def notebooks_with_exercises() -> list[Path]:
    """Returns the notebooks that have at least one tagged exercise cell."""
    return [path for path in sorted(NOTEBOOKS.glob("*.ipynb"))
            if any(TAG in cell.metadata.get("tags", []) for cell in nbformat.read(path, as_version=4).cells)]


def write_solved(folder: Path, paths: list[Path] | None = None) -> dict[str, int]:
    """Writes each notebook (default: every one in notebooks/) into `folder`, solved where it has exercises.

    A notebook without tagged exercise cells is written as it is, so the folder holds the whole sequence.
    Returns {notebook name: number of solved cells}.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if (NOTEBOOKS / "data").is_dir():  # notebooks read their data files beside them (08's capstone.jsonl)
        shutil.copytree(NOTEBOOKS / "data", folder / "data", dirs_exist_ok=True)
    counts = {}
    for path in paths or sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        solved, questions = solved_notebook(nb)
        nbformat.write(solved, folder / path.name)
        counts[path.name] = len(questions)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook with tagged exercises")
    parser.add_argument("--write", type=Path, metavar="FOLDER",
                        help="write the solved notebooks into FOLDER instead of running them (for nbval)")
    args = parser.parse_args(argv)
    if args.write:
        try:
            counts = write_solved(args.write, args.notebooks)
        except SolvedRunError as error:
            print(f"solved_run: {error}", file=sys.stderr)
            return 2
        print(f"solved_run: {len(counts)} notebooks, {sum(counts.values())} solved cells")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(scratch_environment(Path(scratch)))
        failed = 0
        for path in args.notebooks or notebooks_with_exercises():
            try:
                count = len(exercises(nbformat.read(path, as_version=4)))
                seconds = run(path)
                print(f"{path.name:<34}{count:>3} exercises  {seconds:6.1f} s", flush=True)
            except SolvedRunError as error:
                failed += 1
                print(f"{path.name}: FAILED\n{error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
