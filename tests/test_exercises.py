"""Exercises answer back: right answers pass, slips get a message, blanks get a nudge."""

import json

import pytest

from adapterlab import progress
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Feedback, Slip, TaskQuestion, ValueQuestion, ____


@pytest.fixture
def value_q():
    return ValueQuestion(id="99.count", prompt="How many?", answer=294912,
                         wrong={9216: "That is the seed's count."}, hints=["first", "second"],
                         solution_text="2 * 12 * ...")


def test_placeholder_is_a_nudge_not_an_error(value_q):
    """Checking `____` returns an 'unattempted' nudge and records nothing."""
    fb = value_q.check(____)
    assert fb.kind == "unattempted" and not fb
    assert "Replace ____" in repr(fb)
    assert progress.load() == {}


def test_value_right_and_known_slip(value_q):
    """The reference passes (int or float form); a known slip gets its own message."""
    assert value_q.check(294912)
    assert value_q.check(294912.0)
    slip = value_q.check(9216)
    assert not slip and slip.message == "That is the seed's count."


def test_value_type_mistake_is_explained(value_q):
    """A string where a number is expected says so instead of just 'wrong'."""
    assert "Expected a number" in value_q.check("many").message


def test_float_tolerance():
    """Float answers pass within rel_tol and fail outside it."""
    q = ValueQuestion(id="99.ratio", prompt="Ratio?", answer=420.9, rel_tol=0.01)
    assert q.check(421.0) and not q.check(430.0)


def test_hints_escalate_and_stop_at_the_last(value_q):
    """Each hint() call gives the next level; past the last it repeats the last."""
    assert [value_q.hint().message for _ in range(3)] == [
        "first (hint 1 of 2)", "second (hint 2 of 2)", "second (hint 2 of 2)"]
    assert value_q.hint(1).message.startswith("first")


def test_solution_is_recorded_as_peeked(value_q):
    """solution() shows the solution and marks the question as peeked at, not solved."""
    assert value_q.solution().kind == "solution"
    assert progress.load()["99.count"] == {"attempts": 0, "correct": False, "peeked": True}


def test_code_question_reports_the_failing_case():
    """A wrong function is told which input failed, and a crashing one which error it raised."""
    q = CodeQuestion(id="99.f", prompt="Write f", cases=[((2, 3), 10), ((1, 1), 4)],
                     reference_function=lambda a, b: 2 * (a + b))
    assert q.check(lambda a, b: 2 * (a + b))
    wrong = q.check(lambda a, b: a * b)
    assert not wrong and "For (2, 3) your function returned 6; expected 10." == wrong.message
    assert "raised ZeroDivisionError" in q.check(lambda a, b: 1 / 0).message
    assert "Pass the function itself" in q.check(42).message


def test_choice_question_explains_every_choice():
    """Each choice answers with its own explanation; an unknown key lists the valid ones."""
    q = ChoiceQuestion(id="99.c", prompt="Which?", answer="b",
                       choices={"a": ("one", "No: because one."), "b": ("two", "Yes: because two.")})
    assert q.check("B").message == "Yes: because two." and q.check("b").correct
    assert q.check("a").message == "No: because one."
    assert "one of 'a', 'b'" in q.check("z").message


def test_choice_question_displays_widget_with_text_fallback():
    """Displayed, a choice question offers a widget view and, for frontends without widgets, its text."""
    q = ChoiceQuestion(id="99.c", prompt="Which?", answer="a", choices={"a": ("x", "y"), "b": ("z", "w")})
    bundle = q._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("Which?\n  (a) x\n  (b) z")


def test_widget_check_button_shows_feedback():
    """Clicking Check in the widget grades the selected choice and shows the feedback."""
    q = ChoiceQuestion(id="99.c", prompt="Which?", answer="a", choices={"a": ("x", "Yes."), "b": ("z", "No.")})
    box = q.widget()
    _, radio, button, feedback = box.children
    button.click()
    assert feedback.value == "Pick one of the choices first."
    radio.value = "b"
    button.click()
    assert "Not quite" in feedback.value and "No." in feedback.value
    radio.value = "a"
    button.click()
    assert "Correct" in feedback.value


def test_feedback_html_escapes_the_message():
    """Messages are escaped in HTML, so a learner's answer cannot inject markup."""
    assert "&lt;b&gt;" in Feedback("incorrect", "<b>")._repr_html_()


def test_progress_counts_attempts(value_q, tmp_path):
    """Attempts and first success are recorded in the progress file."""
    value_q.check(1)
    value_q.check(294912)
    value_q.check(2)
    entry = json.loads(progress.progress_file().read_text())["99.count"]
    assert entry == {"attempts": 3, "correct": True, "peeked": False}


def test_widget_prompt_is_escaped_and_shows_code():
    """The widget's prompt escapes HTML and draws `code` spans as code."""
    q = ChoiceQuestion(id="99.c", prompt="Is `a<b` true?", answer="a", choices={"a": ("x", "y"), "b": ("z", "w")})
    assert q.widget().children[0].value == "<b>Is <code>a&lt;b</code> true?</b>"


def test_stub_function_is_a_nudge_not_a_wrong_answer():
    """A function whose body still returns `____` (the notebook's stub) is not attempted: a nudge, nothing recorded."""
    q = CodeQuestion(id="99.f", prompt="Write f", cases=[((2,), 4)], reference_function=lambda x: 2 * x)

    def f(x):
        return ____

    assert q.check(f).kind == "unattempted"
    assert progress.load() == {}
    assert "raised ZeroDivisionError" in q.check(lambda x: 1 / 0).message  # a broken function is still graded


def test_code_solution_keeps_its_indentation_in_html():
    """A code solution renders inside <pre>, escaped, with its indentation and line breaks kept."""
    q = CodeQuestion(id="99.f", prompt="Write f", cases=[((2,), 4)], reference_function=lambda x: 2 * x,
                     solution_text="def f(x):\n    return 2 * x  # x < 3")
    shown = q.solution()
    assert shown.code == "def f(x):\n    return 2 * x  # x < 3"
    html = shown._repr_html_()
    assert "<pre" in html and "def f(x):\n    return 2 * x  # x &lt; 3</code></pre>" in html
    assert repr(shown) == "Solution:\ndef f(x):\n    return 2 * x  # x < 3"


def test_message_code_spans_render_as_code():
    """Backticked names in a message render as <code>, after escaping."""
    assert "<code>a&lt;b</code>" in Feedback("hint", "Look at `a<b`.")._repr_html_()


def _diagnose_box(box):
    if box is None:
        return "none", "You passed None."
    if box.get("size") != 4:
        return "size", f"The box has size {box.get('size')}; make it 4."
    return None


@pytest.fixture
def task_q():
    return TaskQuestion(id="99.box", prompt="Build a box of size 4.", diagnose=_diagnose_box, success="A box of 4.",
                        hints=["size=4"], solution_text="Pass size=4.", solution_code="box = dict(size=4)",
                        slips=[Slip("box = dict(size=2)", "size"), Slip("box = None", "none")])


def test_task_question_names_the_mistake(task_q):
    """A hands-on check answers with the mistake it found (by name and message), or the success message."""
    right = task_q.check({"size": 4})
    assert right.correct and right.message == "A box of 4." and not right.mistake
    wrong = task_q.check({"size": 2})
    assert (wrong.kind, wrong.mistake, wrong.message) == ("incorrect", "size", "The box has size 2; make it 4.")
    assert task_q.mistakes == {"size", "none"}
    assert progress.load()["99.box"] == {"attempts": 2, "correct": True, "peeked": False}


def test_task_question_right_with_a_note():
    """A check that found a right answer built another way (None, note) is correct, the note after the success."""
    question = TaskQuestion(id="99.box", prompt="A box.", diagnose=lambda box: (None, "(It is in the attic.)"),
                            success="A box of 4.")
    right = question.check({"size": 4})
    assert right.correct and right.message == "A box of 4. (It is in the attic.)" and not right.mistake


def test_task_question_survives_an_object_it_cannot_diagnose(task_q):
    """An object that makes the check itself raise gets a message, not a traceback."""
    feedback = task_q.check(["not", "a", "box"])
    assert not feedback.correct and feedback.mistake == "check_raised" and "AttributeError" in feedback.message


def test_task_question_blank_and_solution(task_q):
    """`____` is a nudge; the solution shows what to notice, then the code."""
    assert task_q.check(____).kind == "unattempted" and progress.load() == {}
    shown = task_q.solution()
    assert (shown.message, shown.code) == ("Pass size=4.", "box = dict(size=4)")
    namespace = {}
    exec(task_q.solution_code, namespace)
    assert task_q.check(namespace["box"]).correct


def test_task_question_with_two_objects_is_blank_while_either_is(task_q):
    """`q.check((served, my_merged))` nudges while one of the two is still `____`, and records nothing."""
    assert task_q.check(({"size": 4}, ____)).kind == "unattempted" and progress.load() == {}
    assert task_q.check(({"size": 4}, {"size": 4})).mistake == "check_raised"  # graded once both are filled in
