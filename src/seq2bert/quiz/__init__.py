"""Unit quizzes: the YAML format, scoring, terminal and notebook front ends, and batch grading.

`show_quiz` imports ipywidgets only when called, so grading from the command line stays light.
"""
from __future__ import annotations

from pathlib import Path

from seq2bert.quiz.grading import FileGrade, GradeBatch, collect_response_paths, grade_files, grades_csv
from seq2bert.quiz.key import apply_key, key_template, load_key
from seq2bert.quiz.model import Choice, Question, Quiz, QuizFormatError, load_quiz, load_quiz_file, parse_quiz
from seq2bert.quiz.responses import ResponseError, make_response, read_response, save_response
from seq2bert.quiz.scoring import AnswerParseError, Feedback, give_feedback, parse_typed_answer, score_answer
from seq2bert.quiz.terminal import take_quiz

__all__ = [
    "AnswerParseError", "Choice", "Feedback", "FileGrade", "GradeBatch", "Question", "Quiz", "QuizFormatError",
    "ResponseError", "apply_key", "collect_response_paths", "give_feedback", "grade_files", "grades_csv",
    "key_template", "load_key", "load_quiz", "load_quiz_file", "make_response", "parse_quiz",
    "parse_typed_answer", "read_response", "save_response", "score_answer", "show_quiz", "take_quiz",
]


def show_quiz(unit: str | int, save_dir: str | Path | None = None, name: str = "", feedback: str | None = None) -> None:
    """Display the quiz of `unit` as an ipywidgets form (feedback modes: seq2bert.quiz.widget)."""
    from seq2bert.quiz.widget import show_quiz as show

    show(unit, save_dir=save_dir, name=name, feedback=feedback)
