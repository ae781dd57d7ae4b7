"""Answer keys kept outside the repository: loading one over a quiz, and writing a template.

A key is a YAML file `{quiz: "02", answers: {question_id: {answer|tolerance|accept: ...}}}`;
each listed field replaces the quiz file's value for that question (see quizzes/FORMAT.md).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from seq2bert.quiz.model import (
    KEY_FIELDS,
    Problems,
    Question,
    Quiz,
    parse_accept,
    parse_answer_ids,
    parse_numeric_field,
    read_yaml_file,
)
from seq2bert.units import CourseError, get_unit


def _override(question: Question, raw: Any, problems: Problems) -> Question:
    qid = question.id
    if not isinstance(raw, dict) or not raw:
        problems.add(f"must be a mapping with some of: {', '.join(KEY_FIELDS[question.type])}", qid)
        return question
    changes: dict[str, Any] = {}
    for field, value in raw.items():
        if field not in KEY_FIELDS[question.type]:
            problems.add(f"a key cannot set this for a {question.type} question "
                         f"(allowed: {', '.join(KEY_FIELDS[question.type])})", qid, str(field))
        elif field == "answer" and question.type in ("single", "multiple"):
            changes["answer"] = parse_answer_ids(value, question.type, question.choices, qid, problems)
        elif field == "answer":
            changes["answer"] = parse_numeric_field(value, qid, "answer", problems)
        elif field == "tolerance":
            changes["tolerance"] = parse_numeric_field(value, qid, "tolerance", problems, minimum=0)
        else:
            changes["accept"] = parse_accept(value, qid, problems)
    return replace(question, **changes)


def apply_key(quiz: Quiz, data: Any, source: str = "<key>") -> Quiz:
    """The quiz with the key's answers in place of its own; QuizFormatError lists every problem."""
    problems = Problems(source)
    if not isinstance(data, dict):
        problems.add("a key must be a mapping with 'quiz' and 'answers'")
        problems.raise_if_any()
    for field in sorted(set(map(str, data)) - {"quiz", "answers"}):
        problems.add(f"unknown top-level field {field!r} (allowed: quiz, answers)")
    try:
        key_unit = get_unit(data.get("quiz", "")).number
        if key_unit != quiz.unit:
            problems.add(f"field 'quiz': this key is for quiz {key_unit}, not quiz {quiz.unit}")
    except CourseError as error:
        problems.add(f"field 'quiz': {error}")
    answers = data.get("answers")
    if not isinstance(answers, dict) or not answers:
        problems.add("field 'answers' must be a non-empty mapping of question ids")
        problems.raise_if_any()
    known = set(quiz.ids)
    for qid in answers:
        if qid not in known:
            problems.add(f"unknown question id (quiz {quiz.unit} has: {', '.join(quiz.ids)})", str(qid))
    questions = tuple(_override(q, answers[q.id], problems) if q.id in answers else q for q in quiz.questions)
    problems.raise_if_any()
    return quiz.with_questions(questions)


def load_key(quiz: Quiz, path: str | Path) -> Quiz:
    """Read an answer-key file and apply it to `quiz`."""
    return apply_key(quiz, read_yaml_file(Path(path), "answer key"), source=str(path))


def key_unit(path: str | Path) -> str:
    """The unit number an answer-key file is for (to pick the quiz before applying it)."""
    data = read_yaml_file(Path(path), "answer key")
    if not isinstance(data, dict) or "quiz" not in data:
        raise CourseError(f"{path}: field 'quiz' is missing (a key starts with quiz: \"02\")")
    try:
        return get_unit(data["quiz"]).number
    except CourseError as error:
        raise CourseError(f"{path}: field 'quiz': {error}") from None


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6).strip()
    return text[:-3].strip() if text.endswith("...") else text


def key_fields(question: Question) -> dict[str, Any]:
    """The fields of `question` a key can override, as they would be written in YAML."""
    if question.type in ("single", "numeric"):
        fields: dict[str, Any] = {"answer": question.answer}
        if question.type == "numeric":
            fields["tolerance"] = question.tolerance
        return fields
    if question.type == "multiple":
        return {"answer": list(question.answer)}
    return {"accept": [{"regex": a.text} if a.regex else a.text for a in question.accept]}


def key_template(quiz: Quiz) -> str:
    """A YAML answer key holding the quiz's current answers, one commented entry per question."""
    lines = [
        f"# Answer key for quiz {quiz.unit}: {quiz.title}",
        "# Keep this file outside the repository and edit the answers; grade with",
        "#   seq2bert quiz grade responses/ --key THIS_FILE --csv grades.csv",
        "# Each field listed replaces the quiz file's value; questions left out keep it.",
        f"quiz: {_flow(quiz.unit)}",
        "answers:",
    ]
    for question in quiz.questions:
        prompt = " ".join(question.prompt.split())
        lines.append(f"  # ({question.type}) {prompt[:90]}{'…' if len(prompt) > 90 else ''}")
        lines.append(f"  {question.id}:")
        for field, value in key_fields(question).items():
            lines.append(f"    {field}: {_flow(value)}")
    return "\n".join(lines) + "\n"
