"""The notebook form: builds headless, Check gives feedback and locks, Save writes a gradable response."""
from __future__ import annotations

import json

import pytest

from seq2bert.quiz import grade_files, load_quiz, show_quiz
from seq2bert.quiz.scoring import FEEDBACK_ENV
from seq2bert.quiz.widget import QuizForm, text_to_html
from seq2bert.units import CourseError, UNITS


@pytest.fixture(autouse=True)
def default_feedback(monkeypatch):
    """Tests choose the feedback mode themselves, whatever the environment says."""
    monkeypatch.delenv(FEEDBACK_ENV, raising=False)


@pytest.mark.parametrize("unit", [unit.number for unit in UNITS])
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


def test_checking_locks_that_answer_and_save_keeps_the_checked_value(tmp_path):
    form = QuizForm(load_quiz("02"), save_dir=tmp_path, name="Ada")
    form.check("attention_params")  # blank: nothing to lock
    fill_in(form, {"attention_params": "lots"})
    form.check("attention_params")  # unreadable: nothing to lock
    assert not form.inputs["attention_params"].disabled and not form.check_buttons["attention_params"].disabled
    fill_in(form, {"step_shapes": "b", "masking_rules": ["a"], "attention_params": "16448"})
    assert form.check("step_shapes").earned == 0 and "The answer is: a)" in form.feedback["step_shapes"].value
    form.check("masking_rules")
    assert form.inputs["step_shapes"].disabled and form.check_buttons["step_shapes"].disabled
    assert all(box.disabled for box in form.ticks["masking_rules"].values())
    assert not form.inputs["attention_params"].disabled  # not checked yet
    shown = form.feedback["step_shapes"].value
    fill_in(form, {"step_shapes": "a", "masking_rules": ["a", "c"]})  # what a disabled widget would refuse
    assert form.check("step_shapes").earned == 0 and form.feedback["step_shapes"].value == shown
    path = form.save()
    saved = json.loads(path.read_text(encoding="utf-8"))["answers"]
    assert saved == {"step_shapes": "b", "attention_params": 16448, "masking_rules": ["a"]}
    assert grade_files([path]).grades[0].points == {**dict.fromkeys(form.quiz.ids, 0.0), "attention_params": 1.0,
                                                   "masking_rules": 0.5}


def test_immediate_save_shows_the_score_and_locks_what_it_saved(tmp_path):
    form = QuizForm(load_quiz("02"), save_dir=tmp_path, name="Ada")
    fill_in(form, {"step_shapes": "a"})
    first = form.save()
    assert "score 1 /" in form.status.value
    assert form.inputs["step_shapes"].disabled and form.check_buttons["step_shapes"].disabled and form.name.disabled
    assert not form.inputs["attention_params"].disabled and not form.save_button.disabled
    fill_in(form, {"attention_params": "16448"})
    assert form.save() == first  # the same file, now with both answers
    assert grade_files([first]).grades[0].score == 2


def test_after_submit_mode_from_the_environment_gives_feedback_only_after_submitting(tmp_path, monkeypatch):
    monkeypatch.setenv(FEEDBACK_ENV, "after_submit")
    quiz = load_quiz("02")
    form = QuizForm(quiz, save_dir=tmp_path, name="Ada")
    assert form.mode == "after_submit" and form.check_buttons == {}
    assert form.save_button.description == "Submit my answers" and "after you submit" in form.widget.children[0].value
    fill_in(form, {"step_shapes": "b", "attention_params": "16448"})
    assert form.check("step_shapes") is None and "Feedback comes after you submit" in form.feedback["step_shapes"].value
    assert not form.inputs["step_shapes"].disabled
    assert all(form.feedback[qid].value == "" for qid in quiz.ids if qid != "step_shapes")
    path = form.save()
    assert path == tmp_path / "02_ada.json" and grade_files([path]).grades[0].score == 1
    assert f"Submitted 2 of {len(quiz.questions)} answers" in form.status.value
    assert form.save_button.disabled and form.name.disabled and form.submitted
    assert all(widget.disabled for qid in quiz.ids for widget in form.answer_widgets(qid))
    for question in quiz.questions:  # every question now shows its feedback and explanation
        assert text_to_html(question.explanation) in form.feedback[question.id].value
    assert "Not quite. The answer is: a)" in form.feedback["step_shapes"].value
    assert "Correct." in form.feedback["attention_params"].value
    assert "Not answered. The answer is:" in form.feedback["masking_rules"].value
    before, shown = path.read_bytes(), form.feedback["step_shapes"].value
    fill_in(form, {"step_shapes": "a"})
    assert form.save() is None and path.read_bytes() == before
    assert form.check("step_shapes").earned == 0 and form.feedback["step_shapes"].value == shown
    # Re-running the cell gives a fresh form, but a second submission under the same name is refused.
    again = QuizForm(quiz, save_dir=tmp_path, name="ada")
    fill_in(again, {"step_shapes": "a"})
    assert again.save() is None and path.read_bytes() == before
    assert "Not submitted: answers under this name were already submitted" in again.status.value
    assert not again.inputs["step_shapes"].disabled and again.feedback["step_shapes"].value == ""


def test_feedback_argument_overrides_the_environment_and_bad_values_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv(FEEDBACK_ENV, "after_submit")
    assert QuizForm(load_quiz("01"), save_dir=tmp_path, feedback="immediate").mode == "immediate"
    monkeypatch.setenv(FEEDBACK_ENV, "later")
    with pytest.raises(CourseError, match=f"{FEEDBACK_ENV}='later' is not a quiz feedback mode; "
                                          "use one of: immediate, after_submit"):
        QuizForm(load_quiz("01"), save_dir=tmp_path)
    with pytest.raises(CourseError, match="feedback='never' is not a quiz feedback mode"):
        show_quiz("01", save_dir=tmp_path, feedback="never")


def test_show_quiz_in_after_submit_mode_runs_headless(tmp_path, capsys):
    show_quiz("01", save_dir=tmp_path, feedback="after_submit")
    assert "VBox" in capsys.readouterr().out
