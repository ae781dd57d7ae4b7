"""Response files: one JSON file per student per quiz, written atomically and read defensively.

A response file is `{"quiz": "02", "student": "name", "answers": {"q_id": value, ...},
"submitted": "2025-01-31T10:00:00+00:00"}`. Reading one never evaluates anything: it is size
-capped, decoded as UTF-8 and parsed with json only; every problem becomes a ResponseError
whose message is one line a grader can show next to the file name.
"""
from __future__ import annotations

import json
import os
import re
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from seq2bert.files import write_atomic
from seq2bert.quiz.model import Quiz
from seq2bert.quiz.scoring import check_answer_value, json_kind
from seq2bert.units import CourseError, get_unit

MAX_RESPONSE_BYTES = 1_000_000
MAX_STUDENT_CHARS = 100
DEFAULT_RESPONSE_DIR = "quiz_responses"
_UNIT_REFERENCE = re.compile(r"[A-Za-z0-9_]{1,60}")  # "02", "2", "02_bahdanau_attention"


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
    if not isinstance(student, str):
        raise CourseError(f"the student name must be text, not {json_kind(student)}")
    if not student.strip():
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


# Below CPython's smallest allowed int-to-text digit limit (640), so int() never hits that limit.
MAX_INTEGER_DIGITS = 600
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NON_BLOCKING = getattr(os, "O_NONBLOCK", 0)  # a FIFO must not hang the batch


def _reject_constant(name: str) -> Any:
    raise ResponseError(f"malformed JSON ({name} is not allowed in a response)")


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise ResponseError(f"holds an integer with {digits} digits (at most {MAX_INTEGER_DIGITS} are read)")
    return int(text)


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a repeated key is an error (json would silently keep the last value)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ResponseError(f"malformed JSON (key {key[:40]!r} appears twice in one object)")
        result[key] = value
    return result


def _open_untrusted(path: Path) -> int:
    """A read-only descriptor of a regular file; a symlink is followed only within its own folder."""
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        folder = Path(os.path.realpath(path.parent))
        if not target.is_relative_to(folder):
            raise ResponseError(f"symbolic link out of its folder, not followed (it points to {target})")
        path = target
    try:
        descriptor = os.open(path, os.O_RDONLY | _NO_FOLLOW | _NON_BLOCKING)
    except OSError as error:
        raise ResponseError(f"cannot read the file ({error.strerror or error})") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ResponseError("is not a regular file")
    return descriptor


def read_json_file(path: str | Path, max_bytes: int = MAX_RESPONSE_BYTES) -> Any:
    """Parse a JSON file that nobody vouches for: size-capped, UTF-8, json only, no symlink out of its folder."""
    descriptor = _open_untrusted(Path(path))
    try:
        with os.fdopen(descriptor, "rb") as stream:
            raw = stream.read(max_bytes + 1)
    except OSError as error:
        raise ResponseError(f"cannot read the file ({error.strerror or error})") from None
    if len(raw) > max_bytes:
        raise ResponseError(f"file is larger than {max_bytes} bytes; not read")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some editors write, is fine
    except UnicodeDecodeError as error:
        raise ResponseError(f"file is not UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise ResponseError("file is empty")
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_bounded_int,
                          object_pairs_hook=_object_without_duplicates)
    except ResponseError:
        raise
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
                            f"got {json_kind(data)}")
    missing = [field for field in ("quiz", "student", "answers", "submitted") if field not in data]
    if missing:
        raise ResponseError(f"missing field(s): {', '.join(missing)}")
    if not isinstance(data["quiz"], str):
        raise ResponseError(f"field 'quiz' must be text such as \"02\", not {json_kind(data['quiz'])}")
    unknown = ResponseError(f"unknown quiz {data['quiz'][:20]!r}")
    if not _UNIT_REFERENCE.fullmatch(data["quiz"]):  # get_unit would read any Unicode digit ("²")
        raise unknown
    try:
        data["quiz"] = get_unit(data["quiz"]).number
    except CourseError:
        raise unknown from None
    try:
        data["student"] = check_student_name(data["student"])
    except CourseError as error:
        raise ResponseError(f"field 'student': {error}") from None
    if not isinstance(data["answers"], dict):
        raise ResponseError("field 'answers' must be an object mapping question ids to answers, "
                            f"not {json_kind(data['answers'])}")
    if not isinstance(data["submitted"], str):
        raise ResponseError(f"field 'submitted' must be an ISO timestamp string, not {json_kind(data['submitted'])}")
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
