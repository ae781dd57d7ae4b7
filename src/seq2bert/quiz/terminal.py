"""Taking a quiz in the terminal: ask, check at once, explain, and save the response at the end.

Input comes from a callable (default: the built-in `input`, looked up at call time so tests can
monkeypatch it or feed stdin). If input ends early (EOF), nothing is saved. In the after_submit
feedback mode (SEQ2BERT_QUIZ_FEEDBACK) the verdicts and explanations come after the response is
saved, and a learner who already submitted is not asked again.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Callable

from seq2bert.quiz.model import Question, Quiz
from seq2bert.quiz.responses import (
    DEFAULT_RESPONSE_DIR,
    check_student_name,
    make_response,
    response_filename,
    save_response,
)
from seq2bert.quiz.scoring import AnswerParseError, feedback_mode, give_feedback, parse_typed_answer
from seq2bert.units import CourseError

SKIP_WORD = "skip"
_HOW_TO_ANSWER = {
    "single": "one letter",
    "multiple": "every true letter, separated by commas",
    "numeric": "a number",
    "short": "a short answer",
}


def _wrap(text: str, indent: str = "") -> str:
    paragraphs = text.strip().split("\n")
    return "\n".join(textwrap.fill(p, width=88, initial_indent=indent, subsequent_indent=indent) if p.strip()
                     else "" for p in paragraphs)


def format_question(question: Question, number: int, total: int) -> str:
    """The question as the terminal shows it: header, prompt, choices."""
    header = f"Question {number}/{total} · {question.points:g} point{'s' if question.points != 1 else ''}" \
             f" · answer with {_HOW_TO_ANSWER[question.type]}"
    if question.type == "numeric" and question.unit:
        header += f" (in {question.unit})"
    lines = [header, _wrap(question.prompt)]
    lines += [textwrap.fill(f"{choice.id}) {choice.text}", width=88, initial_indent="   ", subsequent_indent="      ")
              for choice in question.choices]
    return "\n".join(lines)


def _ask_answer(question: Question, ask: Callable[[str], str], say: Callable[[str], Any]) -> Any:
    """Ask until the reply parses (or is 'skip', which returns None)."""
    while True:
        reply = ask("> ")
        if reply.strip().casefold() == SKIP_WORD:
            return None
        try:
            return parse_typed_answer(question, reply)
        except AnswerParseError as hint:
            say(f"  ? {hint} (or type '{SKIP_WORD}')")


def _ask_name(ask: Callable[[str], str], say: Callable[[str], Any]) -> str:
    while True:
        try:
            return check_student_name(ask("Your name: "))
        except CourseError as error:
            say(f"  ? {error}; please type your name")


def _verdict(question: Question, value: Any) -> tuple[str, float]:
    """What the learner is told about one answer (with the explanation), and the points earned."""
    if value is None:
        message, earned = "Skipped (0 points).", 0.0
    else:
        feedback = give_feedback(question, value)
        message, earned = feedback.message, feedback.earned
    return _wrap(message, "  ") + "\n" + _wrap("Why: " + question.explanation, "  ") + "\n", earned


def take_quiz(quiz: Quiz, name: str | None = None, out_dir: str | Path | None = None,
              ask: Callable[[str], str] | None = None, say: Callable[[str], Any] = print,
              feedback: str | None = None) -> Path | None:
    """Run `quiz` interactively; returns the saved response file, or None if input ended early.

    `feedback`: "immediate" or "after_submit"; None reads SEQ2BERT_QUIZ_FEEDBACK (default immediate).
    """
    later = feedback_mode(feedback) == "after_submit"
    ask = ask or (lambda prompt: input(prompt))
    folder = Path(out_dir if out_dir is not None else DEFAULT_RESPONSE_DIR)
    if folder.exists() and not folder.is_dir():
        raise CourseError(f"{folder} exists and is not a folder; choose another --out")
    created = not folder.exists()
    try:  # before any question, so no answers are lost to a folder that cannot be made
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CourseError(f"cannot create the folder {folder} for your answers ({error.strerror}); choose another --out")
    if name is not None:
        name = check_student_name(name)
    say(f"Quiz {quiz.unit}: {quiz.title}")
    when = "After you submit the last answer" if later else "After each answer"
    say(f"{len(quiz.questions)} questions, {quiz.max_score:g} points. {when} you see whether it "
        f"was right and why. Type '{SKIP_WORD}' to leave a question unanswered.\n")
    answers: dict[str, Any] = {}
    verdicts: list[str] = []
    earned = 0.0
    try:
        name = name or _ask_name(ask, say)
        earlier = folder / response_filename(quiz.unit, name)
        if later and earlier.exists():
            say(f"You already submitted this quiz ({earlier}); a submission is final.")
            return None
        for number, question in enumerate(quiz.questions, start=1):
            say(format_question(question, number, len(quiz.questions)))
            value = _ask_answer(question, ask, say)
            if value is not None:
                answers[question.id] = value
            verdict, points = _verdict(question, value)
            earned += points
            if later:
                verdicts.append(f"Question {number}:\n{verdict}")
                say("")
            else:
                say(verdict)
    except EOFError:
        say("\nInput ended before the quiz was finished; nothing was saved.")
        if created and not any(folder.iterdir()):
            folder.rmdir()  # leave no trace of an unfinished quiz
        return None
    score = f"Score: {round(earned, 6):g} / {quiz.max_score:g}"
    if not later:
        say(score)
    existed = (folder / response_filename(quiz.unit, name)).exists()
    path = save_response(make_response(quiz, name, answers), folder)
    say(f"{'Replaced your earlier answers in' if existed else 'Saved your answers to'} {path}")
    if later:
        for verdict in verdicts:
            say(verdict)
        say(score)
    return path
