"""Taking a quiz in the terminal with scripted input: feedback, re-asking, saving, and EOF."""
from __future__ import annotations

import io
import json

import pytest

from seq2bert.cli import main
from seq2bert.quiz import grade_files, load_quiz, take_quiz
from seq2bert.quiz.scoring import FEEDBACK_ENV

QUIZ = load_quiz("01")


@pytest.fixture(autouse=True)
def default_feedback(monkeypatch):
    """Tests choose the feedback mode themselves, whatever the environment says."""
    monkeypatch.delenv(FEEDBACK_ENV, raising=False)


def scripted(replies):
    """An input() replacement that replays `replies` and then raises EOFError."""
    queue = list(replies)
    prompts = []

    def ask(prompt=""):
        prompts.append(prompt)
        if not queue:
            raise EOFError
        return queue.pop(0)

    ask.prompts = prompts
    return ask


def right_reply(question):
    if question.type == "multiple":
        return ", ".join(question.answer)
    if question.type == "short":
        return question.accept[0].text
    return f"{question.answer:g}" if question.type == "numeric" else question.answer


def test_full_run_with_reasks_saves_a_gradable_response(tmp_path):
    replies = []
    for question in QUIZ.questions:
        if question.type == "numeric":
            replies += ["about ten", "1,5"]  # unparseable twice, then the answer
        if question.type == "single":
            replies.append("z")  # not a choice
        replies.append(right_reply(question))
    lines = []
    path = take_quiz(QUIZ, name="Ada", out_dir=tmp_path, ask=scripted(replies), say=lines.append)
    text = "\n".join(lines)
    assert path == tmp_path / "01_ada.json"
    numeric = sum(question.type == "numeric" for question in QUIZ.questions)
    assert numeric >= 1 and text.count("? type a number, e.g. 42") == numeric  # once per numeric question
    assert text.count("? type a plain number: use a dot for decimals") == numeric
    assert "? type one of: a, b, c, d" in text
    assert text.count("Correct.") == len(QUIZ.questions)
    assert QUIZ.question("gru_param_count").explanation[:40] in " ".join(text.split())
    assert f"Score: {QUIZ.max_score:g} / {QUIZ.max_score:g}" in text
    grade = grade_files([path]).grades[0]
    assert grade.error == "" and grade.score == QUIZ.max_score


def test_wrong_answers_show_the_answer_and_skip_is_unanswered(tmp_path):
    replies = []
    for question in QUIZ.questions:
        if question.id == "final_state_shape":
            replies.append("a")
        elif question.id == "loss_with_padding":
            replies.append("a, b")
        else:
            replies.append("skip")
    lines = []
    path = take_quiz(QUIZ, name="Bo", out_dir=tmp_path, ask=scripted(replies), say=lines.append)
    text = "\n".join(lines)
    shape = QUIZ.question("final_state_shape")
    assert shape.answer != "a"
    right = shape.choices[shape.choice_ids.index(shape.answer)].text
    assert f"Not quite. The answer is: {shape.answer}) {right}" in text
    assert "Partly right (0.667 of 1 point)" in text
    assert text.count("Skipped (0 points).") == len(QUIZ.questions) - 2
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["answers"] == {"final_state_shape": "a", "loss_with_padding": ["a", "b"]}
    assert grade_files([path]).grades[0].score == pytest.approx(2 / 3, abs=1e-6)


def test_eof_midway_saves_nothing(tmp_path):
    lines = []
    path = take_quiz(QUIZ, name="Cy", out_dir=tmp_path / "out", ask=scripted(["b", "a"]), say=lines.append)
    assert path is None
    assert "nothing was saved" in lines[-1]
    assert not (tmp_path / "out").exists()


def test_name_is_asked_until_usable(tmp_path):
    ask = scripted(["   ", "Dee"] + [right_reply(q) for q in QUIZ.questions])
    lines = []
    path = take_quiz(QUIZ, out_dir=tmp_path, ask=ask, say=lines.append)
    assert ask.prompts[:2] == ["Your name: ", "Your name: "]
    assert any("the student name is empty" in line for line in lines)
    assert json.loads(path.read_text(encoding="utf-8"))["student"] == "Dee"


def test_retaking_replaces_the_file_and_says_so(tmp_path):
    for attempt in range(2):
        lines = []
        take_quiz(QUIZ, name="Eve", out_dir=tmp_path, ask=scripted([right_reply(q) for q in QUIZ.questions]),
                  say=lines.append)
    assert "Replaced your earlier answers in" in lines[-1]
    assert [p.name for p in tmp_path.iterdir()] == ["01_eve.json"]


def test_cli_take_reads_stdin_and_exits_cleanly_on_eof(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("b\na\n"))
    assert main(["quiz", "take", "01", "--name", "Fay", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "nothing was saved" in out and "Traceback" not in out
    assert list(tmp_path.iterdir()) == []
    answers = "\n".join(str(right_reply(q)) for q in QUIZ.questions) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(answers))
    assert main(["quiz", "take", "1", "--name", "Fay", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "01_fay.json").is_file()


def test_cli_take_rejects_unknown_unit_and_bad_out(tmp_path, capsys):
    assert main(["quiz", "take", "7"]) == 2
    assert "there is no unit '7'; the units are: 01" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["quiz", "take", "01", "--name", "G", "--out", str(blocker)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_cli_take_with_an_uncreatable_out_folder_fails_before_the_questions(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    answers = "\n".join(str(right_reply(q)) for q in QUIZ.questions) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(answers))
    assert main(["quiz", "take", "01", "--name", "G", "--out", str(blocker / "answers")]) == 2
    captured = capsys.readouterr()
    assert str(blocker / "answers") in captured.err and "Question 1/" not in captured.out
    assert blocker.read_text() == "x"


def test_after_submit_mode_explains_after_saving_and_refuses_a_second_submission(tmp_path, monkeypatch):
    monkeypatch.setenv(FEEDBACK_ENV, "after_submit")
    first = QUIZ.questions[0]
    replies = ["skip" if q is first else right_reply(q) for q in QUIZ.questions]
    lines = []
    path = take_quiz(QUIZ, name="Ada", out_dir=tmp_path, ask=scripted(replies), say=lines.append)
    saved_at = next(i for i, line in enumerate(lines) if line.startswith("Saved your answers to"))
    before, after = "\n".join(lines[:saved_at]), "\n".join(lines[saved_at:])
    assert "Correct." not in before and "Why:" not in before and "Skipped" not in before
    assert after.count("Correct.") == len(QUIZ.questions) - 1 and after.count("Why:") == len(QUIZ.questions)
    assert "Question 1:\n  Skipped (0 points)." in after
    assert lines[-1] == f"Score: {QUIZ.max_score - first.points:g} / {QUIZ.max_score:g}"
    assert grade_files([path]).grades[0].score == QUIZ.max_score - first.points
    saved = path.read_bytes()
    again = scripted([right_reply(q) for q in QUIZ.questions])
    lines = []
    assert take_quiz(QUIZ, name="ada", out_dir=tmp_path, ask=again, say=lines.append) is None
    assert lines[-1] == f"You already submitted this quiz ({path}); a submission is final."
    assert again.prompts == [] and path.read_bytes() == saved
