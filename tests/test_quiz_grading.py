"""Batch grading: per-file errors, the CSV, exit codes, and response files left untouched."""
from __future__ import annotations

import csv
import io
import json

import pytest

from seq2bert.cli import main
from seq2bert.quiz import grade_files, grades_csv, load_quiz
from seq2bert.quiz.responses import MAX_RESPONSE_BYTES, ResponseError, make_response, read_response, save_response

QUIZ = load_quiz("02")
RIGHT = {q.id: list(q.answer) if q.type == "multiple" else q.accept[0].text if q.type == "short" else q.answer
         for q in QUIZ.questions}


def envelope(answers, quiz="02", student="ada"):
    return {"quiz": quiz, "student": student, "answers": answers, "submitted": "2025-01-31T10:00:00+00:00"}


def write(folder, name, content):
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else
                     (content if isinstance(content, str) else json.dumps(content)).encode("utf-8"))
    return path


@pytest.fixture
def batch_folder(tmp_path):
    folder = tmp_path / "responses"
    folder.mkdir()
    write(folder, "01_full.json", envelope(RIGHT, student="full marks"))
    write(folder, "02_partial.json", envelope({"step_shapes": "b", "masking_rules": ["a"], "attention_params": 16448},
                                              student="=HYPERLINK(1)"))
    write(folder, "03_empty.json", b"")
    write(folder, "04_blank.json", "  \n ")
    write(folder, "05_malformed.json", '{"quiz": "02", "student": ')
    write(folder, "06_oversized.json", b" " * (MAX_RESPONSE_BYTES + 1))
    write(folder, "07_wrong_quiz.json", envelope({}, quiz="01"))
    write(folder, "08_unknown_ids.json", envelope({"step_shapes": "a", "made_up": 1}))
    write(folder, "09_wrong_types.json", envelope({"attention_params": "16448", "masking_rules": "a"}))
    write(folder, "10_not_object.json", "[1, 2]")
    write(folder, "11_nan.json", '{"quiz": "02", "student": "x", "answers": {"attention_params": NaN}, '
                                 '"submitted": "2025-01-31T10:00:00"}')
    write(folder, "12_missing_fields.json", {"quiz": "02", "answers": {}})
    write(folder, "13_bad_unit.json", envelope({}, quiz="99"))
    write(folder, "14_latin1.json", '{"student": "J\xf6rg"}'.encode("latin-1"))
    write(folder, "15_deep.json", "[" * 100_000 + "]" * 100_000)
    write(folder, "16_bad_time.json", {**envelope({}), "submitted": "yesterday"})
    write(folder, "notes.txt", "not a response")
    return folder


EXPECTED_ERRORS = {
    "03_empty.json": "file is empty",
    "04_blank.json": "file is empty",
    "05_malformed.json": "malformed JSON (line 1, column",
    "06_oversized.json": f"file is larger than {MAX_RESPONSE_BYTES} bytes",
    "07_wrong_quiz.json": "wrong quiz: this file answers quiz 01, but quiz 02 is being graded",
    "08_unknown_ids.json": "unknown question id(s) for quiz 02: 'made_up'",
    "09_wrong_types.json": "question 'attention_params': expected a number, got text",
    "10_not_object.json": "expected a JSON object",
    "11_nan.json": "NaN is not allowed",
    "12_missing_fields.json": "missing field(s): student, submitted",
    "13_bad_unit.json": "unknown quiz '99'",
    "14_latin1.json": "file is not UTF-8 text",
    "15_deep.json": "malformed JSON (nested too deeply)",
    "16_bad_time.json": "field 'submitted' is not an ISO timestamp",
}


def test_every_bad_file_gets_its_own_error_and_the_batch_continues(batch_folder):
    paths = sorted(batch_folder.glob("*.json"))
    batch = grade_files(paths, quiz="02")
    by_name = {grade.file.rsplit("/", 1)[-1]: grade for grade in batch.grades}
    assert set(by_name) == {p.name for p in paths}
    for name, message in EXPECTED_ERRORS.items():
        assert message in by_name[name].error, (name, by_name[name].error)
        assert by_name[name].score is None and by_name[name].points == {}
    full, partial = by_name["01_full.json"], by_name["02_partial.json"]
    assert full.error == "" and full.score == full.max_score == QUIZ.max_score == sum(q.points for q in QUIZ.questions)
    # step_shapes wrong (0), masking_rules {a} of {a, c} (0.5), attention_params right (1)
    assert partial.score == 1.5 and partial.points["masking_rules"] == 0.5 and partial.points["step_shapes"] == 0
    assert "wrong answer types" not in by_name["09_wrong_types.json"].error
    assert "question 'masking_rules': expected a list of choice ids" in by_name["09_wrong_types.json"].error
    assert batch.graded_count == 2 and batch.error_count == len(EXPECTED_ERRORS)


def test_csv_has_one_row_per_file_and_one_column_per_question(batch_folder):
    batch = grade_files(sorted(batch_folder.glob("*.json")), quiz="02")
    rows = list(csv.reader(io.StringIO(grades_csv(batch))))
    header = rows[0]
    assert header == ["file", "student", "quiz", "score", "max_score", *QUIZ.ids, "error"]
    assert len(rows) == 1 + len(batch.grades)
    table = {row[0].rsplit("/", 1)[-1]: dict(zip(header, row)) for row in rows[1:]}
    assert table["02_partial.json"]["score"] == "1.5" and table["02_partial.json"]["masking_rules"] == "0.5"
    assert table["02_partial.json"]["student"] == "'=HYPERLINK(1)"  # no formula injection
    assert table["01_full.json"]["score"] == table["01_full.json"]["max_score"] == f"{QUIZ.max_score:g}"
    assert table["03_empty.json"]["score"] == "" and table["03_empty.json"]["error"] == "file is empty"


def test_mixed_quizzes_get_prefixed_columns(tmp_path):
    write(tmp_path, "a.json", envelope({"step_shapes": "a"}))
    write(tmp_path, "b.json", envelope({"gru_param_count": 18816}, quiz="01"))
    batch = grade_files(sorted(tmp_path.glob("*.json")))
    header = grades_csv(batch).splitlines()[0].split(",")
    assert "01:gru_param_count" in header and "02:step_shapes" in header
    assert [g.score for g in batch.grades] == [1, 1]


def test_grade_cli_writes_csv_exit_zero_and_never_touches_responses(batch_folder, tmp_path, capsys):
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in batch_folder.iterdir()}
    out_csv = tmp_path / "grades.csv"
    assert main(["quiz", "grade", str(batch_folder), "--csv", str(out_csv), "--quiz", "02"]) == 0
    printed = capsys.readouterr().out
    assert f"graded 2 of {2 + len(EXPECTED_ERRORS)} file(s); {len(EXPECTED_ERRORS)} had errors" in printed
    assert "file is empty" in printed and "=HYPERLINK" in printed
    assert out_csv.read_text(encoding="utf-8").startswith("file,student,quiz,score,max_score,")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in batch_folder.iterdir()}
    assert after == before
    # Refuses to write the CSV over a response file, and leaves that file alone.
    target = batch_folder / "01_full.json"
    assert main(["quiz", "grade", str(batch_folder), "--csv", str(target)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert target.read_bytes() == before["01_full.json"][0]


def test_grade_cli_exit_codes_when_nothing_can_be_graded(tmp_path, capsys):
    empty = write(tmp_path, "empty.json", b"")
    assert main(["quiz", "grade", str(empty)]) == 1
    assert "nothing could be graded" in capsys.readouterr().err
    assert main(["quiz", "grade", str(tmp_path / "absent")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    folder = tmp_path / "none"
    folder.mkdir()
    assert main(["quiz", "grade", str(folder)]) == 2
    assert "no response files (*.json)" in capsys.readouterr().err
    assert main(["quiz", "grade", str(empty), "--quiz", "9"]) == 2
    assert "there is no unit '9'" in capsys.readouterr().err


def test_saved_response_round_trips_and_is_written_atomically(tmp_path):
    response = make_response(QUIZ, "Ada Lovelace", {"masking_rules": ["a", "c"], "step_shapes": "a"})
    assert list(response["answers"]) == ["step_shapes", "masking_rules"]  # quiz order
    path = save_response(response, tmp_path / "out")
    assert path.name == "02_ada_lovelace.json"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert read_response(path)["answers"] == response["answers"]
    assert grade_files([path]).grades[0].score == 2


@pytest.mark.parametrize("where, error", [("fsync", KeyboardInterrupt()), ("replace", OSError(28, "No space left"))])
def test_interrupted_save_keeps_the_earlier_response_and_no_partial_file(tmp_path, monkeypatch, where, error):
    from seq2bert import files

    earlier = save_response(make_response(QUIZ, "Ada", {"step_shapes": "a"}), tmp_path)
    before = earlier.read_bytes()

    def fail(*args):
        raise error

    monkeypatch.setattr(files.os, where, fail)
    with pytest.raises(type(error)):
        save_response(make_response(QUIZ, "Ada", {"step_shapes": "b"}), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [earlier.name] and earlier.read_bytes() == before


def test_read_response_rejects_wrong_student_field(tmp_path):
    path = write(tmp_path, "x.json", {**envelope({}), "student": "  "})
    with pytest.raises(ResponseError, match="field 'student': the student name is empty"):
        read_response(path)


def test_grade_cli_unwritable_csv_is_a_one_line_error(batch_folder, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["quiz", "grade", str(batch_folder), "--csv", str(blocker / "grades.csv")]) == 2
    assert "grades.csv" in capsys.readouterr().err
    assert blocker.read_text() == "x"
