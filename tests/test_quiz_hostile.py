"""Hostile quiz responses: every JSON value becomes a grade or a one-line per-file error."""
from __future__ import annotations

import csv
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seq2bert.cli import main
from seq2bert.quiz import grade_files, grades_csv, load_quiz
from seq2bert.quiz import grading
from seq2bert.quiz.grading import grade_one, summary_table, write_grades_csv
from seq2bert.quiz.model import QuizFormatError, load_quiz_file
from seq2bert.quiz.responses import MAX_INTEGER_DIGITS

QUIZ = load_quiz("02")
SUBMITTED = "2025-01-31T10:00:00+00:00"
GOOD = {"quiz": "02", "student": "ada", "answers": {"step_shapes": "a", "attention_params": 16448},
        "submitted": SUBMITTED}


def write(folder, name, content):
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else
                     (content if isinstance(content, str) else json.dumps(content)).encode("utf-8"))
    return path


def raw_response(answers_json: str, student_json: str = '"ada"') -> str:
    """A response whose answers object is given as JSON text (for values json.dumps cannot write)."""
    return f'{{"quiz": "02", "student": {student_json}, "answers": {answers_json}, "submitted": "{SUBMITTED}"}}'


def graded(paths):
    """Grade a batch; return {file name: FileGrade} and the summary table's line per file name."""
    batch = grade_files(paths)
    lines = summary_table(batch).splitlines()[1:]
    by_name = {os.path.basename(g.file): g for g in batch.grades}
    return by_name, {name: next(line for line in lines if name in line) for name in by_name}


def assert_refused(path, message, exact=True):
    """`path` gets no score and `message` as its error, on the summary line that names it."""
    by_name, lines = graded([path])
    grade = by_name[path.name]
    assert grade.score is None and grade.points == {}
    assert (grade.error == message) if exact else (message in grade.error), grade.error
    assert path.name in lines[path.name] and message in lines[path.name]


# --- the named cases ------------------------------------------------------------------------------

def test_400_digit_integer_is_an_error_for_that_file_and_the_batch_goes_on(tmp_path, capsys):
    huge = write(tmp_path, "huge.json", raw_response('{"step_shapes": "a", "attention_params": ' + "9" * 400 + "}"))
    negative = write(tmp_path, "negative.json", raw_response('{"attention_params": -' + "1" * 400 + "}"))
    good = write(tmp_path, "good.json", GOOD)
    message = "question 'attention_params': the integer is too large for a numeric answer (more than 308 digits)"
    assert_refused(huge, message)
    assert_refused(negative, message)
    by_name, _ = graded([huge, good])
    assert by_name["good.json"].score == 2 and by_name["good.json"].error == ""
    assert main(["quiz", "grade", str(tmp_path), "--csv", str(tmp_path / "grades.csv")]) == 0
    printed = capsys.readouterr()
    assert "graded 1 of 3 file(s); 2 had errors" in printed.out and "Traceback" not in printed.err
    with open(tmp_path / "grades.csv", encoding="utf-8", newline="") as stream:
        rows = {row["file"]: row for row in csv.DictReader(stream)}
    assert rows[str(huge)]["error"] == message and rows[str(huge)]["score"] == ""
    assert rows[str(good)]["score"] == "2"


def test_integer_longer_than_the_reading_limit_is_refused_before_conversion(tmp_path):
    digits = MAX_INTEGER_DIGITS + 1
    path = write(tmp_path, "long.json", raw_response('{"attention_params": ' + "7" * digits + "}"))
    assert_refused(path, f"holds an integer with {digits} digits (at most {MAX_INTEGER_DIGITS} are read)")
    path = write(tmp_path, "long_name.json", raw_response("{}", student_json="1" * 10_000))
    assert_refused(path, f"holds an integer with 10000 digits (at most {MAX_INTEGER_DIGITS} are read)")


def test_huge_floats(tmp_path):
    beyond = write(tmp_path, "beyond.json", raw_response('{"attention_params": 1e400}'))
    assert_refused(beyond, "question 'attention_params': the number is too large for a numeric answer "
                           "(beyond ±1.8e308)")
    for literal in ("Infinity", "-Infinity", "NaN"):
        path = write(tmp_path, "constant.json", raw_response('{"attention_params": ' + literal + "}"))
        assert_refused(path, f"malformed JSON ({literal} is not allowed in a response)")
    # The largest floats are numbers like any other: graded, and wrong.
    largest = write(tmp_path, "largest.json", raw_response('{"attention_params": 1e308, "step_shapes": "a"}'))
    by_name, _ = graded([largest])
    assert by_name["largest.json"].score == 1 and by_name["largest.json"].points["attention_params"] == 0


@pytest.mark.parametrize("where", ["whole file", "answer"])
def test_nesting_depth_10_to_the_5(tmp_path, where):
    deep = "[" * 100_000 + "]" * 100_000
    content = deep if where == "whole file" else raw_response('{"masking_rules": ' + deep + "}")
    path = write(tmp_path, "deep.json", content)
    assert_refused(path, "malformed JSON (nested too deeply)")


def test_moderate_nesting_in_an_answer_is_a_wrong_type(tmp_path):
    path = write(tmp_path, "nested.json", raw_response('{"masking_rules": ' + "[" * 50 + "]" * 50 + "}"))
    assert_refused(path, "question 'masking_rules': expected a list of choice ids (text), got a list holding a list")


def test_symlink_out_of_the_folder_is_refused_and_not_read(tmp_path, capsys):
    folder = tmp_path / "responses"
    folder.mkdir()
    outside = write(tmp_path, "outside.json", GOOD)  # gradable, so a followed link would score
    link = folder / "escape.json"
    link.symlink_to(outside)
    write(folder, "good.json", GOOD)
    assert_refused(link, "symbolic link out of its folder, not followed", exact=False)
    assert link.name in graded([link])[0][link.name].file
    assert graded([link])[0][link.name].error.endswith(f"(it points to {outside})")
    assert main(["quiz", "grade", str(folder)]) == 0  # found in a folder: reported, not skipped
    out = capsys.readouterr().out
    assert "escape.json" in out and "not followed" in out and "graded 1 of 2 file(s); 1 had errors" in out
    (folder / "sub").mkdir()
    up = folder / "sub" / "up.json"
    up.symlink_to(folder / "good.json")  # its target is outside the folder holding the link
    assert_refused(up, "symbolic link out of its folder, not followed", exact=False)


def test_symlink_within_its_folder_is_followed_and_odd_entries_get_their_own_row(tmp_path):
    write(tmp_path, "real.json", GOOD)
    sibling = tmp_path / "alias.json"
    sibling.symlink_to(tmp_path / "real.json")
    by_name, _ = graded([sibling])
    assert by_name["alias.json"].score == 2
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "absent.json")
    assert_refused(dangling, "cannot read the file (No such file or directory)")
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    assert_refused(loop, "cannot read the file (Too many levels of symbolic links)")
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # opening it must not wait for a writer
    assert_refused(fifo, "is not a regular file")
    found = grading.collect_response_paths([tmp_path])
    assert {p.name for p in found} == {"alias.json", "dangling.json", "loop.json", "pipe.json"}  # real: same file


def test_duplicate_keys_are_ambiguous_and_refused(tmp_path):
    twice = write(tmp_path, "twice.json", '{"quiz": "02", "student": "ada", "student": "bob", "answers": {}, '
                                          f'"submitted": "{SUBMITTED}"}}')
    assert_refused(twice, "malformed JSON (key 'student' appears twice in one object)")
    answer_twice = write(tmp_path, "answer_twice.json", raw_response('{"step_shapes": "b", "step_shapes": "a"}'))
    assert_refused(answer_twice, "malformed JSON (key 'step_shapes' appears twice in one object)")


def test_encodings(tmp_path):
    bom = write(tmp_path, "bom.json", b"\xef\xbb\xbf" + json.dumps(GOOD).encode("utf-8"))
    by_name, _ = graded([bom])
    assert by_name["bom.json"].score == 2
    latin1 = write(tmp_path, "latin1.json", raw_response("{}", student_json='"J\xf6rg"').encode("latin-1"))
    assert_refused(latin1, "file is not UTF-8 text (byte 28)")
    utf16 = write(tmp_path, "utf16.json", json.dumps(GOOD).encode("utf-16"))
    assert_refused(utf16, "file is not UTF-8 text (byte 0)")


def test_huge_file_is_not_read(tmp_path):
    padding = " " * 1_000_000
    path = write(tmp_path, "big.json", json.dumps(GOOD)[:-1] + padding + "}")
    assert_refused(path, "file is larger than 1000000 bytes; not read")


@pytest.mark.parametrize("field, value, message", [
    ("quiz", 2, "field 'quiz' must be text such as \"02\", not a number"),
    ("quiz", None, "field 'quiz' must be text such as \"02\", not null"),
    ("quiz", "²", "unknown quiz '²'"),
    ("quiz", "0２", "unknown quiz '0２'"),
    ("student", {"name": "ada"}, "field 'student': the student name must be text, not an object"),
    ("student", "ada\u0000", "field 'student': the student name contains control characters"),
    ("student", "\ud800", "field 'student': the student name contains control characters"),
    ("answers", ["a"], "field 'answers' must be an object mapping question ids to answers, not a list"),
    ("answers", True, "field 'answers' must be an object mapping question ids to answers, not true"),
    ("submitted", 20250131, "field 'submitted' must be an ISO timestamp string, not a number"),
    ("submitted", "\ud800", "field 'submitted' is not an ISO timestamp: '\\ud800'"),
])
def test_wrong_types_in_the_envelope(tmp_path, field, value, message):
    assert_refused(write(tmp_path, "r.json", {**GOOD, field: value}), message)


@pytest.mark.parametrize("question, value, message", [
    ("step_shapes", {"a": 1}, "expected one choice id (text), got an object"),
    ("step_shapes", ["a"], "expected one choice id (text), got a list"),
    ("step_shapes", False, "expected one choice id (text), got false"),
    ("masking_rules", "a, c", "expected a list of choice ids (text), got text"),
    ("masking_rules", [None], "expected a list of choice ids (text), got a list holding null"),
    ("masking_rules", [{"a": 1}], "expected a list of choice ids (text), got a list holding an object"),
    ("attention_params", True, "expected a number, got true"),
    ("attention_params", [16448], "expected a number, got a list"),
    ("attention_params", {"value": 16448}, "expected a number, got an object"),
    ("decoder_input_width", 3, "expected text, got a number"),
    ("decoder_input_width", ["E + H"], "expected text, got a list"),
])
def test_wrong_types_in_answers(tmp_path, question, value, message):
    path = write(tmp_path, "r.json", {**GOOD, "answers": {question: value}})
    assert_refused(path, f"question {question!r}: {message}")


def test_null_answer_means_unanswered(tmp_path):
    by_name, _ = graded([write(tmp_path, "r.json", {**GOOD, "answers": {"step_shapes": None}})])
    assert by_name["r.json"].score == 0 and by_name["r.json"].error == ""


def test_an_unexpected_bug_costs_only_that_files_grade(tmp_path, monkeypatch):
    first, second = write(tmp_path, "a.json", GOOD), write(tmp_path, "b.json", GOOD)
    calls = []

    def flaky(question, value):
        calls.append(question.id)
        if len(calls) == 1:
            raise ZeroDivisionError("division by zero")
        return question.points

    monkeypatch.setattr(grading, "score_answer", flaky)
    by_name, lines = graded([first, second])
    assert by_name["a.json"].error == ("internal error while grading this file "
                                       "(ZeroDivisionError: division by zero); please report it")
    assert by_name["b.json"].graded and "please report it" in lines["a.json"]


def test_csv_survives_a_file_name_that_is_not_utf8(tmp_path):
    name = os.fsdecode(b"\xff=1.json")
    path = write(tmp_path, name, GOOD)
    batch = grade_files([path])
    assert batch.grades[0].score == 2
    out = write_grades_csv(batch, tmp_path / "grades.csv")
    assert "\\udcff=1.json" in out.read_text(encoding="utf-8")


def test_quiz_file_with_a_huge_number_is_a_format_problem_not_a_crash(tmp_path):
    with open(QUIZ.source, encoding="utf-8") as stream:
        source = stream.read()
    broken = write(tmp_path, "02.yml", source.replace("answer: 16448", "answer: " + "9" * 400))
    with pytest.raises(QuizFormatError, match="question 'attention_params': field 'answer': must be a finite "
                                              "number, not 9999"):
        load_quiz_file(broken)


# --- property: arbitrary JSON ---------------------------------------------------------------------

LEAVES = (st.none() | st.booleans() | st.integers() | st.integers(-10**400, 10**400)  # also beyond float range
          | st.floats(allow_nan=True, allow_infinity=True) | st.text())
JSON_VALUES = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
PLACES = ["whole file", "quiz", "student", "answers", "submitted", *(f"answers.{qid}" for qid in QUIZ.ids)]


def place(value, where):
    if where == "whole file":
        return value
    if where.startswith("answers."):
        return {**GOOD, "answers": {**GOOD["answers"], where.split(".", 1)[1]: value}}
    return {**GOOD, where: value}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("hypothesis")


def assert_grade_or_error(path):
    quizzes = {}
    grade = grade_one(path, lambda unit: quizzes.setdefault(unit, load_quiz(unit)), None)  # no catch-all here
    assert (grade.score is None) == bool(grade.error)
    assert "\n" not in grade.error and "\r" not in grade.error
    if grade.graded:
        assert 0 <= grade.score <= grade.max_score
    return grade


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(LEAVES, JSON_VALUES), where=st.sampled_from(PLACES))  # leaves often: they hit the types
def test_any_json_value_anywhere_gives_a_grade_or_an_error(scratch, value, where):
    path = write(scratch, "r.json", json.dumps(place(value, where)))
    assert_grade_or_error(path)
    grades_csv(grade_files([path]))  # and the CSV can be written


@settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200))
def test_any_bytes_give_a_grade_or_an_error(scratch, content):
    assert not assert_grade_or_error(write(scratch, "r.json", content)).graded
