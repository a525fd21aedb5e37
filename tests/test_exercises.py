"""Exercises answer back: right answers pass, slips get a message, blanks get a nudge."""

import json

import pytest

from adapterlab import progress
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Feedback, ValueQuestion, ____


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
