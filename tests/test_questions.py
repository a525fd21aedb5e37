"""Every exercise of every notebook: its reference answer passes, typical slips are rejected with help."""

import pytest

from adapterlab.questions import all_questions

QUESTIONS = all_questions()
IDS = [q.id for q in QUESTIONS]


def test_there_are_questions_and_ids_are_unique():
    """Each notebook contributes questions, and no two share an id (progress is keyed by it)."""
    assert len(QUESTIONS) >= 6
    assert len(IDS) == len(set(IDS))


@pytest.mark.parametrize("question", QUESTIONS, ids=IDS)
def test_reference_answer_passes(question):
    """The reference solution is accepted."""
    assert question.check(question.reference).correct


@pytest.mark.parametrize("question", QUESTIONS, ids=IDS)
def test_typical_wrong_answers_are_rejected_with_a_message(question):
    """At least one typical wrong answer is known, and each is rejected with a helpful message."""
    assert question.typical_wrong, f"{question.id} has no typical wrong answer to test"
    for wrong in question.typical_wrong:
        feedback = question.check(wrong)
        assert not feedback.correct
        assert len(feedback.message) > 10


@pytest.mark.parametrize("question", QUESTIONS, ids=IDS)
def test_question_has_hint_and_solution(question):
    """Every question offers at least one hint and a worked solution."""
    assert question.hints and question.solution_text
