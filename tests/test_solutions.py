"""The solved run: each notebook's exercises answered wrong, then right, in the notebook's own state.

These tests check the exercise cells as committed and the tool that writes the solved cells
(tools/solved_run.py). The solved notebooks themselves run under nbval in `make notebooks-test` (part of
`make test`): each notebook once, its exercises answered wrong and then right in its own state.
"""


import nbformat
import pytest
from tools import solved_run
from tools.solved_run import Exercise, SolvedRunError, exercises, solved_notebook, solved_source

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.questions import all_questions

NOTEBOOKS = solved_run.notebooks_with_exercises()
TAGGED = {path.name: exercises(nbformat.read(path, as_version=4)) for path in NOTEBOOKS}
QUESTIONS = {question.id: question for question in all_questions()}


def test_tagged_cells_name_questions_of_their_notebook():
    """Every tagged cell names an existing question whose id starts with its notebook's number."""
    assert {"01_lora_wrapping.ipynb", "02_training_adapters.ipynb"} <= TAGGED.keys()
    for name, found in TAGGED.items():
        for exercise in found:
            assert exercise.question_id in QUESTIONS, f"{name}: {exercise.question_id}"
            # A deep dive (05a_...) asks its core notebook's questions (05.*) or its own (05a.*).
            prefix = exercise.question_id.split(".")[0]
            assert prefix in {name[:2], name.split("_")[0]}, f"{name}: {exercise.question_id}"


def test_every_question_is_tagged_in_a_notebook():
    """A question whose cell is not tagged would never have its solution, alternatives and wrong answers run in a
    notebook: none is left out, hands-on or not."""
    tagged = {exercise.question_id for found in TAGGED.values() for exercise in found}
    assert not [q.id for q in QUESTIONS.values() if q.id not in tagged]


@pytest.mark.parametrize("notebook", ["01_lora_wrapping.ipynb", "02_training_adapters.ipynb"])
def test_notebook_has_two_hands_on_exercises(notebook):
    """Notebooks 01 and 02 each end with at least two hands-on exercises."""
    assert sum(isinstance(QUESTIONS[e.question_id], TaskQuestion) for e in TAGGED[notebook]) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_committed_exercise_outputs_only_nudge(path):
    """As committed (a fresh top-to-bottom run), an exercise shows 'Your turn' or its widget: never a verdict."""
    nb = nbformat.read(path, as_version=4)
    for exercise in TAGGED[path.name]:
        outputs = nb.cells[exercise.index].outputs
        texts = ["".join(out.get("data", {}).get("text/plain", "")) for out in outputs]
        assert len(outputs) == 1 and outputs[0].output_type == "execute_result", f"{exercise.question_id}: {texts}"
        if exercise.arg is None:  # a multiple-choice question, displayed
            assert "application/vnd.jupyter.widget-view+json" in outputs[0].data
        else:
            assert texts[0].startswith("Your turn:"), f"{exercise.question_id}: {texts[0][:80]!r}"


# The tool, on a small question of each kind, run with exec() instead of a kernel.
def _box_check(box):
    return None if box == {"size": 4} else ("size", f"The box has size {box['size']}; make it 4.")


def _task(solution="box = dict(size=4)", slips=None, alternatives=("box = {'size': 2 + 2}",)):
    return TaskQuestion(id="99.box", prompt="A box of size 4.", diagnose=_box_check, success="Yes.",
                        solution_code=solution, slips=slips or [Slip("box = dict(size=2)", "size")],
                        alternatives=alternatives)


def _run_solved(question, exercise, namespace=None):
    exec(solved_source(question, exercise), {"q": question} if namespace is None else namespace)


def test_solved_cell_passes_when_solution_and_slips_agree_with_the_check():
    """The solved cell runs every slip and the solution and asserts what the check answers."""
    _run_solved(_task(), Exercise(0, "99.box", "q", "box"))
    value = ValueQuestion(id="99.v", prompt="?", answer=12, wrong={8: "That is r=8."})
    _run_solved(value, Exercise(0, "99.v", "q", "____"))
    choice = ChoiceQuestion(id="99.c", prompt="?", answer="b", choices={"a": ("x", "No."), "b": ("y", "Yes.")})
    _run_solved(choice, Exercise(0, "99.c", "q", None))
    code = CodeQuestion(id="99.f", prompt="?", cases=[((2,), 4)], solution_text="def f(x):\n    return 2 * x")
    _run_solved(code, Exercise(0, "99.f", "q", "f"))


def test_solved_cell_runs_every_alternative_before_the_solution():
    """Each right answer spelled another way is run and must be accepted; the solution runs last."""
    source = solved_source(_task(alternatives=("box = {'size': 4}", "box = dict(size=int('4'))")),
                           Exercise(0, "99.box", "q", "box"))
    assert source.count("# a right answer spelled another way") == 2
    assert source.index("another way (2)") < source.index("# the solution")


def test_every_kind_runs_its_alternatives_and_other_wrong_answers():
    """A value spelled '12', a choice 'B', a function written another way are accepted; unlisted wrong values and
    functions are rejected; a wrong 'alternative' or a right 'other wrong' answer fails the solved cell."""
    value = ValueQuestion(id="99.v", prompt="?", answer=1200, wrong={800: "r=8."}, alternatives=["1,200", 1.2e3],
                          other_wrong=[1201, "12 00 0"])
    _run_solved(value, Exercise(0, "99.v", "q", "____"))
    choice = ChoiceQuestion(id="99.c", prompt="?", answer="b", choices={"a": ("x", "No."), "b": ("y", "Yes.")},
                            alternatives=["B", " b "])
    _run_solved(choice, Exercise(0, "99.c", "q", None))
    code = CodeQuestion(id="99.f", prompt="?", cases=[((2,), 4), ((3,), 6)],
                        solution_text="def f(x):\n    return 2 * x",
                        alternatives=["def f(x):\n    return x + x", "f = lambda x: x * 2"],
                        other_wrong=["def f(x):\n    return x * x", "def f(x):\n    return 4"])
    _run_solved(code, Exercise(0, "99.f", "q", "f"))
    for broken in (ValueQuestion(id="99.v", prompt="?", answer=1200, alternatives=["1,201"]),
                   ValueQuestion(id="99.v", prompt="?", answer=1200, other_wrong=["1_200"]),
                   CodeQuestion(id="99.f", prompt="?", cases=[((2,), 4)], solution_text="def f(x):\n    return 2 * x",
                                other_wrong=["def f(x):\n    return x + x"])):
        with pytest.raises(AssertionError):
            _run_solved(broken, Exercise(0, broken.id, "q", "f" if broken.id == "99.f" else "____"))


@pytest.mark.parametrize("drift", ["solution", "slip", "message", "question", "alternative"])
def test_solved_cell_fails_when_they_drift(drift):
    """A solution the check rejects, a slip it no longer names, a changed message or another question: all fail."""
    exercise = Exercise(0, "99.box", "q", "box")
    if drift == "solution":
        question, namespace = _task(solution="box = dict(size=3)"), None
    elif drift == "slip":
        question, namespace = _task(slips=[Slip("box = dict(size=4)", "size")]), None
    elif drift == "alternative":
        question, namespace = _task(alternatives=("box = dict(size=5)",)), None
    elif drift == "message":
        question = ValueQuestion(id="99.v", prompt="?", answer=12, wrong={8: "That is r=8."})
        exercise, namespace = Exercise(0, "99.v", "q", "____"), None
        question.wrong[8] = "A new message."
        source = solved_source(question, exercise)
        question.wrong[8] = "That is r=8."
        with pytest.raises(AssertionError):
            exec(source, {"q": question})
        return
    else:
        question, namespace = _task(), {"q": ValueQuestion(id="99.other", prompt="?", answer=1)}
    with pytest.raises(AssertionError):
        _run_solved(question, exercise, namespace)


def test_blank_exercise_that_recorded_an_attempt_fails(tmp_path):
    """The solved cell first asserts that the blank cell before it recorded nothing."""
    question = _task()
    question.check({"size": 2})  # as a blank cell that graded something would have
    with pytest.raises(AssertionError, match="recorded an attempt"):
        _run_solved(question, Exercise(0, "99.box", "q", "box"))


def _cell(source, question_id=None):
    cell = nbformat.v4.new_code_cell(source)
    if question_id:
        cell.metadata.update(tags=["exercise"], adapterlab={"question": question_id})
    return cell


def test_exercises_are_found_and_solved_cells_inserted_after_them():
    """Tagged cells are parsed by their last line; each gets its solved cell right after it."""
    nb = nbformat.v4.new_notebook(cells=[_cell("x = 1"), _cell("from m import q1\nq1.check(____)", "01.rank4_count"),
                                         _cell("y = 2"), _cell("q3", "01.zero_b")])
    assert exercises(nb) == [Exercise(1, "01.rank4_count", "q1", "____"), Exercise(3, "01.zero_b", "q3", None)]
    solved, at = solved_notebook(nb)
    assert at == {2: "01.rank4_count", 5: "01.zero_b"}
    first_lines = [cell.source.splitlines()[0] for cell in solved.cells]
    assert first_lines[:3] == ["x = 1", "from m import q1", "from adapterlab import progress as _progress"]
    assert "q3.check('b')" in solved.cells[5].source


def test_a_malformed_exercise_cell_is_refused():
    """A tagged cell without a question id, or not ending in a check, stops the run with a sentence."""
    with pytest.raises(SolvedRunError, match="needs metadata adapterlab.question"):
        exercises(nbformat.v4.new_notebook(cells=[_cell("q1.check(____)\nprint('after')", "01.rank4_count")]))
    with pytest.raises(SolvedRunError, match="does not have"):
        solved_notebook(nbformat.v4.new_notebook(cells=[_cell("q9.check(____)", "01.nonexistent")]))


def test_written_folder_holds_every_notebook_solved(tmp_path):
    """`--write` puts every notebook in the folder, each tagged exercise followed by its solved cell, and the data
    files the notebooks read beside them (notebooks/data: the capstone's)."""
    counts = solved_run.write_solved(tmp_path)
    every = sorted(path.name for path in solved_run.NOTEBOOKS.glob("*.ipynb"))
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == every == sorted(counts)
    data = sorted(p.relative_to(solved_run.NOTEBOOKS) for p in (solved_run.NOTEBOOKS / "data").rglob("*"))
    assert data and data == sorted(p.relative_to(tmp_path) for p in (tmp_path / "data").rglob("*"))
    for name in every:
        original = nbformat.read(solved_run.NOTEBOOKS / name, as_version=4)
        written = nbformat.read(tmp_path / name, as_version=4)
        assert counts[name] == len(TAGGED.get(name, [])) == len(written.cells) - len(original.cells)
        solved_cells = [cell for cell in written.cells if "import progress as _progress" in cell.source]
        assert len(solved_cells) == counts[name], name


def test_hands_on_cells_mark_where_the_learner_writes():
    """A hands-on exercise cell (other than a function to write) marks the learner's lines with `# >>> your code` and
    `# <<< your code` above the check: several statements fit between the marks, not only `x = ____`."""
    unmarked = []
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        for exercise in TAGGED[path.name]:
            source = cells[exercise.index].source
            if isinstance(QUESTIONS[exercise.question_id], TaskQuestion) and not source.startswith("def "):
                lines = source.splitlines()
                marks = [i for i, line in enumerate(lines) if line.startswith(("# >>> your code", "# <<< your code"))]
                if len(marks) != 2 or not lines[marks[0]].startswith("# >>>") or marks[1] >= len(lines) - 1:
                    unmarked.append(exercise.question_id)
    assert unmarked == []
