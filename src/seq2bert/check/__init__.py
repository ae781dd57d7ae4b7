"""Exercise checks for the notebooks: run a learner's function, explain mistakes, fall back.

    from seq2bert.check import exercises
    check = exercises("pytorch")          # or "tensorflow"
    masked_softmax = check.masked_softmax(masked_softmax)

A check returns the learner's function when it passes and the course's reference
implementation otherwise; it never raises, except under nbgrader (see check.nbgrader_mode). Exercises live in topic modules (masking, losses, decoding,
additive, ...) that register themselves; each unit's catalogue entry names its modules.
"""
from __future__ import annotations

from seq2bert.check.registry import all_exercises, exercise_names, register
from seq2bert.check.runner import CheckResult, ExerciseChecks, evaluate, exercises

__all__ = ["CheckResult", "ExerciseChecks", "all_exercises", "evaluate", "exercise_names", "exercises", "register"]
