"""The notebook form: builds headless, Check gives feedback, Save writes a gradable response."""
from __future__ import annotations

import json

import pytest

from seq2bert.quiz import grade_files, load_quiz, show_quiz
from seq2bert.quiz.widget import QuizForm
from seq2bert.units import CourseError


@pytest.mark.parametrize("unit", ["01", "02"])
def test_form_builds_for_every_quiz(unit, tmp_path):
    quiz = load_quiz(unit)
    form = QuizForm(quiz, save_dir=tmp_path)
    assert set(form.check_buttons) == set(quiz.ids) == set(form.feedback)
    assert form.widget.children[-2] is form.save_button


def test_show_quiz_runs_headless_and_rejects_unknown_units(tmp_path, capsys):
    show_quiz("02", save_dir=tmp_path)
    assert "VBox" in capsys.readouterr().out  # outside a kernel, display() prints the widget's repr
    with pytest.raises(CourseError, match="the units are"):
        show_quiz("12")


def fill_in(form, answers):
    for question_id, value in answers.items():
        question = form.quiz.question(question_id)
        if question.type == "multiple":
            for choice_id, box in form.ticks[question_id].items():
                box.value = choice_id in value
        else:
            form.inputs[question_id].value = value


def test_check_button_gives_feedback_and_explanation(tmp_path):
    form = QuizForm(load_quiz("02"), save_dir=tmp_path)
    form.check_buttons["step_shapes"].click()
    assert "Answer first" in form.feedback["step_shapes"].value
    fill_in(form, {"step_shapes": "a", "attention_params": "lots", "masking_rules": ["a"],
                   "decoder_input_width": "h+e"})
    form.check_buttons["step_shapes"].click()
    assert "Correct." in form.feedback["step_shapes"].value and "(B, S, A)" in form.feedback["step_shapes"].value
    form.check_buttons["attention_params"].click()
    assert "Cannot read that: type a number" in form.feedback["attention_params"].value
    partial = form.check("masking_rules")
    assert partial.earned == 0.5 and "Partly right" in form.feedback["masking_rules"].value
    assert form.check("decoder_input_width").correct
    form.inputs["attention_params"].value = "16000"
    assert form.check("attention_params").earned == 0
    assert "Not quite. The answer is: 16448 parameters" in form.feedback["attention_params"].value


def test_save_refuses_until_name_and_readable_answers(tmp_path):
    form = QuizForm(load_quiz("02"), save_dir=tmp_path)
    form.save_button.click()
    assert "answer at least one question" in form.status.value
    fill_in(form, {"step_shapes": "a", "attention_params": "lots"})
    assert form.save() is None and "question 3: type a number" in form.status.value
    form.inputs["attention_params"].value = "16448"
    assert form.save() is None and "the student name is empty" in form.status.value
    assert list(tmp_path.iterdir()) == []


def test_save_writes_a_response_the_grader_accepts(tmp_path):
    quiz = load_quiz("02")
    form = QuizForm(quiz, save_dir=tmp_path / "answers", name="Ada")
    fill_in(form, {"step_shapes": "a", "attention_params": "16448", "masking_rules": ["a", "c"],
                   "decoder_input_width": "E + H", "output_layer_width": "  "})
    form.save_button.click()
    path = tmp_path / "answers" / "02_ada.json"
    assert f"Saved 4 of {len(quiz.questions)} answers" in form.status.value
    assert f"score 4 / {quiz.max_score:g}" in form.status.value
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["answers"] == {"step_shapes": "a", "attention_params": 16448, "decoder_input_width": "E + H",
                                "masking_rules": ["a", "c"]}
    assert grade_files([path]).grades[0].score == 4


def test_save_into_an_uncreatable_folder_says_so_and_writes_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    form = QuizForm(load_quiz("02"), save_dir=blocker / "answers", name="Ada")
    fill_in(form, {"step_shapes": "a"})
    assert form.save() is None
    assert "Not saved" in form.status.value and "answers" in form.status.value
    assert [p.name for p in tmp_path.iterdir()] == ["file"] and blocker.read_text() == "x"
