"""The shipped quizzes are valid, and broken quiz files are rejected with precise messages."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seq2bert.cli import main
from seq2bert.quiz import QuizFormatError, load_quiz, load_quiz_file, parse_quiz
from seq2bert.units import UNITS, CourseError, course_root

GOOD = {
    "unit": "02",
    "title": "A small quiz",
    "questions": [
        {"id": "pick", "type": "single", "prompt": "Pick one.", "choices": ["x", "y"], "answer": "b",
         "explanation": "Because."},
        {"id": "ticks", "type": "multiple", "prompt": "Tick.", "choices": ["x", "y", "z"], "answer": ["a", "c"],
         "explanation": "Because."},
        {"id": "count", "type": "numeric", "prompt": "How many?", "answer": 3, "tolerance": 0.5,
         "explanation": "Because."},
        {"id": "word", "type": "short", "prompt": "Which word?", "accept": ["BLEU", {"regex": "bleu ?score"}],
         "explanation": "Because."},
    ],
}


def broken(**changes) -> dict:
    """GOOD with question fields changed: changes = {question_index__field: value or DELETE}."""
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    for key, value in changes.items():
        index, field = key.split("__")
        question = data["questions"][int(index[1:])]
        if value is DELETE:
            del question[field]
        else:
            question[field] = value
    return data


DELETE = object()


def problems_of(data) -> list[str]:
    with pytest.raises(QuizFormatError) as caught:
        parse_quiz(data, source="bad.yml")
    return caught.value.problems


def test_good_quiz_parses_with_defaults():
    quiz = parse_quiz(GOOD, source="good.yml")
    assert quiz.unit == "02" and quiz.ids == ("pick", "ticks", "count", "word")
    assert quiz.max_score == 4.0
    assert quiz.question("pick").choice_ids == ("a", "b")
    assert quiz.question("ticks").answer == ("a", "c") and quiz.question("ticks").scoring == "partial"
    assert quiz.question("word").accept[0].text == "bleu" and quiz.question("word").accept[1].regex


@pytest.mark.parametrize("unit", [u.number for u in UNITS])
def test_shipped_quizzes_are_valid_and_rich_enough(unit):
    quiz = load_quiz(unit)
    assert quiz.unit == unit
    assert len(quiz.questions) >= 8
    assert {q.type for q in quiz.questions} == {"single", "multiple", "numeric", "short"}
    assert Path(quiz.source) == UNITS[int(unit) - 1].quiz(course_root())
    for question in quiz.questions:
        assert len(question.explanation) > 40, f"{question.id}: explanation too thin to teach anything"


@pytest.mark.parametrize("changes, expected", [
    ({"q0__answer": DELETE}, "bad.yml: question 'pick': field 'answer': is missing"),
    ({"q0__answer": "e"}, "bad.yml: question 'pick': field 'answer': 'e' is not among the choices (a, b)"),
    ({"q1__answer": ["a", "q"]}, "question 'ticks': field 'answer': 'q' is not among the choices (a, b, c)"),
    ({"q1__answer": []}, "question 'ticks': field 'answer': must be a non-empty list of choice ids"),
    ({"q1__answer": ["a", "a"]}, "question 'ticks': field 'answer': 'a' is listed twice"),
    ({"q0__type": "essay"}, "question 'pick': field 'type': must be one of single, multiple, numeric, short"),
    ({"q2__tolerence": 1}, "question 'count': field 'tolerence': unknown field for a numeric question"),
    ({"q2__tolerance": -1}, "question 'count': field 'tolerance': must be at least 0"),
    ({"q2__answer": "three"}, "question 'count': field 'answer': must be a finite number, not 'three'"),
    ({"q2__answer": True}, "question 'count': field 'answer': must be a finite number"),
    ({"q3__accept": [{"regex": "("}]}, "question 'word': field 'accept': entry 1 is not a valid regular expression"),
    ({"q3__accept": DELETE}, "question 'word': field 'accept': is missing"),
    ({"q0__explanation": ""}, "question 'pick': field 'explanation': is missing or empty"),
    ({"q0__points": 0}, "question 'pick': field 'points': must be positive"),
    ({"q0__choices": ["only one"]}, "question 'pick': field 'choices': must be a list of at least two choices"),
    ({"q0__choices": ["x", {"the answer": "y"}]}, "unquoted ': ' inside a choice"),
    ({"q0__id": "Pick Me"}, "field 'id' must be lower_snake_case"),
    ({"q0__id": "score"}, "question 'score': field 'id': id is reserved"),
    ({"q1__scoring": "lenient"}, "question 'ticks': field 'scoring': must be one of partial, all_or_nothing"),
])
def test_broken_questions_are_rejected_with_file_question_and_field(changes, expected):
    problems = problems_of(broken(**changes))
    assert any(expected in line for line in problems), problems
    assert all(line.startswith("bad.yml: ") for line in problems)


def test_duplicate_ids_and_top_level_problems_are_all_reported():
    data = broken(q1__id="pick")
    data["unit"] = "09"
    data["extra"] = 1
    problems = problems_of(data)
    assert any("question 'pick': field 'id': duplicate id (question 2 reuses it)" in p for p in problems)
    assert any("field 'unit': there is no unit '09'; the units are: 01" in p for p in problems)
    assert any("unknown top-level field 'extra'" in p for p in problems)


def test_yaml_gotcha_colon_inside_choice_is_caught(tmp_path):
    path = tmp_path / "colon.yml"
    text = yaml.safe_dump(GOOD, sort_keys=False).replace("- x\n", "- the answer: x\n", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(QuizFormatError, match="put the text in quotes"):
        load_quiz_file(path)


def test_invalid_yaml_and_missing_file_are_one_line_errors(tmp_path):
    path = tmp_path / "syntax.yml"
    path.write_text("unit: '02'\nquestions: [\n  - id: x\n", encoding="utf-8")
    with pytest.raises(CourseError, match=r"syntax.yml: not valid YAML \(line \d+, column \d+\)"):
        load_quiz_file(path)
    with pytest.raises(CourseError, match="no such quiz file"):
        load_quiz_file(tmp_path / "absent.yml")


def test_unknown_unit_lists_the_units():
    with pytest.raises(CourseError, match=r"there is no unit '7'; the units are: 01 .*02"):
        load_quiz("7")


def test_validate_cli_accepts_shipped_and_rejects_broken(tmp_path, capsys):
    assert main(["quiz", "validate"]) == 0
    out = capsys.readouterr().out
    assert "ok  " in out and "quiz 01" in out and "quiz 02" in out
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(broken(q0__answer="z")), encoding="utf-8")
    assert main(["quiz", "validate", str(bad), "02"]) == 1
    captured = capsys.readouterr()
    assert f"{bad}: question 'pick': field 'answer': 'z' is not among the choices" in captured.err
    assert "quiz 02" in captured.out and "1 quiz file(s) have problems" in captured.err
