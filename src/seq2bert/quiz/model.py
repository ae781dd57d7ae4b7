"""Quiz files: the dataclasses a quiz is made of, and the loader that validates a YAML file.

The format is documented in quizzes/FORMAT.md. Every problem found is reported as one line
naming the file, the question id and the field, so an author can fix them all in one pass.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from seq2bert.units import CourseError, course_root, get_unit

QUESTION_TYPES = ("single", "multiple", "numeric", "short")
MULTIPLE_SCORING = ("partial", "all_or_nothing")
# Grade-CSV columns that a question id must not shadow.
RESERVED_IDS = ("file", "student", "quiz", "score", "max_score", "error")
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
MAX_QUIZ_BYTES = 1_000_000

_COMMON_FIELDS = {"id", "type", "prompt", "points", "explanation"}
_TYPE_FIELDS = {
    "single": {"choices", "answer"},
    "multiple": {"choices", "answer", "scoring"},
    "numeric": {"answer", "tolerance", "unit"},
    "short": {"accept"},
}
# The fields an answer key may set for each type (they replace the quiz file's values).
KEY_FIELDS = {
    "single": ("answer",),
    "multiple": ("answer",),
    "numeric": ("answer", "tolerance"),
    "short": ("accept",),
}


class QuizFormatError(CourseError):
    """A quiz or key file breaks the format; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Choice:
    """One option of a single- or multiple-choice question."""

    id: str  # what an answer names ("a", "b", ... or an author's id)
    text: str  # what the learner reads


@dataclass(frozen=True)
class Accept:
    """One accepted short answer: a normalised literal, or a regular expression."""

    text: str  # the literal (already normalised) or the pattern
    regex: bool  # True: `text` must fullmatch the normalised answer (case-insensitive)


@dataclass(frozen=True)
class Question:
    """One quiz question; which fields matter depends on `type`."""

    id: str  # unique within the quiz; also a grade-CSV column
    type: str  # single | multiple | numeric | short
    prompt: str  # the question text
    points: float  # full marks for this question
    explanation: str  # shown after the learner answers
    choices: tuple[Choice, ...] = ()  # single/multiple only
    answer: Any = None  # single: choice id; multiple: tuple of ids; numeric: float
    scoring: str = "partial"  # multiple only: partial | all_or_nothing
    tolerance: float = 0.0  # numeric only: absolute tolerance
    unit: str = ""  # numeric only: unit shown after the prompt ("parameters")
    accept: tuple[Accept, ...] = ()  # short only

    def choice(self, choice_id: str) -> Choice:
        """The choice with this id (KeyError if there is none)."""
        for choice in self.choices:
            if choice.id == choice_id:
                return choice
        raise KeyError(choice_id)

    @property
    def choice_ids(self) -> tuple[str, ...]:
        return tuple(choice.id for choice in self.choices)


@dataclass(frozen=True)
class Quiz:
    """A unit's quiz: its questions in the order they are asked."""

    unit: str  # "01", "02", ...
    title: str  # shown above the questions
    questions: tuple[Question, ...]  # in order
    source: str = ""  # the file it was read from (for messages)

    def question(self, question_id: str) -> Question:
        """The question with this id (KeyError if there is none)."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(question.id for question in self.questions)

    @property
    def max_score(self) -> float:
        return float(sum(question.points for question in self.questions))

    def with_questions(self, questions: tuple[Question, ...]) -> Quiz:
        """A copy with other questions (used to apply an answer key)."""
        return replace(self, questions=questions)


def normalise_text(text: str) -> str:
    """Case-fold, strip, and collapse runs of whitespace to one space."""
    return " ".join(str(text).split()).casefold()


class Problems:
    """Collects problem lines that all start with the file name."""

    def __init__(self, source: str):
        self.source = source
        self.lines: list[str] = []

    def add(self, message: str, question: str | None = None, field: str | None = None) -> None:
        where = [self.source]
        if question is not None:
            where.append(f"question {question!r}")
        if field is not None:
            where.append(f"field {field!r}")
        self.lines.append(": ".join(where) + ": " + message)

    def raise_if_any(self) -> None:
        if self.lines:
            raise QuizFormatError(self.lines)


def read_yaml_file(path: Path, what: str) -> Any:
    """Read a (trusted, but possibly broken) YAML file with safe_load and clear errors."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path}: no such {what} file")
    if path.stat().st_size > MAX_QUIZ_BYTES:
        raise CourseError(f"{path}: the {what} file is larger than {MAX_QUIZ_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CourseError(f"{path}: the {what} file is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise CourseError(f"{path}: not valid YAML{where}: {problem}") from None


def is_json_number(value: Any) -> bool:
    """True for ints and floats (JSON and YAML numbers), False for booleans and everything else."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_number(value: Any) -> float | None:
    """`value` as a finite float; None for non-numbers, NaN, ±inf and integers beyond float range.

    The one place where numbers read from untrusted files become floats: `float()` of an integer
    with more than 308 digits raises OverflowError, and math.isfinite() of one does too.
    """
    if not is_json_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _is_number(value: Any) -> bool:
    return finite_number(value) is not None


def short_repr(value: Any, limit: int = 40) -> str:
    """repr() cut to `limit` characters, safe for huge integers and deep nesting."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # int beyond sys.get_int_max_str_digits(); nesting
        text = f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_id(value: Any) -> str | None:
    """Choice ids may be written as strings or integers; anything else is not an id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _parse_choices(raw: Any, qid: str, problems: Problems) -> tuple[Choice, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        problems.add("must be a list of at least two choices", qid, "choices")
        return ()
    choices = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            # Plain strings get letters a, b, c, ... in order.
            if index >= 26:
                problems.add("more than 26 unlabelled choices; give each an id", qid, "choices")
                return ()
            choices.append(Choice(id=chr(ord("a") + index), text=item))
        elif isinstance(item, dict) and set(item) == {"id", "text"} and isinstance(item["text"], str):
            choice_id = _as_id(item["id"])
            if choice_id is None:
                problems.add(f"choice {index + 1} has an empty or non-text id", qid, "choices")
                continue
            choices.append(Choice(id=choice_id, text=item["text"]))
        elif isinstance(item, dict) and len(item) == 1 and not {"id", "text"} & set(item):
            problems.add(f"choice {index + 1} was read as a mapping: an unquoted ': ' inside a choice makes "
                         f"YAML split it; put the text in quotes", qid, "choices")
        else:
            problems.add(f"choice {index + 1} must be a string or a mapping with exactly 'id' and 'text'",
                         qid, "choices")
    ids = [choice.id for choice in choices]
    for choice_id in sorted({i for i in ids if ids.count(i) > 1}):
        problems.add(f"choice id {choice_id!r} is used more than once", qid, "choices")
    return tuple(choices)


def parse_answer_ids(raw: Any, question_type: str, choices: tuple[Choice, ...], qid: str,
                      problems: Problems, field: str = "answer") -> Any:
    """A single answer (one id) or a multiple answer (tuple of ids), checked against the choices."""
    known = [choice.id for choice in choices]
    if question_type == "single":
        choice_id = _as_id(raw)
        if choice_id is None:
            problems.add("must be one choice id (write yes/no/on/off in quotes)", qid, field)
            return None
        if known and choice_id not in known:
            problems.add(f"{choice_id!r} is not among the choices ({', '.join(known)})", qid, field)
        return choice_id
    if not isinstance(raw, list) or not raw:
        problems.add("must be a non-empty list of choice ids", qid, field)
        return None
    ids = []
    for item in raw:
        choice_id = _as_id(item)
        if choice_id is None:
            problems.add(f"{short_repr(item)} is not a choice id", qid, field)
        elif known and choice_id not in known:
            problems.add(f"{choice_id!r} is not among the choices ({', '.join(known)})", qid, field)
        elif choice_id in ids:
            problems.add(f"{choice_id!r} is listed twice", qid, field)
        else:
            ids.append(choice_id)
    return tuple(ids)


def parse_accept(raw: Any, qid: str, problems: Problems, field: str = "accept") -> tuple[Accept, ...]:
    """The accepted short answers: strings (normalised) or {regex: PATTERN} mappings."""
    if not isinstance(raw, list) or not raw:
        problems.add("must be a non-empty list of accepted answers", qid, field)
        return ()
    accepted = []
    for index, item in enumerate(raw):
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            text = normalise_text(str(item))
            if not text:
                problems.add(f"entry {index + 1} is empty", qid, field)
                continue
            accepted.append(Accept(text=text, regex=False))
        elif isinstance(item, dict) and set(item) == {"regex"} and isinstance(item["regex"], str):
            try:
                re.compile(item["regex"])
            except re.error as error:
                problems.add(f"entry {index + 1} is not a valid regular expression ({error})", qid, field)
                continue
            accepted.append(Accept(text=item["regex"], regex=True))
        else:
            problems.add(f"entry {index + 1} must be a string or a mapping {{regex: PATTERN}}", qid, field)
    return tuple(accepted)


def parse_numeric_field(raw: Any, qid: str, field: str, problems: Problems, minimum: float | None = None) -> float:
    """A finite number (ints and floats; booleans and strings are rejected)."""
    if not _is_number(raw):
        problems.add(f"must be a finite number, not {short_repr(raw)}", qid, field)
        return 0.0
    if minimum is not None and raw < minimum:
        problems.add(f"must be at least {minimum}, not {short_repr(raw)}", qid, field)
    return float(raw)


def _parse_question(raw: Any, index: int, problems: Problems) -> Question | None:
    if not isinstance(raw, dict):
        problems.add(f"question {index + 1} must be a mapping of fields")
        return None
    qid = raw.get("id")
    if not isinstance(qid, str) or not ID_PATTERN.match(qid):
        problems.add(f"question {index + 1}: field 'id' must be lower_snake_case text "
                     f"(a letter, then letters, digits or _; at most 48), not {short_repr(qid)}")
        return None
    if qid in RESERVED_IDS:
        problems.add(f"id is reserved for a grade-CSV column ({', '.join(RESERVED_IDS)})", qid, "id")
    question_type = raw.get("type")
    if question_type not in QUESTION_TYPES:
        problems.add(f"must be one of {', '.join(QUESTION_TYPES)}, not {short_repr(question_type)}", qid, "type")
        return None
    allowed = _COMMON_FIELDS | _TYPE_FIELDS[question_type]
    for field in sorted(set(map(str, raw)) - allowed):
        problems.add(f"unknown field for a {question_type} question (allowed: {', '.join(sorted(allowed))})",
                     qid, field)
    for field in ("prompt", "explanation"):
        if not isinstance(raw.get(field), str) or not raw[field].strip():
            problems.add("is missing or empty", qid, field)
    points = parse_numeric_field(raw.get("points", 1), qid, "points", problems)
    if points <= 0 and _is_number(raw.get("points", 1)):
        problems.add("must be positive", qid, "points")
    fields: dict[str, Any] = {}
    if question_type in ("single", "multiple"):
        fields["choices"] = _parse_choices(raw.get("choices"), qid, problems)
        if "answer" not in raw:
            problems.add("is missing", qid, "answer")
        else:
            fields["answer"] = parse_answer_ids(raw["answer"], question_type, fields["choices"], qid, problems)
        if question_type == "multiple":
            fields["scoring"] = raw.get("scoring", "partial")
            if fields["scoring"] not in MULTIPLE_SCORING:
                problems.add(f"must be one of {', '.join(MULTIPLE_SCORING)}", qid, "scoring")
    elif question_type == "numeric":
        if "answer" not in raw:
            problems.add("is missing", qid, "answer")
        else:
            fields["answer"] = parse_numeric_field(raw["answer"], qid, "answer", problems)
        fields["tolerance"] = parse_numeric_field(raw.get("tolerance", 0), qid, "tolerance", problems, minimum=0)
        unit = raw.get("unit", "")
        if not isinstance(unit, str):
            problems.add("must be text", qid, "unit")
            unit = ""
        fields["unit"] = unit
    else:
        if "accept" not in raw:
            problems.add("is missing", qid, "accept")
        else:
            fields["accept"] = parse_accept(raw["accept"], qid, problems)
    return Question(id=qid, type=question_type, prompt=str(raw.get("prompt", "")).strip(), points=points,
                    explanation=str(raw.get("explanation", "")).strip(), **fields)


def parse_quiz(data: Any, source: str = "<quiz>") -> Quiz:
    """Validate parsed YAML and build a Quiz; raises QuizFormatError listing every problem."""
    problems = Problems(source)
    if not isinstance(data, dict):
        problems.add("the file must be a mapping with unit, title and questions")
        problems.raise_if_any()
    for field in sorted(set(map(str, data)) - {"unit", "title", "questions"}):
        problems.add(f"unknown top-level field {field!r} (allowed: unit, title, questions)")
    unit = ""
    try:
        unit = get_unit(data.get("unit", "")).number
    except CourseError as error:
        problems.add(f"field 'unit': {error}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.add("field 'title' is missing or empty")
        title = ""
    raw_questions = data.get("questions")
    questions: list[Question] = []
    if not isinstance(raw_questions, list) or not raw_questions:
        problems.add("field 'questions' must be a non-empty list")
    else:
        seen: set[str] = set()
        for index, raw in enumerate(raw_questions):
            question = _parse_question(raw, index, problems)
            if question is None:
                continue
            if question.id in seen:
                problems.add(f"duplicate id (question {index + 1} reuses it)", question.id, "id")
            seen.add(question.id)
            questions.append(question)
    problems.raise_if_any()
    return Quiz(unit=unit, title=title.strip(), questions=tuple(questions), source=source)


def load_quiz_file(path: str | Path) -> Quiz:
    """Read and validate one quiz YAML file."""
    path = Path(path)
    return parse_quiz(read_yaml_file(path, "quiz"), source=str(path))


def quiz_path(unit: str | int) -> Path:
    """Where the quiz of a unit lives in this checkout."""
    return get_unit(unit).quiz(course_root())


def load_quiz(unit_or_path: str | int | Path) -> Quiz:
    """Load a quiz by unit ("02", 2, "02_bahdanau_attention") or by file path."""
    text = str(unit_or_path)
    if isinstance(unit_or_path, Path) or text.endswith((".yml", ".yaml")):
        return load_quiz_file(Path(text))
    path = quiz_path(text)
    if not path.is_file():
        raise CourseError(f"unit {get_unit(text).number} has no quiz file yet (expected {path})")
    quiz = load_quiz_file(path)
    if quiz.unit != get_unit(text).number:
        raise CourseError(f"{path}: says unit {quiz.unit} but is the quiz file of unit {get_unit(text).number}")
    return quiz
