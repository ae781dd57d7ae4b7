"""Scoring one answer, checking an answer's type, and parsing what a learner typed.

Multiple-select questions score `partial` by default: with C the correct choices and S the
selected ones, a learner earns points * max(0, (|S ∩ C| - |S \\ C|) / |C|), so each wrong tick
cancels a right one and ticking everything earns nothing unless everything is right.
`scoring: all_or_nothing` gives full points only for exactly S == C.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

from seq2bert.quiz.model import Question, finite_number, is_json_number, normalise_text
from seq2bert.units import CourseError

MAX_SHORT_CHARS = 1000
# Absorbs float round-off (0.1 + 0.2) when a tolerance is 0.
_RELATIVE_SLACK = 1e-9
# When learners see feedback (notebook and terminal); an instructor sets it once for a workshop.
FEEDBACK_ENV = "SEQ2BERT_QUIZ_FEEDBACK"
FEEDBACK_MODES = ("immediate", "after_submit")  # after each answer | after submitting the quiz


def feedback_mode(mode: str | None = None) -> str:
    """`mode`, or else the SEQ2BERT_QUIZ_FEEDBACK environment variable, or else "immediate"."""
    chosen = mode if mode is not None else os.environ.get(FEEDBACK_ENV, "").strip() or "immediate"
    if chosen not in FEEDBACK_MODES:
        source = "feedback=" if mode is not None else f"{FEEDBACK_ENV}="
        raise CourseError(f"{source}{chosen!r} is not a quiz feedback mode; use one of: {', '.join(FEEDBACK_MODES)}")
    return chosen


class AnswerParseError(ValueError):
    """What a learner typed cannot be read as an answer to this question; str() is the hint."""


@dataclass(frozen=True)
class Feedback:
    """The result of checking one answer."""

    earned: float  # points earned
    points: float  # points available
    message: str  # "Correct.", "Partly right ...", "Not quite ..."

    @property
    def correct(self) -> bool:
        return self.earned >= self.points


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words ("text", "a list", ...), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_json_number(value):
        return "a number"
    kinds = {str: "text", list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def _numeric_problem(value: Any) -> str | None:
    if not is_json_number(value):
        return f"expected a number, got {json_kind(value)}"
    if finite_number(value) is not None:
        return None
    if isinstance(value, int):
        return "the integer is too large for a numeric answer (more than 308 digits)"
    if value != value:
        return "NaN is not a numeric answer"
    return "the number is too large for a numeric answer (beyond ±1.8e308)"


def check_answer_value(question: Question, value: Any) -> str | None:
    """Why `value` (from a JSON response) is not a valid answer to `question`, or None if it is."""
    if value is None:
        return None  # unanswered
    if question.type == "single":
        if not isinstance(value, str):
            return f"expected one choice id (text), got {json_kind(value)}"
        if value not in question.choice_ids:
            return f"{value[:40]!r} is not a choice ({', '.join(question.choice_ids)})"
    elif question.type == "multiple":
        if not isinstance(value, list):
            return f"expected a list of choice ids (text), got {json_kind(value)}"
        for item in value:
            if not isinstance(item, str):
                return f"expected a list of choice ids (text), got a list holding {json_kind(item)}"
            if item not in question.choice_ids:
                return f"{item[:40]!r} is not a choice ({', '.join(question.choice_ids)})"
        if len(set(value)) != len(value):
            return "lists a choice more than once"
    elif question.type == "numeric":
        return _numeric_problem(value)
    elif question.type == "short":
        if not isinstance(value, str):
            return f"expected text, got {json_kind(value)}"
        if len(value) > MAX_SHORT_CHARS:
            return f"answer is longer than {MAX_SHORT_CHARS} characters"
    return None


def _short_matches(question: Question, value: str) -> bool:
    text = normalise_text(value)
    for accepted in question.accept:
        if accepted.regex:
            if re.fullmatch(accepted.text, text, flags=re.IGNORECASE):
                return True
        elif text == accepted.text:
            return True
    return False


def answer_fraction(question: Question, value: Any) -> float:
    """The fraction of the question's points that a valid answer earns (0 when unanswered)."""
    if value is None:
        return 0.0
    if question.type == "single":
        return 1.0 if value == question.answer else 0.0
    if question.type == "multiple":
        correct, selected = set(question.answer), set(value)
        if question.scoring == "all_or_nothing":
            return 1.0 if selected == correct else 0.0
        return max(0.0, (len(selected & correct) - len(selected - correct)) / len(correct))
    if question.type == "numeric":
        slack = question.tolerance + _RELATIVE_SLACK * max(1.0, abs(question.answer))
        return 1.0 if abs(finite_number(value) - question.answer) <= slack else 0.0
    return 1.0 if _short_matches(question, value) else 0.0


def score_answer(question: Question, value: Any) -> float:
    """Points earned by a valid answer (see the module docstring for multiple-select)."""
    return round(question.points * answer_fraction(question, value), 6)


def describe_answer(question: Question) -> str:
    """The correct answer in words, for feedback."""
    if question.type == "single":
        return f"{question.answer}) {question.choice(question.answer).text}"
    if question.type == "multiple":
        return "; ".join(f"{cid}) {question.choice(cid).text}" for cid in question.answer)
    if question.type == "numeric":
        answer = f"{question.answer:g}"
        if question.tolerance:
            answer += f" (± {question.tolerance:g})"
        return f"{answer} {question.unit}".strip()
    literal = [accepted.text for accepted in question.accept if not accepted.regex]
    return " / ".join(literal) if literal else "(see the explanation)"


def give_feedback(question: Question, value: Any) -> Feedback:
    """Score a valid answer and say so in a sentence."""
    earned = score_answer(question, value)
    if earned >= question.points:
        message = "Correct."
    elif earned > 0:
        unit = "point" if question.points == 1 else "points"
        message = (f"Partly right ({earned:.3g} of {question.points:g} {unit}). "
                   f"The answer is: {describe_answer(question)}")
    else:
        message = f"Not quite. The answer is: {describe_answer(question)}"
    return Feedback(earned=earned, points=question.points, message=message)


def _split_choice_ids(text: str) -> list[str]:
    parts = [part for part in re.split(r"[\s,;]+", text.strip()) if part]
    return [part.rstrip(")").strip() for part in parts]


def parse_typed_answer(question: Question, text: str) -> Any:
    """Turn what a learner typed into an answer value; AnswerParseError carries a hint."""
    text = str(text).strip()
    if not text:
        raise AnswerParseError("please type an answer")
    if question.type == "single":
        choice_id = text.rstrip(")").strip()
        matches = [cid for cid in question.choice_ids if cid.casefold() == choice_id.casefold()]
        if not matches:
            raise AnswerParseError(f"type one of: {', '.join(question.choice_ids)}")
        return matches[0]
    if question.type == "multiple":
        by_fold = {cid.casefold(): cid for cid in question.choice_ids}
        chosen = []
        for part in _split_choice_ids(text):
            if part.casefold() not in by_fold:
                raise AnswerParseError(f"{part!r} is not a choice; type the ids of every true choice, "
                                       f"separated by commas, e.g. {', '.join(question.choice_ids[:2])}")
            if by_fold[part.casefold()] not in chosen:
                chosen.append(by_fold[part.casefold()])
        return chosen
    if question.type == "numeric":
        if "," in text:
            raise AnswerParseError("type a plain number: use a dot for decimals and no thousands separators")
        try:
            value = float(text.replace("_", ""))
        except ValueError:
            raise AnswerParseError("type a number, e.g. 42 or 0.25 or 1e-3") from None
        if not math.isfinite(value):
            raise AnswerParseError("type a finite number")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if len(text) > MAX_SHORT_CHARS:
        raise AnswerParseError(f"keep the answer under {MAX_SHORT_CHARS} characters")
    return text
