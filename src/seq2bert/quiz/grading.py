"""Grading a batch of response files into a CSV: one row per file, one error column.

A file with any problem (unreadable, oversized, malformed JSON, wrong quiz, unknown question
ids, wrongly typed answers) gets no score and a one-line reason; the batch carries on.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from seq2bert.files import spreadsheet_safe as _cell
from seq2bert.quiz.key import key_unit, load_key
from seq2bert.quiz.model import Quiz, load_quiz
from seq2bert.quiz.responses import ResponseError, check_answers, read_response, write_atomic
from seq2bert.quiz.scoring import score_answer
from seq2bert.units import CourseError, get_unit


@dataclass(frozen=True)
class FileGrade:
    """The grade of one response file (score is None when the file has an error)."""

    file: str  # the path as given on the command line
    student: str = ""  # from the file, when it could be read
    quiz: str = ""  # unit number, when known
    score: float | None = None  # points earned; None on error
    max_score: float | None = None  # the quiz's total points, when the quiz is known
    points: dict[str, float] = field(default_factory=dict)  # question id -> points earned
    error: str = ""  # one line; empty when graded

    @property
    def graded(self) -> bool:
        return self.score is not None


@dataclass(frozen=True)
class GradeBatch:
    """Every file's grade and the quizzes they were graded against."""

    grades: tuple[FileGrade, ...]  # in input order
    quizzes: dict[str, Quiz]  # unit number -> quiz (with the key applied)

    @property
    def graded_count(self) -> int:
        return sum(grade.graded for grade in self.grades)

    @property
    def error_count(self) -> int:
        return len(self.grades) - self.graded_count


def collect_response_paths(inputs: list[str | Path]) -> list[Path]:
    """The response files named by `inputs`: files as given, folders -> their *.json (sorted)."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            # Symlinks and other odd entries are listed too, so that each gets its own error row.
            found = sorted(p for p in path.glob("*.json") if p.is_symlink() or not p.is_dir())
            if not found:
                raise CourseError(f"{path}: no response files (*.json) in this folder")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise CourseError(f"{path}: no such file or folder")
    unique: list[Path] = []
    seen = set()
    for path in paths:
        real = os.path.realpath(path)  # unlike Path.resolve(), no error for a symlink loop
        if real not in seen:
            seen.add(real)
            unique.append(path)
    return unique


def grade_one(path: Path, quiz_for, expected_unit: str | None) -> FileGrade:
    """Grade one file; `quiz_for(unit)` returns the Quiz (or raises CourseError)."""
    shown = str(path)
    try:
        data = read_response(path)
    except ResponseError as error:
        return FileGrade(file=shown, error=str(error))
    student, unit = data["student"], data["quiz"]
    if expected_unit is not None and unit != expected_unit:
        return FileGrade(file=shown, student=student, quiz=unit,
                         error=f"wrong quiz: this file answers quiz {unit}, but quiz {expected_unit} is being graded")
    try:
        quiz = quiz_for(unit)
    except CourseError as error:
        first_line = str(error).splitlines()[0]
        return FileGrade(file=shown, student=student, quiz=unit,
                         error=f"quiz {unit} cannot be loaded ({first_line}); run: seq2bert quiz validate")
    problems = check_answers(quiz, data["answers"])
    if problems:
        return FileGrade(file=shown, student=student, quiz=unit, max_score=quiz.max_score, error="; ".join(problems))
    points = {q.id: score_answer(q, data["answers"].get(q.id)) for q in quiz.questions}
    return FileGrade(file=shown, student=student, quiz=unit, score=round(sum(points.values()), 6),
                     max_score=quiz.max_score, points=points)


def _grade_or_report(path: Path, quiz_for, expected_unit: str | None) -> FileGrade:
    """grade_one, but a bug met on one file becomes that file's error, not the end of the batch."""
    try:
        return grade_one(path, quiz_for, expected_unit)
    except Exception as error:  # every other file still deserves its grade
        detail = " ".join(str(error).split())[:120]
        return FileGrade(file=str(path), error=f"internal error while grading this file "
                                               f"({type(error).__name__}: {detail}); please report it")


def grade_files(paths: list[Path], quiz: str | None = None, key: str | Path | None = None) -> GradeBatch:
    """Grade every file; `quiz` restricts the batch to one unit, `key` replaces its answers."""
    expected = get_unit(quiz).number if quiz is not None else None
    keyed: dict[str, Quiz] = {}
    if key is not None:
        unit = key_unit(key)
        if expected is not None and unit != expected:
            raise CourseError(f"{key}: this key is for quiz {unit}, but --quiz {expected} was given")
        expected = unit
        keyed[unit] = load_key(load_quiz(unit), key)
    loaded: dict[str, Quiz] = dict(keyed)  # only quizzes that loaded; they give the CSV columns
    failed: dict[str, CourseError] = {}

    def quiz_for(unit: str) -> Quiz:
        if unit in failed:
            raise failed[unit]
        if unit not in loaded:
            try:
                loaded[unit] = load_quiz(unit)
            except CourseError as error:
                failed[unit] = error
                raise
        return loaded[unit]

    grades = tuple(_grade_or_report(Path(path), quiz_for, expected) for path in paths)
    return GradeBatch(grades=grades, quizzes=dict(sorted(loaded.items())))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def grade_columns(batch: GradeBatch) -> list[tuple[str, str, str]]:
    """(column name, unit, question id) of every per-question column, quiz by quiz."""
    prefix = len(batch.quizzes) > 1
    return [(f"{unit}:{q.id}" if prefix else q.id, unit, q.id)
            for unit, quiz in batch.quizzes.items() for q in quiz.questions]


def grades_csv(batch: GradeBatch) -> str:
    """The grade table as CSV text."""
    columns = grade_columns(batch)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "student", "quiz", "score", "max_score", *[c[0] for c in columns], "error"])
    for grade in batch.grades:
        per_question = [_number(grade.points.get(qid)) if grade.quiz == unit and grade.graded else ""
                        for _, unit, qid in columns]
        writer.writerow([_cell(grade.file), _cell(grade.student), grade.quiz, _number(grade.score),
                         _number(grade.max_score), *per_question, _cell(grade.error)])
    return buffer.getvalue()


def write_grades_csv(batch: GradeBatch, path: str | Path, protected: list[Path] = ()) -> Path:
    """Write the CSV atomically, refusing to replace any of the `protected` (response) files."""
    path = Path(path)
    if path.is_dir():
        raise CourseError(f"--csv {path}: is a folder; give a file name such as grades.csv")
    if any(path.resolve() == Path(p).resolve() for p in protected):
        raise CourseError(f"--csv {path}: that is one of the response files; refusing to overwrite it")
    try:
        return write_atomic(path, grades_csv(batch))
    except OSError as error:
        raise CourseError(f"--csv {path}: cannot write it ({error.strerror})")


def _printable(text: str, width: int, keep_end: bool = False) -> str:
    clean = "".join(char if char.isprintable() else "?" for char in text)
    if len(clean) <= width:
        return clean
    return "…" + clean[1 - width:] if keep_end else clean[: width - 1] + "…"


def summary_table(batch: GradeBatch) -> str:
    """A plain-text table: one line per file with score or error."""
    rows = [("file", "student", "quiz", "score", "error")]
    for grade in batch.grades:
        score = f"{_number(grade.score)}/{_number(grade.max_score)}" if grade.graded else "-"
        rows.append((_printable(grade.file, 40, keep_end=True), _printable(grade.student, 24) or "-",
                     grade.quiz or "-", score, _printable(grade.error, 100)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows]
    return "\n".join(line.rstrip() for line in lines)
