"""The quiz as an ipywidgets form in a notebook: a widget per question, Check buttons, and Save.

Feedback modes (an instructor sets one for a workshop with SEQ2BERT_QUIZ_FEEDBACK, or per form):
- immediate (default): each question has a Check button; checking shows whether the answer is
  right and the explanation, and locks that answer. Saving shows the score and locks every
  saved answer, so no answer can be changed after its result was seen.
- after_submit: no Check buttons; "Submit my answers" writes the response file once, then locks
  the form and shows every question's feedback and explanation. A second submission under the
  same name is refused.
Nothing here needs a browser: the callbacks are plain methods (`check`, `save`) that tests call
directly, and the form builds without error when a notebook runs headless under nbval.
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from seq2bert.quiz.model import Question, Quiz, load_quiz
from seq2bert.quiz.responses import DEFAULT_RESPONSE_DIR, make_response, response_filename, save_response
from seq2bert.quiz.scoring import (
    AnswerParseError,
    Feedback,
    describe_answer,
    feedback_mode,
    give_feedback,
    parse_typed_answer,
    score_answer,
)
from seq2bert.units import CourseError

_GOOD, _PARTIAL, _BAD, _HINT = "#1a7f37", "#9a6700", "#cf222e", "#57606a"


def text_to_html(text: str) -> str:
    """Escape text for an HTML widget, keeping `code` spans and line breaks."""
    escaped = html.escape(text.strip())
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return escaped.replace("\n", "<br>")


def _coloured(text: str, colour: str) -> str:
    return f'<div style="color:{colour}">{text}</div>'


class QuizForm:
    """An ipywidgets form for one quiz; `widget` is what a notebook displays."""

    def __init__(self, quiz: Quiz, save_dir: str | Path | None = None, name: str = "", feedback: str | None = None):
        self.quiz = quiz
        self.mode = feedback_mode(feedback)
        self.save_dir = Path(save_dir if save_dir is not None else DEFAULT_RESPONSE_DIR)
        self.name = widgets.Text(value=name, description="Your name", placeholder="as your instructor knows you")
        self.inputs: dict[str, widgets.Widget] = {}
        self.ticks: dict[str, dict[str, widgets.Checkbox]] = {}  # multiple: question id -> choice id -> box
        self.check_buttons: dict[str, widgets.Button] = {}  # immediate mode only
        self.feedback: dict[str, widgets.HTMLMath] = {}
        self.locked: dict[str, Any] = {}  # question id -> the answer that can no longer change (None: blank)
        self.submitted = False  # after_submit mode: the response file was written
        how = ("Check an answer to see whether it is right and why; a checked answer is locked."
               if self.mode == "immediate" else
               "You see whether each answer was right, and why, after you submit. A submission is final.")
        boxes = [widgets.HTML(f"<h3>Quiz {quiz.unit}: {html.escape(quiz.title)}</h3><p>{how}</p>"), self.name]
        for number, question in enumerate(quiz.questions, start=1):
            boxes.append(self._question_box(question, number))
        label = "Save my answers" if self.mode == "immediate" else "Submit my answers"
        self.save_button = widgets.Button(description=label, button_style="primary",
                                          layout=widgets.Layout(width="auto"))
        self.save_button.on_click(lambda _button: self.save())
        self.status = widgets.HTML()
        boxes += [self.save_button, self.status]
        self.widget = widgets.VBox(boxes)

    def _input_for(self, question: Question) -> widgets.Widget:
        if question.type == "single":
            return widgets.RadioButtons(options=[(f"{c.id}) {c.text}", c.id) for c in question.choices], value=None,
                                        layout=widgets.Layout(width="auto"))
        if question.type == "multiple":
            self.ticks[question.id] = {c.id: widgets.Checkbox(value=False, indent=False,
                                                             layout=widgets.Layout(width="2em"))
                                       for c in question.choices}
            return widgets.VBox([widgets.HBox([self.ticks[question.id][c.id], widgets.HTMLMath(text_to_html(
                f"{c.id}) {c.text}"))]) for c in question.choices])
        hint = f"a number ({question.unit})" if question.type == "numeric" and question.unit else \
            "a number" if question.type == "numeric" else "your answer"
        return widgets.Text(placeholder=hint, layout=widgets.Layout(width="24em"))

    def _question_box(self, question: Question, number: int) -> widgets.VBox:
        points = f"{question.points:g} point{'s' if question.points != 1 else ''}"
        kind = " · tick every true statement" if question.type == "multiple" else ""
        prompt = widgets.HTMLMath(f"<b>{number}.</b> <i>({points}{kind})</i><br>{text_to_html(question.prompt)}")
        self.inputs[question.id] = self._input_for(question)
        self.feedback[question.id] = widgets.HTMLMath()
        parts = [prompt, self.inputs[question.id]]
        if self.mode == "immediate":
            button = widgets.Button(description="Check", layout=widgets.Layout(width="6em"))
            button.on_click(lambda _button, qid=question.id: self.check(qid))
            self.check_buttons[question.id] = button
            parts.append(button)
        return widgets.VBox([*parts, self.feedback[question.id]], layout=widgets.Layout(margin="0 0 1em 0"))

    def answer_widgets(self, question_id: str) -> list[widgets.Widget]:
        """The widgets a learner changes to answer this question."""
        if question_id in self.ticks:
            return list(self.ticks[question_id].values())
        return [self.inputs[question_id]]

    def lock(self, question_id: str, value: Any) -> None:
        """Freeze one answer at `value`: its widgets and its Check button are disabled, and Save uses `value`."""
        for widget in [*self.answer_widgets(question_id), self.check_buttons.get(question_id)]:
            if widget is not None:
                widget.disabled = True
        self.locked.setdefault(question_id, value)

    def _show_feedback(self, question: Question, value: Any) -> Feedback | None:
        if value is None:
            feedback, note = None, _coloured("Not answered. The answer is: "
                                             + text_to_html(describe_answer(question)), _BAD)
        else:
            feedback = give_feedback(question, value)
            colour = _GOOD if feedback.correct else _PARTIAL if feedback.earned > 0 else _BAD
            note = _coloured(text_to_html(feedback.message), colour)
        self.feedback[question.id].value = note + f"<div>{text_to_html(question.explanation)}</div>"
        return feedback

    def read_answer(self, question_id: str) -> Any:
        """The answer currently entered (None when blank); AnswerParseError for unreadable text."""
        question = self.quiz.question(question_id)
        if question.type == "multiple":
            chosen = [cid for cid, box in self.ticks[question_id].items() if box.value]
            return chosen or None
        value = self.inputs[question_id].value
        if question.type == "single":
            return value
        if not str(value).strip():
            return None
        return parse_typed_answer(question, value)

    def check(self, question_id: str) -> Feedback | None:
        """Show feedback and the explanation for one question and lock its answer (the Check button's callback)."""
        question = self.quiz.question(question_id)
        if question_id in self.locked:  # feedback is already shown; the answer stays as it was
            value = self.locked[question_id]
            return give_feedback(question, value) if value is not None else None
        if self.mode != "immediate":
            self.feedback[question_id].value = _coloured("Feedback comes after you submit.", _HINT)
            return None
        try:
            value = self.read_answer(question_id)
        except AnswerParseError as hint:
            self.feedback[question_id].value = _coloured(f"Cannot read that: {html.escape(str(hint))}.", _HINT)
            return None
        if value is None:
            self.feedback[question_id].value = _coloured("Answer first, then check.", _HINT)
            return None
        self.lock(question_id, value)
        return self._show_feedback(question, value)

    def save(self) -> Path | None:
        """Write the response file (the Save/Submit button's callback); returns its path or None."""
        if self.submitted:
            return None
        verb = "saved" if self.mode == "immediate" else "submitted"
        answers, unreadable = {}, []
        for question in self.quiz.questions:
            try:
                value = self.locked[question.id] if question.id in self.locked else self.read_answer(question.id)
            except AnswerParseError as hint:
                unreadable.append(f"question {self.quiz.ids.index(question.id) + 1}: {hint}")
                continue
            if value is not None:
                answers[question.id] = value
        if unreadable:
            self.status.value = _coloured(f"Not {verb}. " + html.escape("; ".join(unreadable)), _BAD)
            return None
        if not answers:
            self.status.value = _coloured(f"Not {verb}: answer at least one question first.", _BAD)
            return None
        try:
            response = make_response(self.quiz, self.name.value, answers)
            target = self.save_dir / response_filename(self.quiz.unit, response["student"])
            if self.mode == "after_submit" and target.exists():
                raise CourseError(f"answers under this name were already submitted ({target}); a submission is final")
            path = save_response(response, self.save_dir)
        except (CourseError, OSError) as error:
            self.status.value = _coloured(f"Not {verb}: {html.escape(str(error))}.", _BAD)
            return None
        self.name.disabled = True  # the file is named after the learner
        for question_id, value in answers.items():
            self.lock(question_id, value)
        if self.mode == "after_submit":
            self.submitted = True
            self.save_button.disabled = True
            for question in self.quiz.questions:
                self.lock(question.id, None)
                self._show_feedback(question, answers.get(question.id))
        total = sum(score_answer(self.quiz.question(qid), value) for qid, value in answers.items())
        self.status.value = _coloured(f"{verb.capitalize()} {len(answers)} of {len(self.quiz.questions)} answers to "
                                      f"<code>{html.escape(str(path))}</code> · score {round(total, 6):g} / "
                                      f"{self.quiz.max_score:g}", _GOOD)
        return path

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def show_quiz(unit: str | int, save_dir: str | Path | None = None, name: str = "", feedback: str | None = None) -> None:
    """Display the quiz of `unit` as a form; answers are saved to `save_dir` (default ./quiz_responses).

    `feedback` is "immediate" or "after_submit"; None reads SEQ2BERT_QUIZ_FEEDBACK (default immediate).
    """
    from IPython.display import display

    display(QuizForm(load_quiz(unit), save_dir=save_dir, name=name, feedback=feedback).widget)
