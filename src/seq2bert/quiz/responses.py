"""Response files: one JSON file per student per quiz, written atomically and read defensively.

A response file is `{"quiz": "02", "student": "name", "answers": {"q_id": value, ...},
"submitted": "2025-01-31T10:00:00+00:00"}`. Reading one never evaluates anything: it is size
-capped, decoded as UTF-8 and parsed with json only; every problem becomes a ResponseError
whose message is one line a grader can show next to the file name.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from seq2bert.files import write_atomic
from seq2bert.quiz.model import Quiz
from seq2bert.quiz.scoring import check_answer_value
from seq2bert.units import CourseError, get_unit

MAX_RESPONSE_BYTES = 1_000_000
MAX_STUDENT_CHARS = 100
DEFAULT_RESPONSE_DIR = "quiz_responses"


class ResponseError(ValueError):
    """A response file cannot be graded; str() says why in one line."""


def student_slug(student: str) -> str:
    """A file-name-safe version of a student's name ("Ada Lovelace" -> "ada_lovelace")."""
    slug = re.sub(r"[^a-z0-9_-]+", "_", student.strip().casefold()).strip("_-")
    return slug[:60] or "student"


def response_filename(unit: str, student: str) -> str:
    """The file name a response is saved under: one file per student per quiz."""
    return f"{get_unit(unit).number}_{student_slug(student)}.json"


def check_student_name(student: Any) -> str:
    """A usable student name (stripped), or CourseError saying what is wrong."""
    if not isinstance(student, str) or not student.strip():
        raise CourseError("the student name is empty")
    if len(student.strip()) > MAX_STUDENT_CHARS:
        raise CourseError(f"the student name is longer than {MAX_STUDENT_CHARS} characters")
    if any(not char.isprintable() for char in student):
        raise CourseError("the student name contains control characters")
    return student.strip()


def make_response(quiz: Quiz, student: str, answers: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The JSON-ready response of `student` to `quiz` (answers in question order)."""
    student = check_student_name(student)
    for question_id, value in answers.items():
        problem = check_answer_value(quiz.question(question_id), value)
        if problem:
            raise CourseError(f"question {question_id!r}: {problem}")
    submitted = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    ordered = {qid: answers[qid] for qid in quiz.ids if qid in answers}
    return {"quiz": quiz.unit, "student": student, "answers": ordered, "submitted": submitted}


def save_response(response: dict[str, Any], out_dir: str | Path | None = None) -> Path:
    """Write a response atomically into `out_dir` (default ./quiz_responses); returns the path."""
    folder = Path(out_dir if out_dir is not None else DEFAULT_RESPONSE_DIR)
    if folder.exists() and not folder.is_dir():
        raise CourseError(f"{folder} exists and is not a folder; choose another --out")
    text = json.dumps(response, ensure_ascii=False, indent=2) + "\n"
    return write_atomic(folder / response_filename(response["quiz"], response["student"]), text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a response")


def read_json_file(path: str | Path, max_bytes: int = MAX_RESPONSE_BYTES) -> Any:
    """Parse a JSON file that nobody vouches for: size-capped, UTF-8, json only."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(max_bytes + 1)
    except OSError as error:
        raise ResponseError(f"cannot read the file ({error.strerror or error})") from None
    if len(raw) > max_bytes:
        raise ResponseError(f"file is larger than {max_bytes} bytes; not read")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ResponseError("file is not UTF-8 text") from None
    if not text.strip():
        raise ResponseError("file is empty")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ResponseError(f"malformed JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except ValueError as error:
        raise ResponseError(f"malformed JSON ({error})") from None
    except RecursionError:
        raise ResponseError("malformed JSON (nested too deeply)") from None


def read_response(path: str | Path) -> dict[str, Any]:
    """Read a response file and check its envelope (quiz, student, answers, submitted)."""
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise ResponseError("expected a JSON object with quiz, student, answers, submitted; "
                            f"got a {type(data).__name__}")
    missing = [field for field in ("quiz", "student", "answers", "submitted") if field not in data]
    if missing:
        raise ResponseError(f"missing field(s): {', '.join(missing)}")
    if not isinstance(data["quiz"], str):
        raise ResponseError("field 'quiz' must be text such as \"02\"")
    try:
        data["quiz"] = get_unit(data["quiz"]).number
    except CourseError:
        raise ResponseError(f"unknown quiz {data['quiz'][:20]!r}") from None
    try:
        data["student"] = check_student_name(data["student"])
    except CourseError as error:
        raise ResponseError(f"field 'student': {error}") from None
    if not isinstance(data["answers"], dict):
        raise ResponseError("field 'answers' must be an object mapping question ids to answers")
    if not isinstance(data["submitted"], str):
        raise ResponseError("field 'submitted' must be an ISO timestamp string")
    try:
        datetime.fromisoformat(data["submitted"])
    except ValueError:
        raise ResponseError(f"field 'submitted' is not an ISO timestamp: {data['submitted'][:40]!r}") from None
    return data


def check_answers(quiz: Quiz, answers: dict[str, Any]) -> list[str]:
    """Problems with a response's answers: unknown question ids and wrongly typed values."""
    problems = []
    unknown = [qid for qid in answers if qid not in quiz.ids]
    if unknown:
        shown = ", ".join(repr(qid[:40]) for qid in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        problems.append(f"unknown question id(s) for quiz {quiz.unit}: {shown}")
    for question in quiz.questions:
        if question.id in answers:
            problem = check_answer_value(question, answers[question.id])
            if problem:
                problems.append(f"question {question.id!r}: {problem}")
    return problems
