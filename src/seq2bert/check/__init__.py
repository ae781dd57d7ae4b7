"""Exercise checks for the notebooks: run a learner's function, explain mistakes, fall back.

    from seq2bert.check import exercises
    check = exercises("pytorch")          # or "tensorflow"
    masked_softmax = check.masked_softmax(masked_softmax)

A check never raises; it returns the learner's function when it passes and the reference
implementation (seq2bert.torch.ops / seq2bert.tf.ops) otherwise.
"""
from __future__ import annotations

from seq2bert.check.runner import EXERCISES, CheckResult, ExerciseChecks, evaluate, exercise_names, exercises

__all__ = ["EXERCISES", "CheckResult", "ExerciseChecks", "evaluate", "exercise_names", "exercises"]
