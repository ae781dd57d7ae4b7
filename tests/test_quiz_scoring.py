"""Scoring rules (partial multiple-select, tolerance, short-answer normalisation) and input parsing."""
from __future__ import annotations

import pytest

from seq2bert.quiz import AnswerParseError, parse_quiz, parse_typed_answer, score_answer
from seq2bert.quiz.scoring import check_answer_value, give_feedback


def make_quiz(**extra):
    questions = [
        {"id": "pick", "type": "single", "prompt": "p", "choices": ["w", "x", "y", "z"], "answer": "c",
         "explanation": "e"},
        {"id": "ticks", "type": "multiple", "prompt": "p", "choices": ["w", "x", "y", "z"], "answer": ["a", "b", "d"],
         "points": 3, "explanation": "e", **extra},
        {"id": "count", "type": "numeric", "prompt": "p", "answer": 0.6871, "tolerance": 0.001, "explanation": "e"},
        {"id": "exact", "type": "numeric", "prompt": "p", "answer": 0.3, "explanation": "e"},
        {"id": "width", "type": "short", "prompt": "p", "explanation": "e",
         "accept": ["Mean  Cross Entropy", {"regex": r"e\s*\+\s*h"}]},
    ]
    return parse_quiz({"unit": "01", "title": "t", "questions": questions})


QUIZ = make_quiz()


@pytest.mark.parametrize("ticked, fraction", [
    (["a", "b", "d"], 1.0),     # exactly right
    (["a", "b"], 2 / 3),        # one right answer missing
    (["a", "b", "c", "d"], 2 / 3),  # one wrong tick cancels one right tick
    (["a", "c"], 0.0),          # one right, one wrong
    (["c"], 0.0),               # clamped at 0, never negative
    ([], 0.0),
])
def test_partial_multiple_select_rule(ticked, fraction):
    assert score_answer(QUIZ.question("ticks"), ticked) == pytest.approx(3 * fraction, abs=1e-6)


def test_all_or_nothing_multiple_select():
    question = make_quiz(scoring="all_or_nothing").question("ticks")
    assert score_answer(question, ["d", "a", "b"]) == 3
    assert score_answer(question, ["a", "b"]) == 0
    assert score_answer(question, ["a", "b", "c", "d"]) == 0


def test_numeric_tolerance_is_absolute_and_inclusive():
    question = QUIZ.question("count")
    assert score_answer(question, 0.6871) == 1
    assert score_answer(question, 0.6880) == 1
    assert score_answer(question, 0.6862) == 1
    assert score_answer(question, 0.6885) == 0
    assert score_answer(question, 0.69) == 0


def test_numeric_zero_tolerance_absorbs_round_off_only():
    question = QUIZ.question("exact")
    assert score_answer(question, 0.1 + 0.2) == 1
    assert score_answer(question, 0.3001) == 0


def test_short_answers_normalise_case_and_whitespace_and_support_regex():
    question = QUIZ.question("width")
    assert score_answer(question, "  mean cross   entropy ") == 1
    assert score_answer(question, "MEAN CROSS ENTROPY") == 1
    assert score_answer(question, "mean cross-entropy") == 0
    assert score_answer(question, "E+H") == 1
    assert score_answer(question, "e +  h") == 1
    assert score_answer(question, "E + H + 1") == 0  # the pattern must match the whole answer


def test_single_choice_and_unanswered():
    question = QUIZ.question("pick")
    assert score_answer(question, "c") == 1
    assert score_answer(question, "a") == 0
    assert score_answer(question, None) == 0


def test_feedback_messages_say_correct_partial_or_wrong():
    question = QUIZ.question("ticks")
    assert give_feedback(question, ["a", "b", "d"]).message == "Correct."
    partial = give_feedback(question, ["a", "b"])
    assert partial.earned == 2 and not partial.correct and "Partly right (2 of 3 points)" in partial.message
    wrong = give_feedback(QUIZ.question("count"), 1.0)
    assert wrong.earned == 0 and "0.6871 (± 0.001)" in wrong.message


@pytest.mark.parametrize("question_id, text, value", [
    ("pick", " C ", "c"), ("pick", "c)", "c"),
    ("ticks", "a, b,d", ["a", "b", "d"]), ("ticks", "d a", ["d", "a"]), ("ticks", "a;a", ["a"]),
    ("count", "0.5", 0.5), ("count", "1e-3", 0.001), ("count", "74_496", 74496), ("count", "-2", -2),
    ("width", "  E + H ", "E + H"),
])
def test_typed_answers_parse(question_id, text, value):
    assert parse_typed_answer(QUIZ.question(question_id), text) == value


@pytest.mark.parametrize("question_id, text, hint", [
    ("pick", "e", "type one of: a, b, c, d"),
    ("pick", "", "please type an answer"),
    ("ticks", "a, q", "'q' is not a choice"),
    ("count", "about half", "type a number"),
    ("count", "0,5", "use a dot for decimals"),
    ("count", "nan", "finite"),
    ("width", "x" * 1001, "under 1000 characters"),
])
def test_unparseable_typed_answers_give_hints(question_id, text, hint):
    with pytest.raises(AnswerParseError, match=hint):
        parse_typed_answer(QUIZ.question(question_id), text)


@pytest.mark.parametrize("question_id, value, problem", [
    ("pick", 2, "expected one choice id"),
    ("pick", "e", "'e' is not a choice"),
    ("ticks", "a", "expected a list of choice ids"),
    ("ticks", ["a", "a"], "more than once"),
    ("ticks", ["a", "x"], "'x' is not a choice"),
    ("count", "0.6871", "expected a number, got text"),
    ("count", True, "expected a number, got true"),
    ("width", ["E + H"], "expected text, got a list"),
])
def test_wrong_answer_types_in_responses_are_named(question_id, value, problem):
    assert problem in check_answer_value(QUIZ.question(question_id), value)


def test_valid_response_values_have_no_problem():
    for question_id, value in [("pick", "a"), ("ticks", []), ("count", 3), ("count", 0.5), ("width", "x"),
                               ("pick", None)]:
        assert check_answer_value(QUIZ.question(question_id), value) is None
