"""Answer keys kept outside the repo: the template round-trips, a key overrides, bad keys are rejected."""
from __future__ import annotations

import json

import pytest
import yaml

from seq2bert.cli import main
from seq2bert.quiz import QuizFormatError, apply_key, grade_files, key_template, load_key, load_quiz
from seq2bert.quiz.key import key_fields
from seq2bert.units import CourseError, UNITS


@pytest.mark.parametrize("unit", [unit.number for unit in UNITS])
def test_template_round_trips_to_the_same_answers(unit, tmp_path):
    quiz = load_quiz(unit)
    path = tmp_path / "key.yml"
    path.write_text(key_template(quiz), encoding="utf-8")
    keyed = load_key(quiz, path)
    assert keyed.questions == quiz.questions
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["quiz"] == unit and list(data["answers"]) == list(quiz.ids)


def test_key_cli_prints_the_template(capsys):
    assert main(["quiz", "key", "02"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Answer key for quiz 02")
    assert yaml.safe_load(out)["answers"]["attention_params"] == {"answer": 16448.0, "tolerance": 0.0}


def test_key_overrides_answers_and_changes_the_grade(tmp_path):
    quiz = load_quiz("02")
    answers = {"attention_params": 16448, "step_shapes": "a", "decoder_input_width": "E + H"}
    response = tmp_path / "r.json"
    response.write_text(json.dumps({"quiz": "02", "student": "s", "answers": answers,
                                    "submitted": "2025-01-31T10:00:00+00:00"}), encoding="utf-8")
    key = tmp_path / "key.yml"
    key.write_text(yaml.safe_dump({"quiz": "02", "answers": {
        "attention_params": {"answer": 16000, "tolerance": 500},   # still accepts 16448
        "step_shapes": {"answer": "b"},                             # no longer accepts a
        "decoder_input_width": {"accept": ["E plus H"]},            # no longer accepts E + H
    }}), encoding="utf-8")
    plain = grade_files([response]).grades[0]
    keyed = grade_files([response], key=key).grades[0]
    assert plain.points["attention_params"] == 1 and keyed.points["attention_params"] == 1
    assert plain.points["step_shapes"] == 1 and keyed.points["step_shapes"] == 0
    assert plain.points["decoder_input_width"] == 1 and keyed.points["decoder_input_width"] == 0
    assert keyed.score == plain.score - 2
    # Questions the key leaves out keep the quiz file's answer.
    assert load_key(quiz, key).question("masking_rules") == quiz.question("masking_rules")


@pytest.mark.parametrize("data, expected", [
    ({"quiz": "01", "answers": {"step_shapes": {"answer": "a"}}}, "field 'quiz': this key is for quiz 01, not quiz 02"),
    ({"quiz": "02", "answers": {"nope": {"answer": "a"}}}, "question 'nope': unknown question id"),
    ({"quiz": "02", "answers": {"step_shapes": {"answer": "z"}}},
     "question 'step_shapes': field 'answer': 'z' is not among the choices"),
    ({"quiz": "02", "answers": {"step_shapes": {"tolerance": 1}}},
     "question 'step_shapes': field 'tolerance': a key cannot set this for a single question"),
    ({"quiz": "02", "answers": {"attention_params": {"answer": "many"}}},
     "question 'attention_params': field 'answer': must be a finite number"),
    ({"quiz": "02", "answers": {"decoder_input_width": {"accept": []}}},
     "question 'decoder_input_width': field 'accept': must be a non-empty list"),
    ({"quiz": "02", "answers": {"step_shapes": "a"}}, "question 'step_shapes': must be a mapping"),
    ({"quiz": "02", "answers": {}}, "field 'answers' must be a non-empty mapping"),
    (["a"], "a key must be a mapping"),
])
def test_bad_keys_are_rejected(data, expected):
    with pytest.raises(QuizFormatError) as caught:
        apply_key(load_quiz("02"), data, source="key.yml")
    assert any(line.startswith("key.yml: ") and expected in line for line in caught.value.problems), \
        caught.value.problems


def test_key_for_another_quiz_than_requested_is_an_argument_error(tmp_path):
    key = tmp_path / "key.yml"
    key.write_text(key_template(load_quiz("01")), encoding="utf-8")
    response = tmp_path / "r.json"
    response.write_text("{}", encoding="utf-8")
    with pytest.raises(CourseError, match="this key is for quiz 01, but --quiz 02 was given"):
        grade_files([response], quiz="02", key=key)


def test_key_fields_match_question_types():
    quiz = load_quiz("02")
    assert set(key_fields(quiz.question("attention_params"))) == {"answer", "tolerance"}
    assert set(key_fields(quiz.question("decoder_input_width"))) == {"accept"}
    assert key_fields(quiz.question("masking_rules")) == {"answer": ["a", "c"]}
